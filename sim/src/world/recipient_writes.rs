//! The recipient writes made on a DC (with replication): the administrator's creations
//! and deletions from the scenario, and the passes of the Recipient Update Service bound
//! to it (org's `system_attendant::recipient_update_service`).

use super::domain_controller::originate;
use super::*;
use org::system_attendant::recipient_update_service::RecipientUpdateService;

/// The recipient writes an administrator or the RUS makes on a DC: creations and
/// deletions due by `now` from `due`, and a RUS pass when one falls due.
pub(super) struct RecipientAdmin {
    due: std::collections::VecDeque<(Instant, AddressId, RecipientWrite)>,
    /// The RUS bound to this DC, if one is.
    rus: Option<RecipientUpdateService>,
}

impl RecipientAdmin {
    pub(super) fn new(spec: &crate::resolve::DcSpec) -> Self {
        let rus: Option<&RusSpec> = spec.rus.as_ref();
        RecipientAdmin {
            due: spec.recipient_writes.iter().copied().collect(),
            rus: rus.map(|r| RecipientUpdateService::new(r.interval_ms, r.recipients.clone())),
        }
    }

    pub(super) fn deadline(&self) -> Option<Instant> {
        let pass = self.rus.as_ref().and_then(|r| r.poll_timeout());
        [self.due.front().map(|w| w.0), pass].into_iter().flatten().min()
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

    /// A RUS pass, if one is due: its stamps are written on the DC and traced.
    fn pass(&mut self, world: &Shared, dc: &mut DomainController, name: &str, now: Instant) {
        let Some(rus) = self.rus.as_mut() else { return };
        let pass = {
            let w = lock(world);
            let up = w.dc_up[usize::from(dc.id().0)];
            rus.handle_timeout(now, dc.replica(), up, |a| w.address(a))
        };
        let Some(pass) = pass.filter(|p| !p.writes.is_empty()) else { return };
        if originate(world, dc, name, now, &pass.writes, false) {
            let mut w = lock(world);
            let stamped = w.addresses(&pass.stamped);
            let event = TraceEvent::RecipientsWritten { change: "stamped", recipients: stamped };
            w.record(now.as_ms(), name, &event);
        }
    }
}
