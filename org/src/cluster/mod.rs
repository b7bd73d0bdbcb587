//! Windows clustering of Exchange virtual servers.

pub mod cluster_service;
