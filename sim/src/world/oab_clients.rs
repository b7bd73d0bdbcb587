//! Cached-mode Outlook clients of the offline address books (EXCHANGE2003.md §9, §10).
//! Each client downloads once a day at a random time from the nearest replica of its
//! OAB's folder of its version (4 for Outlook 2003 SP2 with an SP2 server, 3a for
//! Outlook 2003, 2 for Outlook 2002) that it can reach — its server's own public store
//! first, then by routing cost, as a public folder referral — whatever that replica
//! offers: the chain of diffs from the sequence it holds, or the full file. The bytes
//! cross the network between the replica's site and the client's (its server's site),
//! queued on the WAN link with the mail, and arrive when the link has carried them; a
//! link that goes down meanwhile loses the download, tried again the next day. Every
//! completed download goes to the checks, which rebuild the client's file from the
//! server's.

use super::*;
use crate::checks::oab_clients::OabDownloadFacts;
use org::client::offline_address_book::{choose_with, Download, FullReason, Offered};
use org::system_attendant::oab::distribution::{offered, OabVersion};
use org::system_attendant::oal_generation::OabId;
use org::time::DAY_MS;

/// One OAB's client downloads (`--json`'s `oab`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct DownloadTotals {
    /// Clients.
    pub clients: u64,
    /// Full downloads and their bytes.
    pub full: u64,
    pub full_bytes: u64,
    /// Full downloads by reason: no file yet, a diff missing, diffs over an eighth.
    pub full_no_file_yet: u64,
    pub full_diff_missing: u64,
    pub full_diffs_over_an_eighth: u64,
    /// Diff downloads (one chain each) and their bytes.
    pub diffs: u64,
    pub diff_bytes: u64,
    /// Daily times at which the client already held the newest sequence offered.
    pub up_to_date: u64,
    /// Downloads lost on the way (a WAN link went down).
    pub lost: u64,
    /// Daily times with nothing to download from (server down, no replica reachable,
    /// none holding a file yet).
    pub unserved: u64,
    /// Download bytes by WAN link crossed (the LAN is not listed).
    pub wan_bytes: BTreeMap<String, u64>,
    /// Clients, full and diff downloads by file version (`v2`, `v3a`, `v4`).
    pub by_version: BTreeMap<&'static str, VersionDownloads>,
}

/// One file version's clients and downloads.
#[derive(Clone, Debug, Default, Serialize)]
pub struct VersionDownloads {
    pub clients: u64,
    pub full: u64,
    pub full_bytes: u64,
    pub diffs: u64,
    pub diff_bytes: u64,
}

/// A population of one OAB's clients on one server.
pub(super) struct Population {
    spec: crate::resolve::OabClientSpec,
    /// The servers holding a replica, nearest first.
    order: Vec<ServerId>,
    /// Each client's sequence (None: no OAB yet), and whether a download is under way.
    held: Vec<Option<u32>>,
    busy: Vec<bool>,
    rng: Stream,
}

/// A download crossing the network.
#[derive(Debug)]
pub(super) struct InFlight {
    population: u32,
    client: u32,
    served_by: ServerId,
    download: Download,
    /// What the replica offered: its full file's bytes, the diffs the client needed.
    full_bytes: u64,
    needed_diff_bytes: Option<u64>,
    started_ms: u64,
    link: Option<(u16, u32)>,
}

/// Every OAB client population of the run.
#[derive(Default)]
pub(super) struct OabClients {
    populations: Vec<Population>,
}

