//! `badmail_as_configured` (EXCHANGE2003.md §3.3, KB 884068): Badmail is written only as
//! the server's `MaxBadMailFolderSize` allows — never when it is 0 (SP1's default),
//! always when it is 0xFFFFFFFF, and under a cap only while the folder, as last
//! measured plus what was written since, is below it — and each rescan finds the folder
//! as the writes and purges left it. Judged from the trace's own figures: the judge
//! keeps each folder's size on disk and the figure advanced queuing should hold.

use super::*;
use org::transport::mailroot::BadmailFate;

/// One Badmail folder as the judge follows it.
#[derive(Clone, Copy, Debug, Default)]
struct Folder {
    /// What the last rescan found, plus what was written since.
    measured_bytes: u64,
    /// What the disk holds.
    disk_bytes: u64,
}

/// Every server's Badmail folders, by (server, virtual server name).
pub(super) struct BadmailJudge {
    topology: Arc<Topology>,
    folders: BTreeMap<(ServerId, String), Folder>,
    judged: u64,
}

impl BadmailJudge {
    pub(super) fn new(topology: Arc<Topology>) -> BadmailJudge {
        BadmailJudge { topology, folders: BTreeMap::new(), judged: 0 }
    }

    pub(super) fn detail(&self) -> String {
        format!("{} piece(s) of Badmail, each written or discarded as MaxBadMailFolderSize says", self.judged)
    }

    pub(super) fn observe(&mut self, server: ServerId, event: &ServerEvent, judge: &mut Judge<'_>) {
        match event {
            ServerEvent::BadmailFolder { virtual_server, size_bytes, fate, .. } => {
                self.judged += 1;
                let limit = self.topology.server(server).badmail.limit;
                let folder = self.folders.entry((server, virtual_server.clone())).or_default();
                let expected = BadmailFate::of(limit, folder.measured_bytes);
                if *fate != expected {
                    let measured = folder.measured_bytes;
                    judge.violate(Invariant::BadmailAsConfigured, || {
                        format!(
                            "{} {virtual_server}: Badmail of {size_bytes} bytes {} with {limit:?} and the folder measured at {measured} bytes (expected {})",
                            judge_name(server, &self.topology),
                            fate.as_str(),
                            expected.as_str()
                        )
                    });
                }
                if *fate == BadmailFate::Written {
                    folder.measured_bytes += size_bytes;
                    folder.disk_bytes += size_bytes;
                }
            }
            ServerEvent::BadmailPurged { virtual_server, .. } => {
                self.folders.entry((server, virtual_server.clone())).or_default().disk_bytes = 0;
            }
            ServerEvent::BadmailRescanned { virtual_server, size_bytes } => {
                let folder = self.folders.entry((server, virtual_server.clone())).or_default();
                if *size_bytes != folder.disk_bytes {
                    let disk = folder.disk_bytes;
                    judge.violate(Invariant::BadmailAsConfigured, || {
                        format!(
                            "{} {virtual_server}: a rescan found {size_bytes} bytes in Badmail, the disk holds {disk}",
                            judge_name(server, &self.topology)
                        )
                    });
                }
                folder.measured_bytes = *size_bytes;
            }
            _ => {}
        }
    }
}

fn judge_name(server: ServerId, topology: &Topology) -> &str {
    &topology.server(server).name
}
