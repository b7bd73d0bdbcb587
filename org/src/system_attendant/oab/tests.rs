//! The generator's rules by version, and its files read back.

use super::address_entry::AddressEntry;
use super::changes_file::apply_changes;
use super::compressed_file::{decompress, decompress_as, VERSION_2_3};
use super::full_details::{FullDetails, PropValue};
use super::legacy_files::{read, FileSet, RecordSet};
use super::oal_generator::*;
use super::patch_file::apply_patch;
use super::property_limits::PropertyLimits;
use crate::version::ExchangeVersion;
use proptest::prelude::*;

pub fn entry(i: u32, domain: &str, department: &str) -> AddressEntry {
    AddressEntry::synthetic("Contoso", i, domain, department)
}

pub fn definition(version: ExchangeVersion) -> OabDefinition {
    OabDefinition {
        name: "Default Offline Address List".into(),
        dn: "/o=Contoso/cn=addrlists/cn=oabs/cn=Default Offline Address List".into(),
        guid: "5f3e6d2a-0c41-4e4b-9d6a-3c1f0e2b7a19".into(),
        address_lists: vec!["Default Global Address List".into()],
        server_version: version,
        post_full_if_diff_fails: false,
        limits: PropertyLimits::default(),
        mass_change_pct: 10,
    }
}

fn directory(n: u32) -> Vec<AddressEntry> {
    (0..n).map(|i| entry(i, "contoso.com", &format!("Dept {}", i % 30))).collect()
}

#[test]
fn sp2_posts_version_4_full_files_and_patches_that_rebuild_them() {
    let mut generator = OalGenerator::new(definition(ExchangeVersion::Exchange2003Sp2));
    let mut users = directory(5_000);
    let first = generator.generate(&users);
    assert_eq!(first.legacy, LegacyOutcome::FirstFull);
    let v4 = first.v4.expect("SP2 writes version 4");
    assert_eq!(v4.patch, None);
    assert_eq!(decompress(&v4.compressed).as_deref(), Ok(&v4.full[..]));
    let parsed = FullDetails::parse(&v4.full).expect("reads back");
    assert_eq!(parsed.records.len(), 5_000);
    assert_eq!(parsed.header[1], Some(PropValue::Integer32(1)));
    for u in users.iter_mut().step_by(100) {
        u.details[3] = "Moved".into();
    }
    users.push(entry(9_999_999, "contoso.com", "New"));
    let second = generator.generate(&users);
    assert_eq!(second.legacy, LegacyOutcome::Diff);
    assert_eq!((second.added, second.removed, second.changed), (1, 0, 50));
    let v4b = second.v4.expect("version 4");
    let patch = v4b.patch.expect("a patch from sequence 1");
    assert!(patch.len() * 20 < v4b.compressed.len(), "patch {} vs full {}", patch.len(), v4b.compressed.len());
    assert_eq!(apply_patch(&v4.full, &patch).as_deref(), Ok(&v4b.full[..]));
}

#[test]
fn a_domain_rename_forces_full_files_before_sp2() {
    let mut generator = OalGenerator::new(definition(ExchangeVersion::Exchange2003Sp1));
    let users = directory(200);
    assert!(generator.generate(&users).v4.is_none(), "SP1 writes no version 4");
    let renamed: Vec<_> = (0..200).map(|i| entry(i, "fabrikam.com", &format!("Dept {}", i % 30))).collect();
    let g = generator.generate(&renamed);
    assert_eq!(
        g.legacy,
        LegacyOutcome::ForcedFull { reason: DiffBlocker::NewSmtpDomain { domain: "fabrikam.com".into() } }
    );
    assert!(g.events.is_empty(), "SP1 logs no diff failure");
    assert_eq!(g.legacy_sequence, 2);
}

