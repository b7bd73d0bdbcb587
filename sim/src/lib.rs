//! The simulated world orgsim runs an Exchange organization in: scenario files and their
//! checking, the madsim runtime with one node per server, WAN links, disks, client load,
//! the trace and the checks.

pub mod checks;
pub mod json_location;
pub mod resolve;
pub mod rng;
pub mod scenario;
pub mod schema_walk;
pub mod sometimes;
pub mod trace;
pub mod units;
pub mod wan;
pub mod weather;
pub mod workload;
pub mod world;
