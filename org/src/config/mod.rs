//! The organization's configuration as Exchange System Manager and the directory hold it.

pub mod topology;