impl OabClients {
    /// The populations, each client holding `held_at_start` of its OAB and version;
    /// replicas ordered from each population's server.
    pub(super) fn new(
        resolved: &Resolved,
        seed: u64,
        held_at_start: &dyn Fn(OabId, OabVersion) -> Option<u32>,
    ) -> Self {
        let topology = &resolved.topology;
        let populations = resolved
            .oab_clients
            .iter()
            .map(|spec| {
                let config = &topology.offline_address_books[usize::from(spec.oab.0)];
                let folder = config.folder(spec.version).expect("clients download from an OAB folder");
                let replicas = topology.public_folders.replicas_of(folder);
                // Outlook opens the OAB folder as any public folder: its server's custom
                // referral list applies.
                let own_store = topology.public_stores.iter().find(|p| p.server == spec.server);
                let custom = own_store.and_then(|p| p.settings.referrals.as_deref());
                Population {
                    order: org::public_folders::referral::servers_to_try(topology, spec.server, &replicas, custom),
                    held: vec![held_at_start(spec.oab, spec.version); spec.count as usize],
                    busy: vec![false; spec.count as usize],
                    rng: Stream::new(seed, &format!("oab-clients:{}", spec.name)),
                    spec: spec.clone(),
                }
            })
            .collect();
        OabClients { populations }
    }

    /// (OAB, version, clients, sequence held) of each population, for the checks.
    pub(super) fn census(&self) -> Vec<(OabId, OabVersion, u32, Option<u32>)> {
        let held = |p: &Population| p.held.first().copied().flatten();
        self.populations.iter().map(|p| (p.spec.oab, p.spec.version, p.spec.count, held(p))).collect()
    }
}

impl World {
    /// The OABs as the run starts: those generated before it on their servers' disks
    /// (with the run's planted bugs), their clients holding that sequence; each client's
    /// first download scheduled.
    pub(super) fn start_offline_address_books(&mut self) {
        let topology = self.resolved.topology.clone();
        let mut held = BTreeMap::new();
        for p in &self.resolved.oab_pregenerated {
            let mut generator = p.generator.clone();
            org::system_attendant::oal_generation::plant_bugs(Arc::make_mut(&mut generator), &topology);
            for ((version, sequence), _) in crate::checks::oab_clients::ArchivedFiles::of(&p.generation) {
                held.insert((p.oab, version), sequence);
            }
            self.checker.oab_generated(Instant::ZERO, p.oab, &p.generation);
            self.oab.pregenerated(p.server, p.oab, generator, p.generation.clone());
        }
        self.oab_clients = OabClients::new(&self.resolved, self.seed, &|oab, v| held.get(&(oab, v)).copied());
        self.checker.oab_client_populations(&self.oab_clients.census());
        for p in &self.oab_clients.populations {
            let t = self.oab.downloads(p.spec.oab);
            t.clients += u64::from(p.spec.count);
            t.by_version.entry(p.spec.version.as_str()).or_default().clients += u64::from(p.spec.count);
        }
        self.start_oab_clients();
    }

    /// Each client's first download: a random time before the run's first midnight.
    fn start_oab_clients(&mut self) {
        let calendar = self.resolved.topology.calendar;
        let midnight = calendar.next_time_of_day(Instant(1), 0).as_ms();
        for p in 0..self.oab_clients.populations.len() {
            for c in 0..self.oab_clients.populations[p].held.len() {
                let at = (self.oab_clients.populations[p].rng.unit() * midnight as f64) as u64;
                self.schedule(Instant(at), Scheduled::OabDownload { population: p as u32, client: c as u32 });
            }
        }
    }

