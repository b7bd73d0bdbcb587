//! The Recipient Update Service (EXCHANGE2003.md §2): bound to one DC of its domain, it
//! runs a pass on its schedule ("Always run" is every minute) and stamps e-mail addresses
//! (`proxyAddresses`) on the recipients that DC holds as created and not yet stamped. A
//! recipient is not usable for mail until a pass has stamped it; one created at the
//! instant of a pass waits for the next. A pass on a DC that is down does not run.

use crate::directory::ad_replication::Replica;
use crate::directory::domain_controller::ObjectWrite;
use crate::directory::global_catalog::{recipient_object, CREATED_ATTRIBUTE, STAMPED_ATTRIBUTE};
use crate::time::Instant;
use crate::AddressId;

/// One RUS, bound to its DC.
#[derive(Clone, Debug)]
pub struct RecipientUpdateService {
    /// Time between passes; passes fall on its multiples.
    interval_ms: u64,
    /// Recipients it has yet to stamp (or see deleted).
    unstamped: Vec<AddressId>,
    /// When its next pass falls (none once nothing is left to stamp).
    next_pass: Option<Instant>,
}

/// What one pass stamped, and the writes that stamp them on the DC.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    /// The recipients stamped, in the order they were listed.
    pub stamped: Vec<AddressId>,
    /// One `proxyAddresses` write per recipient stamped.
    pub writes: Vec<ObjectWrite>,
}

impl RecipientUpdateService {
    /// A RUS passing every `interval_ms` over these recipients (those created during the
    /// run in its domain).
    pub fn new(interval_ms: u64, recipients: Vec<AddressId>) -> Self {
        assert!(interval_ms > 0, "a RUS interval is at least a minute (the scenario checks it)");
        let next_pass = (!recipients.is_empty()).then_some(Instant(interval_ms));
        RecipientUpdateService { interval_ms, unstamped: recipients, next_pass }
    }

    /// When the next pass is due, if any is.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_pass
    }

    /// Runs the pass due by `now`, if one is, over what `replica` (its DC's) holds;
    /// `address` is each recipient's primary SMTP address. A DC that is down runs no
    /// pass (the next is still scheduled). `None` when no pass ran.
    pub fn handle_timeout(
        &mut self,
        now: Instant,
        replica: &Replica,
        dc_up: bool,
        address: impl Fn(AddressId) -> String,
    ) -> Option<Pass> {
        let pass = self.next_pass.filter(|at| *at <= now)?;
        debug_assert!(pass.as_ms() % self.interval_ms == 0, "passes fall on multiples of the interval");
        let every = self.interval_ms;
        self.next_pass = Some(Instant((now.as_ms() / every + 1) * every));
        if !dc_up {
            return None;
        }
        let mut done = Pass::default();
        self.unstamped.retain(|&a| {
            let Some(o) = replica.object(recipient_object(a)) else { return true };
            if o.is_deleted() || !o.values(STAMPED_ATTRIBUTE).is_empty() {
                return false;
            }
            if o.values(CREATED_ATTRIBUTE).is_empty() {
                return true;
            }
            done.writes.push((
                recipient_object(a),
                vec![(STAMPED_ATTRIBUTE.to_string(), vec![format!("SMTP:{}", address(a))])],
            ));
            done.stamped.push(a);
            false
        });
        if self.unstamped.is_empty() {
            self.next_pass = None;
        }
        Some(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::ad_replication::DcId;

    fn created(replica: &mut Replica, at_ms: u64, a: u32) {
        replica.write(at_ms, recipient_object(AddressId(a)), &[(CREATED_ATTRIBUTE, vec!["user".into()])]);
    }

    fn name(a: AddressId) -> String {
        format!("u{}@contoso.com", a.0)
    }

    #[test]
    fn a_pass_stamps_what_its_dc_holds_as_created_and_waits_for_the_rest() {
        let mut replica = Replica::new(DcId(0));
        let mut rus = RecipientUpdateService::new(60_000, vec![AddressId(1), AddressId(2), AddressId(3)]);
        assert_eq!(rus.poll_timeout(), Some(Instant(60_000)));
        created(&mut replica, 10_000, 1);
        assert_eq!(rus.handle_timeout(Instant(59_999), &replica, true, name), None, "not due yet");
        let pass = rus.handle_timeout(Instant(60_000), &replica, true, name).unwrap();
        assert_eq!(pass.stamped, vec![AddressId(1)]);
        assert_eq!(pass.writes[0].1, vec![(STAMPED_ATTRIBUTE.to_string(), vec!["SMTP:u1@contoso.com".to_string()])]);
        assert_eq!(rus.poll_timeout(), Some(Instant(120_000)), "2 and 3 are not created here yet");
        // 2 is created, 3 created and deleted, before the next pass; the DC is down then.
        created(&mut replica, 70_000, 2);
        created(&mut replica, 70_000, 3);
        replica.delete(80_000, recipient_object(AddressId(3)));
        assert_eq!(rus.handle_timeout(Instant(120_000), &replica, false, name), None, "a DC that is down runs no pass");
        assert_eq!(rus.poll_timeout(), Some(Instant(180_000)));
        let pass = rus.handle_timeout(Instant(180_000), &replica, true, name).unwrap();
        assert_eq!(pass.stamped, vec![AddressId(2)], "a deleted recipient is not stamped");
        assert_eq!(rus.poll_timeout(), None, "nothing is left to stamp");
    }

    #[test]
    fn a_late_pass_falls_back_onto_the_schedule() {
        let replica = Replica::new(DcId(0));
        let mut rus = RecipientUpdateService::new(60_000, vec![AddressId(1)]);
        assert_eq!(rus.handle_timeout(Instant(150_000), &replica, true, name), Some(Pass::default()));
        assert_eq!(rus.poll_timeout(), Some(Instant(180_000)));
    }
}