#[test]
fn sp2_without_the_switch_posts_nothing_and_stays_stuck_then_the_switch_helps() {
    let mut generator = OalGenerator::new(definition(ExchangeVersion::Exchange2003Sp2));
    generator.generate(&directory(100));
    let mut moved = directory(100);
    moved[5].legacy_dn = moved[5].legacy_dn.replace("First Administrative Group", "Branch");
    for _ in 0..2 {
        let g = generator.generate(&moved);
        assert!(matches!(g.legacy, LegacyOutcome::NoUpdate { reason: DiffBlocker::ParentDnChanged { .. } }));
        assert!(matches!(g.events[..], [OabEvent::DiffFailed { posted_full: false, .. }]));
        assert_eq!(g.legacy_sequence, 1, "clients get no update");
        assert!(g.v4.and_then(|v| v.patch).is_some(), "version 4 always has a diff");
    }
    let mut d = generator.definition().clone();
    d.post_full_if_diff_fails = true;
    generator.reconfigure(d);
    let g = generator.generate(&moved);
    assert!(matches!(g.legacy, LegacyOutcome::ForcedFull { .. }));
    assert!(matches!(g.events[..], [OabEvent::DiffFailed { posted_full: true, .. }]));
    assert_eq!(g.legacy_sequence, 2);
    assert_eq!(generator.generate(&moved).legacy, LegacyOutcome::Diff, "caught up");
}

#[test]
fn new_address_types_lists_and_mass_changes_block_the_legacy_diff() {
    let base = directory(100);
    let run = |changed: &[AddressEntry], lists: Option<Vec<String>>| {
        let mut generator = OalGenerator::new(definition(ExchangeVersion::Exchange2003Sp1));
        generator.generate(&base);
        if let Some(lists) = lists {
            let mut d = generator.definition().clone();
            d.address_lists = lists;
            generator.reconfigure(d);
        }
        generator.generate(changed).legacy
    };
    let mut fax = base.clone();
    fax[3].proxies.push("FAX:+1 425 555 0100".into());
    assert_eq!(
        run(&fax, None),
        LegacyOutcome::ForcedFull { reason: DiffBlocker::NewAddressType { address_type: "FAX".into() } }
    );
    let mut mass = base.clone();
    mass.iter_mut().take(11).for_each(|u| u.details[4] = "Contoso Ltd".into());
    assert_eq!(
        run(&mass, None),
        LegacyOutcome::ForcedFull { reason: DiffBlocker::MassChange { attribute: "company", records: 11 } }
    );
    mass.truncate(100);
    let few: Vec<_> = base
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, mut u)| {
            if i < 10 {
                u.details[4] = "X".into();
            }
            u
        })
        .collect();
    assert_eq!(run(&few, None), LegacyOutcome::Diff, "10 % is not more than 10 %");
    let lists = Some(vec!["Default Global Address List".into(), "Sales".into()]);
    assert_eq!(
        run(&base, lists),
        LegacyOutcome::ForcedFull { reason: DiffBlocker::NewAddressList { list: "Sales".into() } }
    );
}

#[test]
fn values_over_the_limits_are_logged() {
    let mut d = definition(ExchangeVersion::Exchange2003Sp2);
    d.limits = PropertyLimits { string_bytes_max: 30, binary_bytes_max: 100, values_max: 1 };
    let mut generator = OalGenerator::new(d);
    let mut users = directory(3);
    users[1].display_name = "A display name well over thirty bytes".into();
    let g = generator.generate(&users);
    let rdn = users[1].rdn();
    assert!(g.events.contains(&OabEvent::AttributeDropped { rdn: rdn.clone(), tag: 0x3001_001F }));
    // Every user has two proxies and a limit of one value: three altered records.
    assert_eq!(g.events.iter().filter(|e| matches!(e, OabEvent::RecordAltered { .. })).count(), 3);
    let parsed = FullDetails::parse(&g.v4.expect("v4").full).expect("reads");
    assert!(parsed.records.iter().all(|r| matches!(&r[13], Some(PropValue::MultiText(v)) if v.len() == 1)));
}

/// The client's side of versions 2/3a: the five files of a set decompressed and read.
fn held_set(v: &LegacyVersionFiles) -> RecordSet {
    let files = v.full.each_ref().map(|c| decompress_as(VERSION_2_3, c).expect("2.1 container"));
    read(v.version, &FileSet { files }).expect("reads")
}

