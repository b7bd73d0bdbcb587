//! The System Attendant (MSExchangeSA): the Recipient Update Service that stamps e-mail
//! addresses on new recipients. The offline address book generation comes here next.

pub mod recipient_update_service;
