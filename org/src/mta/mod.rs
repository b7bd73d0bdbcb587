//! The X.400 message transfer agent (MSExchangeMTA): the queues over X.400 connectors and
//! to foreign MTAs, which follow its association rules instead of SMTP's retries.

pub mod association;
