//! Test fixtures shared by the services' and the server's unit tests.

use crate::config::topology::{
    ConnectorConfig, RoutingGroupConfig, ServerConfig, SmtpVirtualServerConfig, StoreConfig, Topology,
};
use crate::directory::global_catalog::{GlobalCatalog, MailboxEntry};
use crate::version::ExchangeVersion;
use crate::{AddressId, Entropy, RoutingGroupId, ServerId, StoreId};
use std::sync::Arc;

/// A deterministic stand-in for a ChaCha stream.
pub struct Counter(pub u64);
impl Entropy for Counter {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0
    }
}

/// EX0 in RG0, EX1 in RG1, one connector each way; mailbox 1 on EX0, mailbox 2 on EX1.
pub fn two_groups() -> Arc<Topology> {
    two_groups_of(ExchangeVersion::Exchange2003Sp2)
}

pub fn two_groups_of(version: ExchangeVersion) -> Arc<Topology> {
    let server = |i: u16| ServerConfig {
        ip: std::net::Ipv4Addr::UNSPECIFIED,
        name: format!("EX{i}"),
        forest: crate::ForestId(0),
        fqdn: format!("ex{i}.contoso.com"),
        version,
        routing_group: RoutingGroupId(i),
        smtp: SmtpVirtualServerConfig::default(),
        mta: crate::config::topology::MtaConfig::default(),
        global_catalogs: Vec::new(),
        dsaccess: None,
        journal_bcc: false,
        badmail: Default::default(),
    };
    let connector = |from: u16, to: u16| ConnectorConfig {
        name: format!("RG{from}-RG{to}"),
        kind: crate::config::topology::ConnectorKind::RoutingGroup,
        from: RoutingGroupId(from),
        to: RoutingGroupId(to),
        cost: 1,
        source_bridgeheads: vec![ServerId(from)],
        target_bridgeheads: vec![ServerId(to)],
    };
    let mut directory = GlobalCatalog::new();
    directory.add_mailbox(AddressId(1), MailboxEntry { store: StoreId(0), home_server: ServerId(0) });
    directory.add_mailbox(AddressId(2), MailboxEntry { store: StoreId(1), home_server: ServerId(1) });
    let mut stores: Vec<StoreConfig> = (0..2)
        .map(|s| StoreConfig {
            name: format!("MS{s}"),
            storage_group: "SG".into(),
            storage_group_id: crate::StorageGroupId(0),
            server: ServerId(s),
            size: Default::default(),
            quota: Default::default(),
            journal_recipient: None,
            profile: Default::default(),
            maintenance: Default::default(),
        })
        .collect();
    let storage_groups = crate::config::topology::StorageGroupConfig::of_stores(&mut stores);
    Arc::new(Topology {
        servers: vec![server(0), server(1)],
        routing_groups: (0..2)
            .map(|g| RoutingGroupConfig {
                name: format!("RG{g}"),
                members: vec![ServerId(g)],
                master: ServerId(g),
                administrative_group: 0,
                forest: crate::ForestId(0),
            })
            .collect(),
        connectors: vec![connector(0, 1), connector(1, 0)],
        stores,
        storage_groups,
        directory,
        forests: Vec::new(),
        forest_directories: Vec::new(),
        gateways: Vec::new(),
        external: crate::transport::address_space::ExternalDirectory::new(),
        internet: crate::config::topology::InternetConfig::default(),
        plants: crate::planted_bugs::Plants::NONE,
        link_state: crate::config::topology::LinkStateConfig::default(),
        calendar: crate::calendar::Calendar::UNIX_EPOCH,
        junk_threshold: 6,
        recovery_storage_groups: Default::default(),
        public_stores: Vec::new(),
        public_folders: Default::default(),
        mailboxes: Default::default(),
        offline_address_books: Vec::new(),
        legacy_dn_naming: Default::default(),
        edge: Default::default(),
    })
}
