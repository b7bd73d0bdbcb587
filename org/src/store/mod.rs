//! The Information Store (MSExchangeIS): mailbox stores and local delivery.

pub mod mailbox_store;
