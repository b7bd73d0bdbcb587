//! The smaller tables: link state traffic, the Internet edge, directory access, public
//! folders and offline address book generations.

use crate::chart::group_digits;
use crate::trace_data::TraceData;
use crate::{escape, Html};

/// Link state, Internet edge, directory access and public folder tables, each where
/// the run has them.
pub fn other_tables(d: &TraceData) -> Html {
    let mut out = link_state_table(d).0;
    out.push_str(&internet_edge_table(d).0);
    out.push_str(&directory_access_table(d).0);
    out.push_str(&public_folder_table(d).0);
    out.push_str(&offline_address_book_table(d).0);
    out.push_str(&oab_download_table(d).0);
    Html(out)
}

/// Each run day's OAB client downloads per OAB: full files and diffs with their bytes,
/// the downloads lost and the daily times that found nothing to download from.
fn oab_download_table(d: &TraceData) -> Html {
    if d.oab_days.is_empty() {
        return Html(String::new());
    }
    let mut out = String::from(
        "<h3>Offline address book downloads</h3>\n<table><tr><th>offline address book</th><th>run day</th>\
<th>full downloads</th><th>full bytes</th><th>diff downloads</th><th>diff bytes</th><th>lost</th><th>unserved</th></tr>\n",
    );
    for ((oab, day), r) in &d.oab_days {
        out.push_str(&format!(
            "<tr><td>{}</td><td class=\"n\">{day}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
<td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n",
            escape(oab),
            group_digits(r.full),
            group_digits(r.full_bytes),
            group_digits(r.diffs),
            group_digits(r.diff_bytes),
            group_digits(r.lost),
            group_digits(r.unserved)
        ));
    }
    out.push_str("</table>\n");
    Html(out)
}

/// Each offline address book generation: when, from which GC, records and changes, the
/// version 4 file sizes and what versions 2/3a got.
fn offline_address_book_table(d: &TraceData) -> Html {
    if d.oab_runs.is_empty() {
        return Html(String::new());
    }
    let mut out = String::from(
        "<h3>Offline address books</h3>\n<table><tr><th>finished</th><th>offline address book</th><th>server</th>\
<th>GC read</th><th>records</th><th>changes since<br>2/3a last posted</th><th>v4 full file<br>bytes</th><th>v4 compressed<br>bytes</th>\
<th>v4 patch<br>bytes</th><th>versions 2/3a</th><th>3a set<br>compressed</th><th>3a Changes<br>compressed</th></tr>\n",
    );
    let bytes = |b: Option<u64>| b.map_or("–".to_string(), group_digits);
    for row in &d.oab_runs {
        out.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
<td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n",
            escape(&elapsed(row.t_ms)),
            escape(&row.oab),
            escape(&row.server),
            escape(&row.gc),
            group_digits(row.records),
            group_digits(row.changes),
            bytes(row.full_bytes),
            bytes(row.compressed_bytes),
            bytes(row.patch_bytes),
            escape(&row.legacy.replace('_', " ")),
            bytes(row.v3a_full_bytes),
            bytes(row.v3a_changes_bytes),
        ));
    }
    out.push_str("</table>\n");
    Html(out)
}

/// Public folder referrals (who served each server's clients) and backfill requests
/// (who asked whom), where the run has them.
fn public_folder_table(d: &TraceData) -> Html {
    if d.pf_reads.is_empty() && d.pf_backfill.is_empty() {
        return Html(String::new());
    }
    let mut out = String::from(
        "<h3>Public folders</h3>
",
    );
    if !d.pf_reads.is_empty() {
        out.push_str("<table><tr><th>clients of</th><th>folder</th><th>served by</th><th>opens</th><th>highest referral cost</th></tr>
");
        for ((client, folder, by), (opens, cost)) in &d.pf_reads {
            out.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n",
                escape(client),
                escape(folder),
                escape(by),
                group_digits(*opens),
                group_digits(*cost)
            ));
        }
        out.push_str("</table>\n");
    }
    if !d.pf_backfill.is_empty() {
        out.push_str("<table><tr><th>server asking</th><th>folder</th><th>source</th><th>backfill requests</th><th>change numbers</th></tr>\n");
        for ((asking, folder, source), (requests, changes)) in &d.pf_backfill {
            out.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n",
                escape(asking),
                escape(folder),
                escape(source),
                group_digits(*requests),
                group_digits(*changes)
            ));
        }
        out.push_str("</table>\n");
    }
    Html(out)
}

