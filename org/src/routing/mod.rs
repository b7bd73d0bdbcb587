//! The routing engine (RESvc): least-cost routes over routing groups, the link state
//! table every server keeps, and the routing group master that owns its group's entry.

pub mod link_state;
pub mod resvc;
pub mod routing_engine;
pub mod routing_group_master;
