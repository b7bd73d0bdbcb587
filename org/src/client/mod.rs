//! The clients of the organization as Exchange sees them. Outlook 2003's cached mode
//! keeps an offline address book, chosen and updated here.

pub mod offline_address_book;
