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

/// `orgsim oab` writes what two generations produced; libmspack reads the compressed file
/// and applies the later patch to the earlier full file, byte for byte.
#[test]
fn the_cli_writes_files_libmspack_reads() {
    let dir = common::temp_dir("oab-cli");
    let (early, late) = (dir.join("early"), dir.join("late"));
    for (at, out) in [("5h30m", &early), ("7h30m", &late)] {
        let o = common::orgsim(&["oab", "scenarios/oab-stale-gc.json", "--at", at, "--out", out.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(String::from_utf8_lossy(&o.stdout).contains("udetails.lzx"));
    }
    let folder = "Default_Offline_Address_List";
    let (early, late) = (early.join(folder), late.join(folder));
    let full = dir.join("full.out");
    mspack(&[Path::new("full"), &late.join("udetails.lzx"), &full]).expect("libmspack decompresses it");
    let expected = std::fs::read(late.join("udetails.oab")).unwrap();
    assert!(std::fs::read(&full).unwrap() == expected);
    let patched = dir.join("patched.out");
    let (patch, base) = (late.join("binpatch.lzx"), early.join("udetails.oab"));
    mspack(&[Path::new("patch"), &patch, &base, &patched]).expect("libmspack applies the patch");
    assert!(std::fs::read(&patched).unwrap() == expected);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(late.join("generation.json")).unwrap()).unwrap();
    assert_eq!(manifest["v4_sequence"], 3);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The version 2/3a files `orgsim oab` writes: libmspack reads only the 3.1 header, and
/// the 2.1 container differs from it in its version alone, so with the version patched
/// it decompresses every file of both sets and the Changes files to the `.oab` written
/// beside them.
#[test]
fn the_version_2_and_3a_containers_decode_with_libmspack() {
    let dir = common::temp_dir("oab-cli-legacy");
    let o =
        common::orgsim(&["oab", "scenarios/oab-legacy-clients.json", "--at", "2d6h", "--out", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let mut decoded = 0;
    for version in ["v2", "v3a"] {
        let sub = dir.join("OAL_posting_full").join(version);
        for entry in std::fs::read_dir(&sub).expect("the version's files").map(|e| e.unwrap().path()) {
            if entry.extension().is_none_or(|e| e != "lzx") {
                continue;
            }
            let mut packed = std::fs::read(&entry).unwrap();
            assert_eq!(&packed[0..8], &[2, 0, 0, 0, 1, 0, 0, 0], "{}: LZX_HDR 2.1", entry.display());
            packed[0] = 3;
            let (as_31, out) = (entry.with_extension("31"), entry.with_extension("out"));
            std::fs::write(&as_31, &packed).unwrap();
            mspack(&[Path::new("full"), &as_31, &out]).unwrap_or_else(|e| panic!("{}: {e}", entry.display()));
            assert!(std::fs::read(&out).unwrap() == std::fs::read(entry.with_extension("oab")).unwrap());
            decoded += 1;
        }
    }
    assert_eq!(decoded, 12, "five files and a Changes file for each version");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_oab_command_refuses_what_it_cannot_do() {
    let dir = common::temp_dir("oab-cli-errors");
    let out = dir.to_str().unwrap();
    let late = common::orgsim(&["oab", "scenarios/oab-stale-gc.json", "--at", "9h", "--out", out]);
    assert_eq!(late.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&late.stderr).contains("after the end of scenarios/oab-stale-gc.json"));
    let none = common::orgsim(&["oab", "scenarios/single-server.json", "--at", "1h", "--out", out]);
    assert_eq!(none.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&none.stderr).contains("has no offline_address_books"));
    let early = common::orgsim(&["oab", "scenarios/oab-stale-gc.json", "--at", "1h", "--out", out]);
    assert_eq!(early.status.code(), Some(1), "no generation before 02:00");
    assert!(String::from_utf8_lossy(&early.stdout).contains("no generation finished before 1h"));
    std::fs::remove_dir_all(&dir).unwrap();
}
