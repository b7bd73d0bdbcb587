//! The System Attendant (MSExchangeSA): the Recipient Update Service that stamps e-mail
//! addresses on new recipients, and the offline address book generator.

pub mod oab;
pub mod oal_generation;
pub mod recipient_update_service;
