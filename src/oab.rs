//! `orgsim oab`: the files the last OALGen run before a moment produced, written out so
//! other tools can read them — the uncompressed version 4 Full Details file
//! (`udetails.oab`), its compressed container (`udetails.lzx`, [MS-OXOAB] 2.8) and the
//! differential patch from the previous sequence (`binpatch.lzx`, 2.10); under `v2/` and
//! `v3a/` the version 2/3a files of a run that posted them, each uncompressed (`.oab`)
//! and in its 2.1 container (`.lzx`), with the Changes file — and a `generation.json`
//! that says what they are.

use crate::{load_until, output_dir, output_error};
use org::planted_bugs::Plants;
use sim::units::Duration;
use sim::world::run;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

/// Runs `scenario` at `seed` up to `at` and writes each OAB's last generation under
/// `out/<OAB name>/`.
pub fn oab_command(scenario: &Path, seed: u64, at: Duration, out: &Path, plants: Plants) -> ExitCode {
    let resolved = match load_until("oab", scenario, at, plants) {
        Ok(r) => r,
        Err(code) => return code,
    };
    if resolved.topology.offline_address_books.is_empty() {
        eprintln!("orgsim oab: {} has no offline_address_books to generate", scenario.display());
        return ExitCode::from(2);
    }
    if let Err(code) = output_dir("--out", out) {
        return code;
    }
    let resolved = Arc::new(resolved);
    let outcome = run(resolved.clone(), seed, None);
    let mut written = 0;
    for (i, config) in resolved.topology.offline_address_books.iter().enumerate() {
        let name = &config.definition.name;
        let Some((at_ms, generation)) = &outcome.oab_files[i] else {
            println!("{name}: no generation finished before {at}");
            continue;
        };
        let dir = out.join(file_name(name));
        match write_generation(&dir, name, *at_ms, generation) {
            Ok(lines) => {
                println!("{name}: generation at {} → {}", Duration::from_ms(*at_ms), dir.display());
                lines.iter().for_each(|l| println!("  {l}"));
                written += 1;
            }
            Err(code) => return code,
        }
    }
    if written == 0 {
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

/// A name safe as a directory name on any system.
fn file_name(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

fn write_generation(
    dir: &Path,
    name: &str,
    at_ms: u64,
    g: &org::system_attendant::oab::oal_generator::Generation,
) -> Result<Vec<String>, ExitCode> {
    std::fs::create_dir_all(dir).map_err(|e| output_error("the OAB directory", dir, e))?;
    let mut lines = Vec::new();
    let mut put = |file: &str, bytes: &[u8], what: &str| -> Result<(), ExitCode> {
        let path = dir.join(file);
        std::fs::write(&path, bytes).map_err(|e| output_error(what, &path, e))?;
        lines.push(format!("{file:<16} {:>12} bytes  {what}", bytes.len()));
        Ok(())
    };
    if let Some(v4) = &g.v4 {
        put("udetails.oab", &v4.full, "version 4 Full Details file, uncompressed")?;
        put("udetails.lzx", &v4.compressed, "the same, compressed (LZX_HDR 3.1)")?;
        if let Some(patch) = &v4.patch {
            put("binpatch.lzx", patch, "patch from the previous sequence (PATCH_HDR 3.2)")?;
        }
    }
    let mut legacy_lines = Vec::new();
    for v in g.legacy_files.iter().flat_map(|l| &l.versions) {
        write_legacy(dir, v, &mut legacy_lines)?;
    }
    let manifest = serde_json::json!({
        "offline_address_book": name,
        "generated_at": Duration::from_ms(at_ms).to_string(),
        "records": g.records,
        "added": g.added,
        "removed": g.removed,
        "changed": g.changed,
        "v4_sequence": g.v4.as_ref().map(|v| v.sequence),
        "legacy": g.legacy,
        "legacy_sequence": g.legacy_sequence,
        "legacy_files_posted": g.legacy_files.is_some(),
        "events": g.events,
    });
    let text = serde_json::to_string_pretty(&manifest).expect("a manifest serializes") + "\n";
    put("generation.json", text.as_bytes(), "what these files are")?;
    lines.extend(legacy_lines);
    Ok(lines)
}

/// One version's 2/3a files under `dir/v2` or `dir/v3a`: each uncompressed and packed.
fn write_legacy(
    dir: &Path,
    v: &org::system_attendant::oab::oal_generator::LegacyVersionFiles,
    lines: &mut Vec<String>,
) -> Result<(), ExitCode> {
    use org::system_attendant::oab::compressed_file::{decompress_as, VERSION_2_3};
    use org::system_attendant::oab::distribution::OabVersion;
    let sub = OabVersion::from(v.version).as_str();
    let dir = dir.join(sub);
    std::fs::create_dir_all(&dir).map_err(|e| output_error("the OAB directory", &dir, e))?;
    let names = v.version.file_names().into_iter().zip(v.full.iter());
    for (name, packed) in names.chain(v.changes.iter().map(|c| (v.version.changes_name(), c))) {
        let raw = decompress_as(VERSION_2_3, packed).expect("the generator's own container reads");
        let stem = name.trim_end_matches(".oab");
        for (file, bytes, what) in [
            (name.to_string(), &raw[..], "uncompressed"),
            (format!("{stem}.lzx"), &packed[..], "compressed (LZX_HDR 2.1)"),
        ] {
            let path = dir.join(&file);
            std::fs::write(&path, bytes).map_err(|e| output_error("an OAB file", &path, e))?;
            lines.push(format!("{:<16} {:>12} bytes  {what}", format!("{sub}/{file}"), bytes.len()));
        }
    }
    Ok(())
}
