//! Offline address books (EXCHANGE2003.md §9): each becomes an `OabConfig` for its
//! generation server's System Attendant, and the organization's legacyExchangeDN naming
//! (organization and administrative group names) for the GCs that return the entries.

use super::public_folders::PublicPlan;
use super::*;
use crate::scenario::OfflineAddressBookDef;
use org::directory::global_catalog::LegacyDnNaming;
use org::public_folders::cn_set::ReplicaId;
use org::public_folders::replication_message::{FolderId, FolderProps};
use org::system_attendant::oab::distribution::OabVersion;
use org::system_attendant::oab::oal_generator::OabDefinition;
use org::system_attendant::oab::property_limits::PropertyLimits;
use org::system_attendant::oal_generation::{OabConfig, OabId};
use org::version::ExchangeVersion;

/// The OABs as resolved.
pub(super) struct OabPlan {
    pub(super) configs: Vec<OabConfig>,
    pub(super) naming: LegacyDnNaming,
    /// The OFFLINE ADDRESS BOOK folders made, with their paths (for the trace).
    pub(super) folder_paths: Vec<(FolderId, String)>,
    pub(super) clients: Vec<OabClientSpec>,
    /// The OABs generated before the run began.
    pub(super) before_start: Vec<OabId>,
}

/// The system folder the OAB folders live under (§9).
const OAB_ROOT: &str = "OFFLINE ADDRESS BOOK";

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
    pub(super) fn offline_address_books(&mut self, scenario: &Scenario, org: &Org, public: &mut PublicPlan) -> OabPlan {
        let t = &scenario.topology;
        let list = p().key("offline_address_books");
        let oabs = &scenario.offline_address_books;
        self.names("offline address book", list.clone(), oabs.iter().map(|o| o.name.as_str()), "name");
        let mut configs: Vec<OabConfig> =
            oabs.iter().enumerate().filter_map(|(i, o)| self.oab(o, org, &t.organization, &list.index(i))).collect();
        let (mut folder_paths, mut clients, mut before_start) = (Vec::new(), Vec::new(), Vec::new());
        if configs.len() == oabs.len() {
            for (i, (o, config)) in oabs.iter().zip(&mut configs).enumerate() {
                let at = list.index(i);
                config.folders = self.oab_folders(o, config, org, public, &at, &mut folder_paths);
                let oab = OabId(i as u16);
                clients.extend(self.oab_clients(o, oab, &config.folders, org, &at));
                if o.generated_before_start {
                    before_start.push(oab);
                }
            }
        }
        // A server's administrative group is its routing group's.
        let admin_groups = t
            .servers
            .iter()
            .map(|s| {
                let group = t.routing_groups.iter().find(|g| Names::fold(&g.name) == Names::fold(&s.routing_group));
                group.map(|g| g.administrative_group.clone()).unwrap_or_default()
            })
            .collect();
        let naming = LegacyDnNaming { organization: t.organization.clone(), admin_groups };
        OabPlan { configs, naming, folder_paths, clients, before_start }
    }

    /// The OAB's folders under OFFLINE ADDRESS BOOK, one per version its server makes
    /// (2 and 3a; 4 from SP2), replicated to the generation server's public store and
    /// the listed ones; none when the generation server has no public store and nothing
    /// asks for the folders.
    fn oab_folders(
        &mut self,
        o: &OfflineAddressBookDef,
        config: &OabConfig,
        org: &Org,
        public: &mut PublicPlan,
        at: &JsonPath,
        paths: &mut Vec<(FolderId, String)>,
    ) -> Vec<(OabVersion, FolderId)> {
        let own = public.stores.iter().position(|s| s.server == config.server);
        let needed = !o.replicas.is_empty() || !o.clients.is_empty() || o.generated_before_start;
        let Some(own) = own else {
            if needed {
                let message = format!(
                    "the OAB's files are posted to public folders on its generation server {:?}, which has no public \
                     store: give one of its storage groups a \"public_store\"",
                    o.server
                );
                self.error(&at.key("server"), message);
            }
            return Vec::new();
        };
        let mut replicas = match o.replicas.is_empty() {
            true => Vec::new(),
            false => self.replica_list(&o.replicas, public, &at.key("replicas")),
        };
        replicas.push(ReplicaId(own as u16));
        replicas.sort_unstable();
        replicas.dedup();
        if public.paths.get(OAB_ROOT).is_some() {
            let message = format!("the folder {OAB_ROOT:?} is the System Attendant's: name yours otherwise");
            self.error(&p().key("public_folders").key("folders"), message);
        }
        let reviewer = crate::scenario::DefaultRoleDef::Reviewer.to_org();
        let folder = |name: String, parent| FolderProps {
            name,
            parent,
            replicas: replicas.clone(),
            schedule: None,
            mail_enabled: false,
            default_role: reviewer,
        };
        let root = match paths.first() {
            Some((id, _)) => *id,
            None => {
                let id = public.setup.folder(folder(OAB_ROOT.to_string(), None));
                paths.push((id, OAB_ROOT.to_string()));
                id
            }
        };
        let oab = public.setup.folder(folder(o.name.clone(), Some(root)));
        paths.push((oab, format!("{OAB_ROOT}/{}", o.name)));
        let sp2 = org.server_configs[usize::from(config.server.0)].version >= ExchangeVersion::Exchange2003Sp2;
        let versions = [OabVersion::V2, OabVersion::V3a, OabVersion::V4];
        let mut out = Vec::new();
        for version in versions.into_iter().filter(|v| sp2 || *v != OabVersion::V4) {
            let id = public.setup.folder(folder(version.folder().to_string(), Some(oab)));
            paths.push((id, format!("{OAB_ROOT}/{}/{}", o.name, version.folder())));
            out.push((version, id));
        }
        out
    }

    /// The OAB's client populations: on mailbox servers, with a folder to download from.
    fn oab_clients(
        &mut self,
        o: &OfflineAddressBookDef,
        oab: OabId,
        folders: &[(OabVersion, FolderId)],
        org: &Org,
        at: &JsonPath,
    ) -> Vec<OabClientSpec> {
        use crate::scenario::OutlookVersion;
        let mut out = Vec::new();
        for (k, c) in o.clients.iter().enumerate() {
            let at = at.key("clients").index(k);
            let server = self.reference(&org.servers, "server", &c.server, &at.key("server"));
            if !(1..=100_000).contains(&c.count) {
                self.error(&at.key("count"), "expected 1 to 100000 clients");
            }
            let has_v4 = folders.iter().any(|(v, _)| *v == OabVersion::V4);
            let (version, label) = match c.outlook {
                OutlookVersion::Outlook2003Sp2 if has_v4 => (OabVersion::V4, ""),
                OutlookVersion::Outlook2003Sp2 => (OabVersion::V3a, ""),
                OutlookVersion::Outlook2003 => (OabVersion::V3a, " (Outlook 2003)"),
                OutlookVersion::Outlook2002 => (OabVersion::V2, " (Outlook 2002)"),
            };
            if let (Some(server), false) = (server, folders.is_empty()) {
                let name = format!("{} @ {}{label}", o.name, c.server);
                out.push(OabClientSpec { oab, server: ServerId(server as u16), count: c.count, version, name });
            }
        }
        out
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
        Some(OabConfig { definition, server, schedule_ms, folders: Vec::new() })
    }
}

