//! Public folder replication as mail: the agent's messages travel through SMTPSVC,
//! routing and the connector to the other server's public store, and the store keeps
//! what it received across a restart.

use super::*;
use crate::config::topology::PublicStoreConfig;
use crate::public_folders::cn_set::ReplicaId;
use crate::public_folders::public_store::{PublicStoreSettings, Setup};
use crate::public_folders::replication_message::DefaultRole;
use crate::public_folders::replication_message::{FolderId, FolderKey, FolderProps, ReplicationKind};
use crate::time::MINUTE_MS;

/// EX0 and EX1 of `two_groups`, each with a public store; one folder replicated to
/// both, holding two items.
fn with_public_stores() -> (Arc<Topology>, FolderId) {
    let mut topo = (*two_groups()).clone();
    let mut setup = Setup::default();
    let props = FolderProps {
        name: "Sales".into(),
        parent: None,
        replicas: vec![ReplicaId(0), ReplicaId(1)],
        schedule: None,
        mail_enabled: false,
        default_role: DefaultRole::Author,
    };
    let folder = setup.folder(props);
    setup.items(folder, 2, 50_000);
    for i in 0..2u16 {
        let address = AddressId(10 + u32::from(i));
        topo.directory.add_public_store(address, ReplicaId(i), ServerId(i));
        topo.public_stores.push(PublicStoreConfig {
            name: format!("Public Store (EX{i})"),
            server: ServerId(i),
            address,
            site: i,
            settings: PublicStoreSettings::default(),
        });
    }
    topo.public_folders = Arc::new(setup);
    (Arc::new(topo), folder)
}

fn content(server: &ExchangeServer, folder: FolderId) -> crate::public_folders::cn_set::CnSet {
    server.public_store().expect("a public store").folders()[&folder].items.cn_set().clone()
}

#[test]
fn a_post_replicates_as_mail_over_the_connector() {
    let (topo, folder) = with_public_stores();
    let (mut servers, mut disks) = two_servers(&topo);
    assert_eq!(content(&servers[0], folder).len(), 2, "the starting items");
    servers[0].handle_public_post(Instant(1_000), folder, 120_000).unwrap();
    let events = pump(&mut servers, &mut disks, Instant(20 * MINUTE_MS));
    let sent: Vec<(MessageId, u64)> = events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::PfSent { message, kind: ReplicationKind::Content, folder: f, to, size_bytes, changes: 1 }
                if *f == FolderKey::Folder(folder) && to == &vec![ReplicaId(1)] =>
            {
                Some((*message, *size_bytes))
            }
            _ => None,
        })
        .collect();
    assert_eq!(sent.len(), 1, "one content message at the first cycle: {events:?}");
    let (message, size_bytes) = sent[0];
    assert!(size_bytes > 120_000, "the item and the replication properties");
    let transferred = events.iter().any(|e| {
        matches!(e, ServerEvent::Transferred { message: m, size_bytes: s, .. } if *m == message && *s == size_bytes)
    });
    assert!(transferred, "it crossed the connector as mail of its size: {events:?}");
    assert!(events
        .iter()
        .any(|e| matches!(e, ServerEvent::PfReceived { message: m, from: ReplicaId(0), .. } if *m == message)));
    assert_eq!(content(&servers[1], folder), content(&servers[0], folder));
    assert_eq!(content(&servers[1], folder).len(), 3);
    // What EX1's store received is durable: a restart keeps it.
    let restarted = restart(ServerId(1), topo.clone(), &mut disks[1], 7, Instant(21 * MINUTE_MS));
    assert_eq!(content(&restarted, folder).len(), 3);
}

#[test]
fn a_folder_without_a_replica_here_refuses_a_post() {
    let (topo, folder) = with_public_stores();
    let mut topo = (*topo).clone();
    let mut setup = (*topo.public_folders).clone();
    let props = FolderProps {
        name: "Local".into(),
        parent: None,
        replicas: vec![ReplicaId(1)],
        schedule: None,
        mail_enabled: false,
        default_role: DefaultRole::Author,
    };
    let local = setup.folder(props);
    topo.public_folders = Arc::new(setup);
    let topo = Arc::new(topo);
    let (mut servers, _) = two_servers(&topo);
    assert!(servers[0].handle_public_post(Instant(1), folder, 1).is_ok());
    assert_eq!(
        servers[0].handle_public_post(Instant(1), local, 1),
        Err(crate::public_folders::public_store::PfRefusal::NoReplicaHere)
    );
}