    /// A client's daily time: it schedules the next day's, then downloads what the
    /// nearest replica it reaches offers, unless a download is still under way.
    pub(super) fn oab_download(&mut self, now: Instant, population: u32, client: u32) {
        let calendar = self.resolved.topology.calendar;
        let pop = &mut self.oab_clients.populations[population as usize];
        let midnight = calendar.next_time_of_day(now.plus_ms(1), 0);
        let next = midnight.plus_ms((pop.rng.unit() * DAY_MS as f64) as u64);
        self.schedule(next, Scheduled::OabDownload { population, client });
        let pop = &self.oab_clients.populations[population as usize];
        if pop.busy[client as usize] {
            return;
        }
        let (oab, version, home) = (pop.spec.oab, pop.spec.version, pop.spec.server);
        let served = match self.oab_replica(population) {
            Ok(served) => served,
            Err(reason) => return self.oab_unserved(now, population, client, reason),
        };
        let Some(offer) = self.oab_offer(oab, version, served) else {
            return self.oab_unserved(now, population, client, "the replica holds no OAB file yet");
        };
        let held = self.oab_clients.populations[population as usize].held[client as usize];
        let inverted = self.resolved.topology.bug(org::planted_bugs::PlantedBug::OabEighthRuleInverted);
        let download = choose_with(held, &offer, inverted);
        let bytes = match download {
            Download::UpToDate => {
                self.oab.downloads(oab).up_to_date += 1;
                return;
            }
            Download::Diffs { bytes, .. } | Download::Full { bytes, .. } => bytes,
        };
        let (from_site, to_site) =
            (self.resolved.server_site[usize::from(served.0)], self.resolved.server_site[usize::from(home.0)]);
        let Some(transit) = self.wan.transmit(now.as_ms() * 1_000, from_site, to_site, bytes) else {
            return self.oab_unserved(now, population, client, "no replica reachable");
        };
        let needed_diff_bytes = held.and_then(|h| offer.chain_bytes(h));
        self.oab_clients.populations[population as usize].busy[client as usize] = true;
        let arrive = Instant(transit.arrive_us.div_ceil(1_000));
        let flight = InFlight {
            population,
            client,
            served_by: served,
            download,
            full_bytes: offer.full_bytes,
            needed_diff_bytes,
            started_ms: now.as_ms(),
            link: transit.link,
        };
        self.schedule(arrive, Scheduled::OabArrived(Box::new(flight)));
    }

