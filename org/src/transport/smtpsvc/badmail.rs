//! The virtual servers' Badmail and archive folders (`Mailroot\vsi N`, see
//! [`crate::transport::mailroot`]): what goes into them, the cached Badmail size the cap
//! is judged by, and its periodic rescan.

use super::*;
use crate::transport::mailroot::{ArchiveFolder, BadmailCache, BadmailFate, BadmailLimit, VirtualServerRef};
use crate::transport::queue_directory::MailrootFolder;

impl SmtpService {
    /// Scans the Badmail folders the disk holds (a service starting measures them); a
    /// restart traces what it found, and the rescan timer starts when a cap applies.
    pub(super) fn start_mailroot(&mut self, disk: &DiskImage, incarnation: u32, now: Instant) {
        for (&vs, folders) in &disk.mailroot {
            self.badmail.insert(vs, BadmailCache::scanned(folders.badmail_bytes));
        }
        let settings = self.topology.server(self.id).badmail;
        if !matches!(settings.limit, BadmailLimit::UpToKb(_)) {
            return; // without a cap, the cached size decides nothing
        }
        if incarnation > 0 {
            let found: Vec<(VirtualServerRef, u64)> = self.badmail.iter().map(|(v, c)| (*v, c.cached_bytes)).collect();
            for (vs, size_bytes) in found {
                self.emit(ServerEvent::BadmailRescanned { virtual_server: self.vs_name(vs), size_bytes });
            }
        }
        self.timers.set(Timer::BadmailSync, now.plus_ms(settings.sync_period_ms));
    }

    /// A virtual server's name, as traced.
    fn vs_name(&self, vs: VirtualServerRef) -> String {
        match vs {
            VirtualServerRef::Default => self.topology.server(self.id).smtp.name.clone(),
            VirtualServerRef::Inbound(k) => {
                let edge = &self.topology.edge.virtual_servers;
                edge.get(usize::from(k)).map_or_else(String::new, |(_, v)| v.name.clone())
            }
        }
    }

    /// Badmail of `size_bytes` on `vs`: written while the folder is under its cap as
    /// last measured, else discarded. Traced once the write (if any) is durable.
    pub(super) fn file_badmail(&mut self, vs: VirtualServerRef, message: MessageId, size_bytes: u64) {
        let mut limit = self.topology.server(self.id).badmail.limit;
        if limit == BadmailLimit::Discard && self.topology.bug(PlantedBug::BadmailPreSp1Default) {
            limit = BadmailLimit::Unlimited;
        }
        let cache = self.badmail.entry(vs).or_default();
        let fate = cache.take(limit, size_bytes);
        if fate == BadmailFate::Written && self.topology.bug(PlantedBug::BadmailCacheIgnoresWrites) {
            cache.cached_bytes -= size_bytes;
        }
        let cached_bytes = cache.cached_bytes;
        if fate == BadmailFate::Written {
            self.out.write(DiskOp::Mailroot { virtual_server: vs, folder: MailrootFolder::Badmail, size_bytes });
        }
        let virtual_server = self.vs_name(vs);
        let event = ServerEvent::BadmailFolder { virtual_server, message, size_bytes, fate, cached_bytes };
        self.out.after_flush(AfterFlush::Event(event));
    }

    /// A copy of `message` into an archive folder of `vs` (no cap: they grow until an
    /// administrator empties them).
    pub(super) fn file_archive(&mut self, vs: VirtualServerRef, message: MessageId, folder: ArchiveFolder, size: u64) {
        let op = DiskOp::Mailroot { virtual_server: vs, folder: MailrootFolder::Archive(folder), size_bytes: size };
        self.out.write(op);
        let virtual_server = self.vs_name(vs);
        let event = ServerEvent::Archived { virtual_server, message, folder, size_bytes: size };
        self.out.after_flush(AfterFlush::Event(event));
    }

    /// An administrator empties the Badmail folders of `virtual_server` (every virtual
    /// server's when `None`) [U: the deletion goes through the server's write batch].
    /// Advanced queuing notices at its next rescan.
    pub fn handle_badmail_purged(&mut self, virtual_server: Option<VirtualServerRef>) {
        let chosen: Vec<VirtualServerRef> =
            self.badmail.keys().copied().filter(|v| virtual_server.is_none_or(|w| w == *v)).collect();
        for vs in chosen {
            let freed_bytes = self.badmail.get_mut(&vs).expect("listed above").purged();
            self.out.write(DiskOp::BadmailPurged { virtual_server: vs });
            let event = ServerEvent::BadmailPurged { virtual_server: self.vs_name(vs), freed_bytes };
            self.out.after_flush(AfterFlush::Event(event));
        }
    }

    /// `BadMailSyncPeriod` passed: every Badmail folder is measured again.
    pub(super) fn badmail_rescan(&mut self, now: Instant) {
        let changed: Vec<(VirtualServerRef, u64)> =
            self.badmail.iter_mut().filter_map(|(v, c)| c.rescan().then_some((*v, c.cached_bytes))).collect();
        for (vs, size_bytes) in changed {
            let event = ServerEvent::BadmailRescanned { virtual_server: self.vs_name(vs), size_bytes };
            // After the flush: in order with the fates decided before it.
            self.out.after_flush(AfterFlush::Event(event));
        }
        let period_ms = self.topology.server(self.id).badmail.sync_period_ms;
        self.timers.set(Timer::BadmailSync, now.plus_ms(period_ms));
    }
}
