//! The Exchange Server 2003 organization as pure, sans-IO state machines.
//!
//! Every server role takes inputs (`handle_*(now, …)`) at a simulated instant and
//! returns outputs (packets to send, durable writes, trace events); the next wake-up
//! comes from `poll_timeout()`. Nothing here knows about madsim, files, the wall clock or
//! where randomness comes from: the `sim` crate drives these machines.

pub mod calendar;
pub mod client;
pub mod cluster;
pub mod config;
pub mod directory;
pub mod exchange_server;
pub mod message;
pub mod mta;
pub mod planted_bugs;
pub mod public_folders;
pub mod routing;
pub mod service_events;
pub mod store;
pub mod system_attendant;
#[cfg(test)]
mod test_topology;
pub mod time;
pub mod timers;
pub mod trace;
pub mod transport;
pub mod version;

/// Index of a forest, and the Exchange organization it holds, in
/// [`topology::Topology::forests`] (EXCHANGE2003.md §6); the first is 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct ForestId(pub u8);

/// Index of an Exchange server in [`topology::Topology::servers`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct ServerId(pub u16);

/// Index of a routing group in [`topology::Topology::routing_groups`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct RoutingGroupId(pub u16);

/// Index of a routing group connector in [`topology::Topology::connectors`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct ConnectorId(pub u16);

/// Index of an SMTP or X.400 connector with address spaces in
/// [`topology::Topology::gateways`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct GatewayId(pub u16);

/// Index of a host outside the organization (an Internet mail host, a smart host, a
/// foreign MTA or a DNS server) in [`topology::InternetConfig::hosts`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct HostId(pub u16);

/// Index of a mailbox store in [`topology::Topology::stores`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct StoreId(pub u16);

/// Index of a storage group (one transaction log stream and its databases) in
/// [`topology::Topology::storage_groups`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct StorageGroupId(pub u16);

/// An interned SMTP address. Interning only stores the string once; whether an address
/// names a recipient is for the global catalog to say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct AddressId(pub u32);

/// A source of random numbers handed to a component (a ChaCha stream in the simulator).
pub trait Entropy {
    /// The next 64 random bits.
    fn next_u64(&mut self) -> u64;

    /// A uniform index in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "below(0)");
        // Lemire's multiply-shift; the bias for n << 2^64 is negligible.
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}
