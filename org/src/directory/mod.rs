//! Active Directory as Exchange reads it: domain controllers and their multi-master
//! replication, global catalogs with their LDAP searches, and DSAccess, the cache
//! Exchange's services read the directory through.

pub mod ad_replication;
pub mod domain_controller;
pub mod dsaccess;
pub mod global_catalog;
pub mod ldap_filter;
