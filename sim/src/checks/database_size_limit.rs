//! `database_size_limit`: SP2's daily size check (EXCHANGE2003.md §7) judges a database
//! by its logical size as its server's disk holds it (physical .edb + .stm, less the
//! logical free space): a warning within the buffer of the limit, an error and a dismount
//! at the limit. The size is computed here from the disk and the scenario, not taken from
//! the store: a check that reads another size, misjudges it, or leaves a database over
//! its limit mounted fails.

use super::*;
use org::trace::SizeVerdict;
use org::StoreId;

/// One daily check as the store reported it, with what the disk holds.
pub struct SizeCheck {
    pub store: StoreId,
    pub store_name: String,
    /// What the store reported.
    pub reported_bytes: u64,
    pub verdict: SizeVerdict,
    /// The logical size the disk and the scenario give.
    pub on_disk_bytes: u64,
    pub limit_bytes: u64,
    pub warning_buffer_percent: u64,
}

/// Databases the check found over their limit and not yet seen dismounted; databases
/// dismounted now (`dismounted_takes_no_mail`).
#[derive(Default)]
pub struct SizeLimits {
    over_and_mounted: BTreeMap<StoreId, String>,
    checks: u64,
    dismounted: BTreeSet<StoreId>,
    dismounts: u64,
}

impl SizeLimits {
    pub(super) fn checked(&mut self, c: SizeCheck, judge: &mut Judge<'_>) {
        self.checks += 1;
        let expected = if c.on_disk_bytes >= c.limit_bytes {
            SizeVerdict::OverLimit
        } else if c.on_disk_bytes * 100 >= c.limit_bytes * (100 - c.warning_buffer_percent) {
            SizeVerdict::Warning
        } else {
            return judge.violate(Invariant::DatabaseSizeLimit, || {
                format!(
                    "{} got a {} at {} bytes logical on disk, under the warning level of its {}-byte limit",
                    c.store_name,
                    c.verdict.as_str(),
                    c.on_disk_bytes,
                    c.limit_bytes
                )
            });
        };
        if c.reported_bytes != c.on_disk_bytes || c.verdict != expected {
            judge.violate(Invariant::DatabaseSizeLimit, || {
                format!(
                    "{} checked at {} bytes ({}) where its disk holds {} bytes logical ({} against a {}-byte limit)",
                    c.store_name,
                    c.reported_bytes,
                    c.verdict.as_str(),
                    c.on_disk_bytes,
                    expected.as_str(),
                    c.limit_bytes
                )
            });
        }
        if expected == SizeVerdict::OverLimit {
            self.over_and_mounted.insert(c.store, c.store_name);
        }
    }

    /// A database was dismounted (or mounted: by hand it may be, until the next check).
    pub(super) fn state(&mut self, store: StoreId, mounted: bool) {
        if !mounted {
            self.over_and_mounted.remove(&store);
        }
    }

    /// At the end: a database found over its limit that never went down failed.
    pub(super) fn finish(&mut self, judge: &mut Judge<'_>) {
        for name in std::mem::take(&mut self.over_and_mounted).into_values() {
            judge.violate(Invariant::DatabaseSizeLimit, || {
                format!("{name} stayed mounted after a daily check found it over its limit")
            });
        }
    }

    /// `dismounted_takes_no_mail`: a delivery into a database traced dismounted (its
    /// dismount is traced once what it accepted before is durable, so after those
    /// deliveries).
    pub(super) fn observe(&mut self, event: &ServerEvent, judge: &mut Judge<'_>) {
        match event {
            ServerEvent::DatabaseState { store, change } => {
                if change.mounts() {
                    self.dismounted.remove(store);
                } else if self.dismounted.insert(*store) {
                    self.dismounts += 1;
                }
            }
            ServerEvent::Delivered { message, recipient, store, .. } if self.dismounted.contains(store) => {
                let name = judge.name;
                judge.violate(Invariant::DismountedTakesNoMail, || {
                    format!("{} was delivered into a dismounted database", name(*message, *recipient))
                });
            }
            _ => {}
        }
    }

    /// A server that starts mounts all its databases.
    pub(super) fn server_started(&mut self, stores: impl Iterator<Item = StoreId>) {
        for s in stores {
            self.dismounted.remove(&s);
        }
    }

    pub(super) fn dismount_detail(&self) -> String {
        format!("{} dismount(s), no delivery into a dismounted database", self.dismounts)
    }

    pub(super) fn detail(&self) -> String {
        format!(
            "{} size check(s) with a warning or over the limit, each judged on the logical size on disk",
            self.checks
        )
    }
}
