//! GAL synchronization between forests (EXCHANGE2003.md §6: MIIS 2003 / IIFP GalSync).
//! Its passes fall on multiples of the interval. A pass reads each forest's mailbox
//! users (those the forest's RUS has stamped) and writes, in every other forest's root
//! domain, a contact whose target is the user's address; a user deleted since the last
//! pass loses its contact. The target domain's RUS stamps a new contact on its next
//! pass, and with AD replication the contact is a write on that RUS's DC like any
//! other, so each forest's GCs learn it as replication brings it: the lag a user of one
//! forest spends unknown to the other's GAL is the pass, the stamp and replication.

use super::*;

/// A user of one forest as a pass sees it: its address, forest, when a pass can first
/// see it (None: before the start) and when it is gone.
struct Source {
    id: AddressId,
    forest: ForestId,
    mail: String,
    seen_ms: Option<u64>,
    gone_ms: Option<u64>,
}

/// The first pass after `t_ms`.
fn next_pass(t_ms: u64, every_ms: u64) -> u64 {
    (t_ms / every_ms + 1) * every_ms
}

impl Resolver<'_> {
    /// Adds the contacts the GalSync passes of the run create and delete.
    pub(super) fn gal_sync(&mut self, r: &Recipients, org: &Org, people: &mut People, duration_ms: u64) {
        let Some(def) = &r.gal_sync else { return };
        let at = p().key("recipients").key("gal_sync");
        if !org.forests.several() {
            self.error(&at, "GAL synchronization needs another forest (topology.forests)");
            return;
        }
        if def.interval.ms < 60_000 {
            self.error(&at.key("interval"), "expected an interval of at least 1m");
            return;
        }
        let every = def.interval.ms;
        let sources: Vec<Source> = (people.directory.objects())
            .filter(|(_, o)| o.class != ObjectClass::Contact && matches!(o.recipient, Recipient::Mailbox(_)))
            .map(|(id, o)| Source {
                id,
                forest: org.forests.domain[usize::from(o.domain.0)],
                mail: o.mail.clone(),
                seen_ms: o.created_at.map(|_| o.stamped_at.as_ms()),
                gone_ms: o.deleted_at.map(|d| d.as_ms()),
            })
            .collect();
        for target in (0..org.forests.configs.len()).map(|f| ForestId(f as u8)) {
            for source in sources.iter().filter(|s| s.forest != target) {
                let created_ms = source.seen_ms.map(|s| next_pass(s, every));
                if created_ms.is_some_and(|c| c >= duration_ms) {
                    continue;
                }
                let deleted_ms = source.gone_ms.map(|g| next_pass(g, every)).filter(|d| *d < duration_ms);
                self.synced_contact(org, people, source, target, (created_ms, deleted_ms), &at);
            }
        }
    }

    /// One contact in `target` for `source`: its own address is the user's alias at the
    /// target's primary domain, numbered when taken (as the RUS does).
    fn synced_contact(
        &mut self,
        org: &Org,
        people: &mut People,
        source: &Source,
        target: ForestId,
        (created_ms, deleted_ms): (Option<u64>, Option<u64>),
        at: &JsonPath,
    ) {
        let local = source.mail.split_once('@').map_or(source.mail.as_str(), |(l, _)| l);
        let primary = org.forests.primary(target);
        let address = (1..)
            .map(|n| if n == 1 { format!("{local}@{primary}") } else { format!("{local}{n}@{primary}") })
            .find(|a| people.book.address(a).is_none() && !people.book.external.contains_key(a))
            .expect("some number is free");
        let cn = address.split_once('@').map_or(local, |(l, _)| l).to_string();
        let Some(id) = self.intern(&mut people.book, address, at) else { return };
        let domain = org.root_domain(target);
        let placement = Placement {
            created_at: created_ms.map(crate::units::Duration::from_ms),
            deleted_at: deleted_ms.map(crate::units::Duration::from_ms),
            ..Placement::default()
        };
        let (created_at, stamped_at, deleted_at) =
            self.lifetime(&placement, AdDomainId(domain as u16), &people.rus, at);
        let head = people.containers.heads.get(domain).cloned().unwrap_or_default();
        let object = RecipientObject {
            class: ObjectClass::Contact,
            recipient: Recipient::Forward(source.id),
            domain: AdDomainId(domain as u16),
            dn: format!("CN={cn},{head}"),
            // A contact's mail is the outside address it stands for.
            mail: source.mail.clone(),
            restriction: Restriction::Anyone,
            attributes: BTreeMap::new(),
            created_at,
            stamped_at,
            deleted_at,
        };
        people.directory.add(id, object);
    }
}
