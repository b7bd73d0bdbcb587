//! SMTP transport (SMTPSVC): the protocol, the categorizer, advanced queuing with its
//! queue directory, delivery status notifications, connector address spaces, DNS, and
//! the mail hosts beyond the organization.

pub mod address_space;
pub mod advanced_queuing;
pub mod categorizer;
pub mod dns;
pub mod dsn;
pub mod internet_host;
pub mod internet_sender;
pub mod mailroot;
pub mod queue_directory;
pub mod smtp_filters;
pub mod smtp_protocol;
pub mod smtpsvc;
