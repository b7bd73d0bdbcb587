//! orgsim's OAB version 4 files decode with libmspack, an independent implementation of
//! [MS-OXOAB] (Debian's `libmspack-dev`; `.ci/run` installs it): the compressed Full
//! Details file with `decompress`, the differential patch with `decompress_incremental`
//! against the previous full file — for random directories and random change sets.

mod common;

use org::system_attendant::oab::compressed_file::compress;
use org::system_attendant::oab::full_details::{FullDetails, PropRec, PropTag, PropValue, FLAG_ANR, FLAG_PRIMARY_KEY};
use org::system_attendant::oab::lzx::EncodeParams;
use org::system_attendant::oab::patch_file::{make_patch, Unit};
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Builds tests/oab_mspack.c once, linked with libmspack.
fn decoder() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("oab_mspack");
        let status = Command::new("cc")
            .arg(common::root().join("tests/oab_mspack.c"))
            .args(["-o"])
            .arg(&out)
            .arg("-lmspack")
            .status()
            .expect("this test builds a C program: install gcc");
        assert!(
            status.success(),
            "tests/oab_mspack.c needs libmspack: install Debian's `libmspack-dev` (`.ci/run` does)"
        );
        out
    })
}

fn mspack(args: &[&Path]) -> Result<(), String> {
    let out = Command::new(decoder()).args(args).output().expect("oab_mspack runs");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// A user: (sort key, primary key, display name, department, phone).
type User = (String, String, String, String, u32);

fn details(users: &[User], sequence: u32) -> FullDetails {
    let text = |s: &str| Some(PropValue::Text(s.to_owned()));
    FullDetails {
        header_schema: vec![
            PropRec { tag: PropTag(0x6800_001F), flags: 0 },
            PropRec { tag: PropTag(0x6801_0003), flags: 0 },
        ],
        object_schema: vec![
            PropRec { tag: PropTag(0x3003_001F), flags: FLAG_PRIMARY_KEY },
            PropRec { tag: PropTag(0x3001_001F), flags: FLAG_ANR },
            PropRec { tag: PropTag(0x3A18_001F), flags: 0 },
            PropRec { tag: PropTag(0x3A08_0003), flags: 0 },
            PropRec { tag: PropTag(0x800F_101F), flags: 0 },
        ],
        header: vec![text("Default Offline Address List"), Some(PropValue::Integer32(sequence))],
        records: users
            .iter()
            .map(|(_, dn, name, dept, phone)| {
                vec![
                    text(dn),
                    text(name),
                    text(dept),
                    Some(PropValue::Integer32(*phone)),
                    Some(PropValue::MultiText(vec![format!("SMTP:{}@example.com", name.replace(' ', "."))])),
                ]
            })
            .collect(),
    }
}

fn units<'a>(users: &'a [User], layout: &[std::ops::Range<usize>]) -> Vec<Unit<'a>> {
    let mut out = vec![Unit { key: b"", range: layout[0].clone() }];
    out.extend(users.iter().zip(&layout[1..]).map(|(u, r)| Unit { key: u.0.as_bytes(), range: r.clone() }));
    out
}

fn user(i: u32, salt: u32) -> User {
    let name = format!("User{:05} Surname{}", i, (i * 7 + salt) % 91);
    (
        format!("{}\u{1}{:05}", name.to_lowercase(), i),
        format!("/o=Org/ou=First Administrative Group/cn=Recipients/cn=user{i:05}"),
        name,
        format!("Dept {}", (i + salt) % 13),
        5_550_000 + i * 3 + salt,
    )
}

fn check(old_users: &[User], new_users: &[User], name: &str) {
    let dir = common::temp_dir(name);
    let (old, old_layout) = details(old_users, 1).write_with_layout();
    let (new, new_layout) = details(new_users, 2).write_with_layout();
    let packed = compress(&new, EncodeParams::default());
    let patch =
        make_patch(&old, &units(old_users, &old_layout), &new, &units(new_users, &new_layout), EncodeParams::default());
    let write = |file: &str, bytes: &[u8]| {
        let p = dir.join(file);
        std::fs::write(&p, bytes).expect("write");
        p
    };
    let (old_p, full_p, patch_p) = (write("old.oab", &old), write("new.lzx", &packed), write("new.patch", &patch));
    let (out_full, out_patch) = (dir.join("full.out"), dir.join("patch.out"));
    mspack(&[Path::new("full"), &full_p, &out_full]).expect("libmspack decompresses the full file");
    assert!(std::fs::read(&out_full).expect("output") == new, "full file differs after libmspack");
    mspack(&[Path::new("patch"), &patch_p, &old_p, &out_patch]).expect("libmspack applies the patch");
    assert!(std::fs::read(&out_patch).expect("output") == new, "patched file differs after libmspack");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_large_directory_with_one_percent_changed() {
    let old: Vec<User> = (0..20_000).map(|i| user(i, 0)).collect();
    let mut new = old.clone();
    for i in (0..20_000).step_by(100) {
        new[i] = user(i as u32, 1);
        new[i].0 = old[i].0.clone(); // same sort key: changed attributes only
        new[i].2 = old[i].2.clone();
    }
    new.retain(|u| !u.1.ends_with("77"));
    new.extend((20_000..20_050).map(|i| user(i, 0)));
    new.sort();
    check(&old, &new, "oab-large");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn random_directories_and_changes_decode_with_libmspack(
        size in 1u32..4_000,
        changes in prop::collection::vec((any::<prop::sample::Index>(), 0u8..3), 0..200),
        seed in any::<u32>(),
    ) {
        let old: Vec<User> = { let mut v: Vec<User> = (0..size).map(|i| user(i, seed % 5)).collect(); v.sort(); v };
        let mut new = old.clone();
        let mut next = size;
        for (at, kind) in changes {
            match kind {
                0 if !new.is_empty() => { let i = at.index(new.len()); new[i].3 = format!("Moved {seed}"); }
                1 if new.len() > 1 => { new.remove(at.index(new.len())); }
                _ => { new.push(user(next, seed)); next += 1; }
            }
        }
        new.sort();
        new.dedup_by(|a, b| a.0 == b.0);
        check(&old, &new, "oab-prop");
    }
}
