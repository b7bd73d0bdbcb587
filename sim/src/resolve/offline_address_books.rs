//! Offline address books (EXCHANGE2003.md §9): each becomes an `OabConfig` for its
//! generation server's System Attendant, and the organization's legacyExchangeDN naming
//! (organization and administrative group names) for the GCs that return the entries.

use super::*;
use crate::scenario::OfflineAddressBookDef;
use org::directory::global_catalog::LegacyDnNaming;
use org::system_attendant::oab::oal_generator::OabDefinition;
use org::system_attendant::oab::property_limits::PropertyLimits;
use org::system_attendant::oal_generation::OabConfig;

/// The OABs as resolved.
pub(super) struct OabPlan {
    pub(super) configs: Vec<OabConfig>,
    pub(super) naming: LegacyDnNaming,
}

/// `HH:MM` as milliseconds since midnight.
pub fn parse_time_of_day(text: &str) -> Option<u64> {
    let (h, m) = text.split_once(':')?;
    let digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(h) || !digits(m) {
        return None;
    }
    let (h, m): (u64, u64) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some((h * 60 + m) * 60_000)
}

impl Resolver<'_> {
    pub(super) fn offline_address_books(&mut self, scenario: &Scenario, org: &Org) -> OabPlan {
        let t = &scenario.topology;
        let list = p().key("offline_address_books");
        let oabs = &scenario.offline_address_books;
        self.names("offline address book", list.clone(), oabs.iter().map(|o| o.name.as_str()), "name");
        let configs =
            oabs.iter().enumerate().filter_map(|(i, o)| self.oab(o, org, &t.organization, &list.index(i))).collect();
        // A server's administrative group is its routing group's.
        let admin_groups = t
            .servers
            .iter()
            .map(|s| {
                let group = t.routing_groups.iter().find(|g| Names::fold(&g.name) == Names::fold(&s.routing_group));
                group.map(|g| g.administrative_group.clone()).unwrap_or_default()
            })
            .collect();
        OabPlan { configs, naming: LegacyDnNaming { organization: t.organization.clone(), admin_groups } }
    }

    fn oab(&mut self, o: &OfflineAddressBookDef, org: &Org, organization: &str, at: &JsonPath) -> Option<OabConfig> {
        let server = self.reference(&org.servers, "server", &o.server, &at.key("server"));
        let mut schedule_ms = Vec::new();
        for (k, time) in o.schedule.iter().enumerate() {
            match parse_time_of_day(time) {
                Some(ms) => schedule_ms.push(ms),
                None => self.error(&at.key("schedule").index(k), format!("expected a time of day HH:MM, not {time:?}")),
            }
        }
        if o.schedule.is_empty() {
            self.error(&at.key("schedule"), "expected at least one start time (OALGen runs on a schedule)");
        }
        schedule_ms.sort_unstable();
        schedule_ms.dedup();
        if o.address_lists.is_empty() {
            self.error(&at.key("address_lists"), "expected at least one address list");
        }
        if !(1..=100).contains(&o.mass_change_pct) {
            self.error(&at.key("mass_change_pct"), "expected a share from 1 to 100 per cent");
        }
        let limits = match o.property_limits {
            None => PropertyLimits::default(),
            Some(l) => {
                for (field, v) in [
                    ("string_bytes_max", l.string_bytes_max),
                    ("binary_bytes_max", l.binary_bytes_max),
                    ("values_max", l.values_max),
                ] {
                    if v == 0 {
                        self.error(&at.key("property_limits").key(field), "expected a limit above 0");
                    }
                }
                PropertyLimits {
                    string_bytes_max: l.string_bytes_max,
                    binary_bytes_max: l.binary_bytes_max,
                    values_max: l.values_max,
                }
            }
        };
        let server = ServerId(server? as u16);
        let version = org.server_configs[usize::from(server.0)].version;
        let definition = OabDefinition {
            name: o.name.clone(),
            dn: format!("/o={organization}/cn=addrlists/cn=oabs/cn={}", o.name),
            guid: format!("{:08x}-0000-0000-0000-{:012x}", Names::fold(&o.name).len(), fnv(&o.name)),
            address_lists: o.address_lists.clone(),
            server_version: version,
            post_full_if_diff_fails: o.post_full_if_diff_fails,
            limits,
            mass_change_pct: o.mass_change_pct,
        };
        Some(OabConfig { definition, server, schedule_ms })
    }
}

/// A stable 48-bit fingerprint of a name (the OAB's container GUID is made from it).
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
        & 0xFFFF_FFFF_FFFF
}
