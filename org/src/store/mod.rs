//! The Information Store (MSExchangeIS): the service, its mailbox stores and local
//! delivery, and its public store.

pub mod backup;
pub mod disk_load;
pub mod information_store;
pub mod mailbox_store;
pub mod move_mailbox;
pub mod online_maintenance;
pub mod public_stores;
pub mod transaction_log;