    /// The nearest replica the population's clients reach: their server must run (it
    /// refers them), and so must the replica's, in a site joined to theirs.
    fn oab_replica(&self, population: u32) -> Result<ServerId, &'static str> {
        let pop = &self.oab_clients.populations[population as usize];
        let home = pop.spec.server;
        if self.machines[usize::from(home.0)].is_none() {
            return Err("its server is down");
        }
        let site = self.resolved.server_site[usize::from(home.0)];
        pop.order.iter().copied().find(|s| self.reaches(site, *s)).ok_or("no replica reachable")
    }

    /// What `server`'s replica of the OAB's folder of `version` offers now.
    fn oab_offer(&self, oab: OabId, version: OabVersion, server: ServerId) -> Option<Offered> {
        let folder = self.resolved.topology.offline_address_books[usize::from(oab.0)].folder(version)?;
        let store = self.machines[usize::from(server.0)].as_ref()?.public_store()?;
        let replica = store.folders().get(&folder)?;
        let files = replica.items.live().filter_map(|(_, p)| p.oab_file.as_ref().map(|f| (f, p.size_bytes)));
        offered(oab, version, files)
    }

    fn oab_unserved(&mut self, now: Instant, population: u32, client: u32, reason: &'static str) {
        let spec = &self.oab_clients.populations[population as usize].spec;
        self.oab.downloads(spec.oab).unserved += 1;
        let event =
            TraceEvent::OabClientUnserved { oab: self.oab_name(spec.oab), clients: spec.name.clone(), client, reason };
        let node = self.server_name(spec.server).to_string();
        self.record(now.as_ms(), &node, &event);
    }

    fn oab_name(&self, oab: OabId) -> String {
        self.resolved.topology.offline_address_books[usize::from(oab.0)].definition.name.clone()
    }

    /// A download crossed the network: lost if its WAN link went down meanwhile, else
    /// judged by the checks, and the client holds its new sequence.
    pub(super) fn oab_arrived(&mut self, now: Instant, d: InFlight) {
        let (p, c) = (d.population as usize, d.client as usize);
        self.oab_clients.populations[p].busy[c] = false;
        let spec = self.oab_clients.populations[p].spec.clone();
        let link = d.link.map(|(l, _)| self.resolved.links[usize::from(l)].name.clone());
        let (oab, served_by) = (self.oab_name(spec.oab), self.server_name(d.served_by).to_string());
        let node = self.server_name(spec.server).to_string();
        if !self.wan.intact(d.link) {
            self.oab.downloads(spec.oab).lost += 1;
            let link = link.unwrap_or_default();
            let event = TraceEvent::OabDownloadLost { oab, clients: spec.name, client: d.client, served_by, link };
            return self.record(now.as_ms(), &node, &event);
        }
        let violations = self.oab_judge(p, &d);
        let (kind, reason, from, to, bytes) = match d.download {
            Download::Diffs { from, to, bytes } => ("diffs", None, Some(from), to, bytes),
            Download::Full { sequence, bytes, reason } => ("full", Some(reason_name(reason)), None, sequence, bytes),
            Download::UpToDate => unreachable!("nothing is sent for a client up to date"),
        };
        self.oab_clients.populations[p].held[c] = Some(to);
        self.oab_count(spec.oab, spec.version, &d.download, link.as_deref());
        let event = TraceEvent::OabDownload {
            oab,
            clients: spec.name,
            client: d.client,
            served_by,
            version: spec.version.as_str(),
            kind,
            reason,
            from_sequence: from,
            to_sequence: to,
            bytes,
            full_bytes: d.full_bytes,
            needed_diff_bytes: d.needed_diff_bytes,
            link,
            took_ms: now.as_ms() - d.started_ms,
        };
        self.record(now.as_ms(), &node, &event);
        for v in violations {
            let event = TraceEvent::CheckFailed { check: v.check.into(), detail: v.detail };
            self.record(now.as_ms(), "checks", &event);
        }
    }

    /// The checks' verdict on a completed download.
    fn oab_judge(&mut self, population: usize, d: &InFlight) -> Vec<crate::checks::Violation> {
        let oab = self.oab_clients.populations[population].spec.oab;
        let files = &self.oab.archive[usize::from(oab.0)];
        // The server's newest full file is the last run's.
        let last = self.oab.last[usize::from(oab.0)].as_ref().and_then(|(_, g)| g.v4.as_ref());
        let newest = last.map(|v4| (v4.sequence, v4.full.as_slice()));
        let facts = OabDownloadFacts {
            oab,
            version: self.oab_clients.populations[population].spec.version,
            population,
            client: d.client,
            download: &d.download,
            full_bytes: d.full_bytes,
            needed_diff_bytes: d.needed_diff_bytes,
            files,
            newest_full: newest,
        };
        let resolved = &self.resolved;
        self.checker.oab_downloaded(&facts, &|m, r| pair_name(resolved, m, r))
    }

    fn oab_count(&mut self, oab: OabId, version: OabVersion, download: &Download, link: Option<&str>) {
        let t = self.oab.downloads(oab);
        let v = t.by_version.entry(version.as_str()).or_default();
        let bytes = match *download {
            Download::Diffs { bytes, .. } => {
                (v.diffs, v.diff_bytes) = (v.diffs + 1, v.diff_bytes + bytes);
                t.diffs += 1;
                t.diff_bytes += bytes;
                bytes
            }
            Download::Full { bytes, reason, .. } => {
                (v.full, v.full_bytes) = (v.full + 1, v.full_bytes + bytes);
                t.full += 1;
                t.full_bytes += bytes;
                *match reason {
                    FullReason::NoFileYet => &mut t.full_no_file_yet,
                    FullReason::DiffMissing => &mut t.full_diff_missing,
                    FullReason::DiffsOverAnEighth => &mut t.full_diffs_over_an_eighth,
                } += 1;
                bytes
            }
            Download::UpToDate => 0,
        };
        if let Some(link) = link {
            *t.wan_bytes.entry(link.to_string()).or_default() += bytes;
        }
    }
}

/// A full download's reason as traces name it.
fn reason_name(reason: FullReason) -> &'static str {
    match reason {
        FullReason::NoFileYet => "no_file_yet",
        FullReason::DiffMissing => "diff_missing",
        FullReason::DiffsOverAnEighth => "diffs_over_an_eighth",
    }
}