#[test]
fn every_run_that_posts_has_legacy_files_and_a_diff_run_a_changes_file_that_applies() {
    let mut generator = OalGenerator::new(definition(ExchangeVersion::Exchange2003Sp1));
    let mut users = directory(400);
    let first = generator.generate(&users).legacy_files.expect("the first run posts full sets");
    assert_eq!(first.sequence, 1);
    assert!(first.versions.iter().all(|v| v.changes.is_none()));
    assert_eq!(&first.versions[1].full[0][0..8], &[2, 0, 0, 0, 1, 0, 0, 0], "LZX_HDR 2.1");
    let mut held = first.versions.each_ref().map(held_set);
    for day in 0..3 {
        for u in users.iter_mut().skip(day).step_by(50) {
            u.details[6] = format!("+1 425 555 {day:04}");
        }
        users.push(entry(50_000 + day as u32, "contoso.com", "New"));
        let g = generator.generate(&users);
        assert_eq!(g.legacy, LegacyOutcome::Diff);
        let files = g.legacy_files.expect("posted");
        for (v, held) in files.versions.iter().zip(&mut held) {
            let changes = decompress_as(VERSION_2_3, v.changes.as_ref().expect("a Changes file")).expect("unpacks");
            *held = apply_changes(v.version, held, &changes).expect("applies");
            assert_eq!(*held, held_set(v), "{:?} day {day}: the Changes file gives the posted set", v.version);
            assert!(v.changes.as_ref().unwrap().len() * 20 < v.full_bytes() as usize);
        }
    }
}

#[test]
fn a_forced_full_posts_full_sets_without_changes_and_no_update_posts_nothing() {
    let mut sp1 = OalGenerator::new(definition(ExchangeVersion::Exchange2003Sp1));
    let mut sp2 = OalGenerator::new(definition(ExchangeVersion::Exchange2003Sp2));
    let users = directory(100);
    sp1.generate(&users);
    sp2.generate(&users);
    let renamed: Vec<_> = (0..100).map(|i| entry(i, "fabrikam.com", &format!("Dept {}", i % 30))).collect();
    let forced = sp1.generate(&renamed).legacy_files.expect("SP1 forces full sets");
    assert_eq!(forced.sequence, 2);
    assert!(forced.versions.iter().all(|v| v.changes.is_none()));
    assert_eq!(held_set(&forced.versions[0]).values().next().map(|r| r.smtp_domain.as_str()), Some("fabrikam.com"));
    let stuck = sp2.generate(&renamed);
    assert!(matches!(stuck.legacy, LegacyOutcome::NoUpdate { .. }));
    assert_eq!(stuck.legacy_files, None);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// For random directories and change sets, every patch rebuilds the next full file.
    #[test]
    fn every_patch_rebuilds_the_next_full_file(
        size in 1u32..1_500,
        days in prop::collection::vec(prop::collection::vec((any::<prop::sample::Index>(), 0u8..4), 0..60), 1..4),
    ) {
        let mut generator = OalGenerator::new(definition(ExchangeVersion::Exchange2003Sp2));
        let mut users = directory(size);
        let mut held = generator.generate(&users).v4.expect("v4").full.to_vec();
        let mut next_id = size;
        for changes in days {
            for (at, kind) in changes {
                let n = users.len();
                match kind {
                    0 if n > 0 => users[at.index(n)].details[3] = format!("Dept {next_id}"),
                    1 if n > 1 => { users.remove(at.index(n)); }
                    2 if n > 0 => users[at.index(n)].display_name = format!("Renamed {next_id}"),
                    _ => { users.push(entry(next_id, "contoso.com", "New")); }
                }
                next_id += 1;
            }
            let v4 = generator.generate(&users).v4.expect("v4");
            let patch = v4.patch.expect("patch");
            held = apply_patch(&held, &patch).expect("applies");
            prop_assert!(held == *v4.full);
        }
    }
}