/// A stable 48-bit fingerprint of a name (the OAB's container GUID is made from it).
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
        & 0xFFFF_FFFF_FFFF
}

/// The OABs generated before the run began: each generator has run once over the
/// address list as the directory holds it at the start, and its files are the starting
/// messages of its folder (on every replica).
pub(super) fn pregenerate(
    topology: &org::config::topology::Topology,
    before_start: &[OabId],
    setup: &mut org::public_folders::public_store::Setup,
) -> Vec<PregeneratedOab> {
    use org::directory::global_catalog::AsOf;
    use org::public_folders::replication_message::ItemProps;
    use org::system_attendant::oab::distribution::posted;
    use org::system_attendant::oab::oal_generator::OalGenerator;
    if before_start.is_empty() {
        return Vec::new();
    }
    let entries = topology.directory.address_list(&AsOf(Instant::ZERO), &topology.legacy_dn_naming);
    let mut out = Vec::new();
    for &oab in before_start {
        let config = &topology.offline_address_books[usize::from(oab.0)];
        let mut generator = OalGenerator::new(config.definition.clone());
        let generation = generator.generate(&entries);
        for (version, files) in posted(oab, &generation) {
            let Some(folder) = config.folder(version) else { continue };
            for (file, size_bytes) in files {
                setup.item(folder, ItemProps { size_bytes, oab_file: Some(file) });
            }
        }
        let (generator, generation) = (Arc::new(generator), Arc::new(generation));
        out.push(PregeneratedOab { oab, server: config.server, generator, generation });
    }
    out
}
