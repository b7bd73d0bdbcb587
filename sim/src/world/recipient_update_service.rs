//! The recipient writes an administrator or the Recipient Update Service makes on a DC
//! (with replication).

use super::domain_controller::originate;
use super::*;

/// The recipient writes an administrator or the RUS makes on a DC (with replication):
/// creations and deletions due by `now` from `due`, and a RUS pass when one falls due.
pub(super) struct RecipientAdmin {
    due: std::collections::VecDeque<(Instant, AddressId, RecipientWrite)>,
    /// The RUS's interval, if one is bound to this DC.
    rus_interval_ms: u64,
    /// Recipients the RUS has yet to stamp (or see deleted).
    unstamped: Vec<AddressId>,
    /// When its next pass falls (none once nothing is left to stamp).
    next_pass: Option<Instant>,
}

impl RecipientAdmin {
    pub(super) fn new(spec: &crate::resolve::DcSpec) -> Self {
        let rus: Option<&RusSpec> = spec.rus.as_ref();
        RecipientAdmin {
            due: spec.recipient_writes.iter().copied().collect(),
            rus_interval_ms: rus.map_or(0, |r| r.interval_ms),
            unstamped: rus.map_or_else(Vec::new, |r| r.recipients.clone()),
            next_pass: rus.filter(|r| !r.recipients.is_empty()).map(|r| Instant(r.interval_ms)),
        }
    }

    pub(super) fn deadline(&self) -> Option<Instant> {
        [self.due.front().map(|w| w.0), self.next_pass].into_iter().flatten().min()
    }

    /// Makes the writes due by `now`: a RUS pass first, so a recipient created at the
    /// instant of a pass waits for the next one (as without replication).
    pub(super) fn step(&mut self, world: &Shared, dc: &mut DomainController, name: &str, now: Instant) {
        self.pass(world, dc, name, now);
        while self.due.front().is_some_and(|w| w.0 <= now) {
            let (_, address, write) = self.due.pop_front().expect("checked");
            let (change, attrs) = match write {
                RecipientWrite::Create => {
                    let class = lock(world).resolved.topology.directory.object(address).map(|o| o.class);
                    let classes = class.map_or(&[][..], |c| c.ldap_classes());
                    ("created", vec![(CREATED_ATTRIBUTE.to_string(), classes.iter().map(|c| c.to_string()).collect())])
                }
                RecipientWrite::Delete => (
                    "deleted",
                    vec![(org::directory::ad_replication::IS_DELETED.to_string(), vec!["TRUE".to_string()])],
                ),
            };
            if originate(world, dc, name, now, &[(recipient_object(address), attrs)], false) {
                let mut w = lock(world);
                let event = TraceEvent::RecipientsWritten { change, recipients: vec![w.address(address)] };
                w.record(now.as_ms(), name, &event);
            }
        }
    }

    /// A RUS pass, if one is due.
    fn pass(&mut self, world: &Shared, dc: &mut DomainController, name: &str, now: Instant) {
        let Some(pass) = self.next_pass else { return };
        if pass > now {
            return;
        }
        let every = self.rus_interval_ms;
        self.next_pass = Some(Instant((now.as_ms() / every + 1) * every));
        // §2: a pass stamps what this DC holds that was created and has no addresses yet;
        // a DC that is down runs no pass.
        if !lock(world).dc_up[usize::from(dc.id().0)] {
            return;
        }
        let mut stamped = Vec::new();
        let mut writes: Vec<ObjectWrite> = Vec::new();
        {
            let w = lock(world);
            self.unstamped.retain(|&a| {
                let Some(o) = dc.replica().object(recipient_object(a)) else { return true };
                if o.is_deleted() || !o.values(STAMPED_ATTRIBUTE).is_empty() {
                    return false;
                }
                if o.values(CREATED_ATTRIBUTE).is_empty() {
                    return true;
                }
                let address = w.address(a);
                writes.push((
                    recipient_object(a),
                    vec![(STAMPED_ATTRIBUTE.to_string(), vec![format!("SMTP:{address}")])],
                ));
                stamped.push(address);
                false
            });
        }
        if self.unstamped.is_empty() {
            self.next_pass = None;
        }
        if !writes.is_empty() && originate(world, dc, name, now, &writes, false) {
            let event = TraceEvent::RecipientsWritten { change: "stamped", recipients: stamped };
            lock(world).record(now.as_ms(), name, &event);
        }
    }
}