/// A run time as `1d5h02m` (days only when there are some).
fn elapsed(t_ms: u64) -> String {
    let minutes = t_ms / 60_000;
    let (days, hours, minutes) = (minutes / 1_440, minutes / 60 % 24, minutes % 60);
    if days > 0 {
        format!("{days}d{hours}h{minutes:02}m")
    } else {
        format!("{hours}h{minutes:02}m")
    }
}

fn link_state_table(d: &TraceData) -> Html {
    let messages: u64 = d.link_state.iter().map(|(_, m, _, _)| m).sum();
    let bytes: u64 = d.link_state.iter().map(|(_, _, b, _)| b).sum();
    let peak = d.link_state.iter().map(|(_, m, _, i)| m * 60_000 / (*i).max(1)).max().unwrap_or(0);
    let mut out = format!(
        "<h3>Link state</h3>\n<table><tr><th>messages</th><th>bytes</th><th>peak messages/min<br>(per sample)</th></tr>\n\
<tr><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr></table>\n",
        group_digits(messages),
        group_digits(bytes),
        group_digits(peak)
    );
    if !d.link_state_changes.is_empty() {
        out.push_str("<table><tr><th>server</th><th>link state table changes</th></tr>\n");
        for (server, n) in &d.link_state_changes {
            out.push_str(&format!("<tr><td>{}</td><td class=\"n\">{}</td></tr>\n", escape(server), group_digits(*n)));
        }
        out.push_str("</table>\n");
    }
    Html(out)
}

fn internet_edge_table(d: &TraceData) -> Html {
    if d.hosts.is_empty() {
        return Html(String::new());
    }
    let mut out = String::from(
        "<h3>Internet edge</h3>\n<table><tr><th>host</th><th>messages relayed</th><th>recipients</th><th>bytes</th>\
<th>failovers past it</th><th>outages</th></tr>\n",
    );
    for (host, h) in &d.hosts {
        out.push_str(&format!(
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n",
            escape(host),
            group_digits(h.messages),
            group_digits(h.recipients),
            group_digits(h.bytes),
            group_digits(h.failovers),
            group_digits(h.outages)
        ));
    }
    out.push_str("</table>\n");
    Html(out)
}

fn directory_access_table(d: &TraceData) -> Html {
    if d.dsaccess.is_empty() && d.gc_failovers == 0 && d.categorizer_retries == 0 {
        return Html(String::new());
    }
    let mut out = format!(
        "<h3>Directory access</h3>\n<p>GCs given up by a categorizer: {}; messages put in categorizer retry: {}.</p>\n",
        group_digits(d.gc_failovers),
        group_digits(d.categorizer_retries)
    );
    if !d.dsaccess.is_empty() {
        out.push_str("<table><tr><th>server</th><th>DSAccess hits</th><th>GC lookups</th><th>hit ratio</th><th>entries</th></tr>\n");
        for (server, (hits, misses, entries)) in &d.dsaccess {
            let ratio = *hits as f64 * 100.0 / (hits + misses).max(1) as f64;
            out.push_str(&format!(
                "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{ratio:.1} %</td><td class=\"n\">{}</td></tr>\n",
                escape(server),
                group_digits(*hits),
                group_digits(*misses),
                group_digits(*entries)
            ));
        }
        out.push_str("</table>\n");
    }
    Html(out)
}
