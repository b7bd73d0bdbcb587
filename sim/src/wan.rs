//! The network between sites as capacity planning needs it: WAN links with bandwidth,
//! latency, up/down state and byte accounting, and a LAN inside each site. A WAN link is
//! a point-to-point circuit between two sites: v1 does not route IP through a third site,
//! so servers in different sites talk over the one link joining their sites (as
//! bridgeheads of a routing group connector do), and a link's bytes are exactly the
//! traffic between its two sites. Each link direction is a FIFO that serializes bytes at
//! its bandwidth. A packet in flight on a link that goes down is lost (the link's epoch
//! changes).

use crate::resolve::LinkSpec;
use std::collections::BTreeMap;

/// A packet's passage: when it arrives and the link epoch it relies on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transit {
    /// Arrival, in microseconds since the run started.
    pub arrive_us: u64,
    /// (link, epoch) of the WAN link crossed, if any: circuits are point to point, so a
    /// packet crosses one link at most.
    pub link: Option<(u16, u32)>,
}

#[derive(Clone, Debug)]
struct Link {
    spec: LinkSpec,
    up: bool,
    epoch: u32,
    /// Per direction (a→b, b→a): when the wire is free again.
    busy_until_us: [u64; 2],
    /// Per direction: bytes since the last sample.
    bytes: [u64; 2],
}

/// All WAN links and the site LANs.
#[derive(Clone, Debug)]
pub struct Wan {
    links: Vec<Link>,
    by_sites: BTreeMap<(usize, usize), usize>,
    lan_bits_per_s: u64,
    lan_latency_us: u64,
    /// Planted bug: links that are down still carry packets.
    ignores_down: bool,
}

fn transmit_us(bytes: u64, bits_per_s: u64) -> u64 {
    (bytes * 8 * 1_000_000).div_ceil(bits_per_s.max(1))
}

impl Wan {
    /// Links all up.
    pub fn new(links: &[LinkSpec], lan_bits_per_s: u64, lan_latency_ms: u64, ignores_down: bool) -> Self {
        Wan {
            links: links
                .iter()
                .map(|spec| Link { spec: spec.clone(), up: true, epoch: 0, busy_until_us: [0; 2], bytes: [0; 2] })
                .collect(),
            by_sites: links.iter().enumerate().map(|(i, l)| ((l.a.min(l.b), l.a.max(l.b)), i)).collect(),
            lan_bits_per_s,
            lan_latency_us: lan_latency_ms * 1_000,
            ignores_down,
        }
    }

    /// Sets a link's state; returns whether it changed.
    pub fn set_up(&mut self, link: usize, up: bool) -> bool {
        let l = &mut self.links[link];
        if l.up == up {
            return false;
        }
        l.up = up;
        if !up {
            l.epoch += 1;
        }
        true
    }

    /// Whether the link is up.
    pub fn is_up(&self, link: usize) -> bool {
        self.links[link].up
    }

    /// The up link joining two different sites and the direction of travel on it.
    fn circuit(&self, from: usize, to: usize) -> Option<(usize, usize)> {
        let link = *self.by_sites.get(&(from.min(to), from.max(to)))?;
        let l = &self.links[link];
        (l.up || self.ignores_down).then_some((link, if l.spec.a == from { 0 } else { 1 }))
    }

    /// Whether two sites can reach each other now.
    pub fn connected(&self, a: usize, b: usize) -> bool {
        a == b || self.circuit(a, b).is_some()
    }

    /// Sends `bytes` from a server in site `from` to one in site `to` at `now_us`;
    /// `None` when no up path exists (the packet is lost).
    pub fn transmit(&mut self, now_us: u64, from: usize, to: usize, bytes: u64) -> Option<Transit> {
        if from == to {
            let arrive_us = now_us + self.lan_latency_us + transmit_us(bytes, self.lan_bits_per_s);
            return Some(Transit { arrive_us, link: None });
        }
        let (link, dir) = self.circuit(from, to)?;
        let l = &mut self.links[link];
        let start = now_us.max(l.busy_until_us[dir]);
        let done = start + transmit_us(bytes, l.spec.bits_per_s);
        l.busy_until_us[dir] = done;
        l.bytes[dir] += bytes;
        Some(Transit { arrive_us: done + l.spec.latency_ms * 1_000, link: Some((link as u16, l.epoch)) })
    }

    /// Whether the link a packet crossed (if any) stayed up since it was sent.
    pub fn intact(&self, link: Option<(u16, u32)>) -> bool {
        self.ignores_down
            || link.is_none_or(|(link, epoch)| {
                let l = &self.links[usize::from(link)];
                l.up && l.epoch == epoch
            })
    }

    /// Bytes per link and direction since the last call, and resets the counters.
    pub fn take_bytes(&mut self) -> Vec<[u64; 2]> {
        self.links.iter_mut().map(|l| std::mem::take(&mut l.bytes)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line() -> Wan {
        // Sites 0 - 1 - 2 in a line; 8 kbps so 1,000 bytes take 1 s.
        let spec = |name: &str, a, b| LinkSpec { name: name.into(), a, b, bits_per_s: 8_000, latency_ms: 100 };
        Wan::new(&[spec("A", 0, 1), spec("B", 1, 2)], 100_000_000, 1, false)
    }

    #[test]
    fn serializes_per_link_and_accounts_bytes() {
        let mut wan = line();
        let first = wan.transmit(0, 0, 1, 1_000).unwrap();
        assert_eq!(first.arrive_us, 1_100_000);
        // The second packet waits for the first to leave the wire.
        let second = wan.transmit(0, 0, 1, 1_000).unwrap();
        assert_eq!(second.arrive_us, 2_100_000);
        let back = wan.transmit(0, 2, 1, 1_000).unwrap();
        assert_eq!(back.arrive_us, 1_100_000, "each link and direction has its own wire");
        // No transit through site 1: circuits are point to point.
        assert!(wan.transmit(0, 0, 2, 10).is_none());
        assert_eq!(wan.take_bytes(), vec![[2_000, 0], [0, 1_000]]);
        assert_eq!(wan.take_bytes(), vec![[0, 0], [0, 0]]);
        let lan = wan.transmit(0, 1, 1, 12_500).unwrap();
        assert_eq!(lan.arrive_us, 1_000 + 1_000, "LAN: 1 ms latency + 1 ms at 100 Mbps");
    }

    #[test]
    fn down_link_cuts_and_loses_in_flight() {
        let mut wan = line();
        let t = wan.transmit(0, 1, 2, 10).unwrap();
        assert!(wan.intact(t.link));
        assert!(wan.set_up(1, false));
        assert!(!wan.set_up(1, false));
        assert!(!wan.intact(t.link));
        assert!(wan.transmit(0, 1, 2, 10).is_none());
        assert!(!wan.connected(1, 2));
        assert!(wan.connected(0, 1));
        wan.set_up(1, true);
        assert!(!wan.intact(t.link), "a packet sent before the outage is still lost");
        assert!(wan.connected(1, 2));
    }
}
