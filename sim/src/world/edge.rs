//! The SMTP edge's totals for `--json` (`edge`): sessions from outside, what each filter
//! step stopped (sessions dropped, recipients and messages refused), where accepted mail
//! went, and what it caused — Junk E-mail deliveries and NDRs to addresses outside the
//! organization (backscatter, §3.1: what recipient filtering avoids) — and Badmail and
//! the archive folders.

use org::config::topology::Topology;
use org::trace::ServerEvent;
use org::transport::mailroot::BadmailFate;
use org::transport::smtp_filters::edge_session::{Disposition, Exch50Fate, FilterStep};
use serde::Serialize;
use std::collections::BTreeMap;

/// What one filter step stopped.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StepTotals {
    /// Sessions it dropped.
    pub sessions: u64,
    /// Recipients it refused at RCPT TO.
    pub recipients: u64,
    /// Messages it refused (at MAIL FROM or after DATA).
    pub messages: u64,
}

/// The SMTP edge over a run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct EdgeTotals {
    /// Sessions opened from outside.
    pub sessions: u64,
    /// Per filter step (§3.1 order), what it stopped.
    pub refusals: BTreeMap<FilterStep, StepTotals>,
    /// Messages accepted, and of them from authenticated sessions.
    pub accepted: u64,
    /// Accepted from authenticated sessions.
    pub authenticated: u64,
    /// Recipients of accepted messages headed for mailboxes.
    pub delivered_recipients: u64,
    /// Accepted messages by disposition (`deliver`, `badmail`, `uce_archive`, …).
    pub dispositions: BTreeMap<&'static str, u64>,
    /// Copies delivered into Junk E-mail (SCL above the store threshold).
    pub junk_email: u64,
    /// NDRs sent to addresses outside the organization (backscatter).
    pub backscatter_ndrs: u64,
    /// Accepted messages by how their sender shows (`resolved_authenticated`, …).
    pub sender_display: BTreeMap<&'static str, u64>,
    /// Exch50 blobs offered with accepted messages, by fate (`kept`, `dropped`).
    pub exch50: BTreeMap<&'static str, u64>,
    /// Badmail of every virtual server, by fate (`written`, `discarded`, `folder_full`).
    pub badmail: BTreeMap<&'static str, u64>,
    /// Bytes written to Badmail folders.
    pub badmail_bytes: u64,
    /// Bytes into each archive folder (`uce_archive`, `filter`).
    pub archived_bytes: BTreeMap<&'static str, u64>,
}

/// Whether a step refuses a recipient (RCPT TO) rather than a message.
fn at_rcpt(step: FilterStep) -> bool {
    matches!(
        step,
        FilterStep::Dnsbl | FilterStep::Relay | FilterStep::RecipientBlocked | FilterStep::RecipientNotInDirectory
    )
}

impl EdgeTotals {
    /// Counts one server event.
    pub fn observe(&mut self, server: org::ServerId, event: &ServerEvent, topology: &Topology) {
        match event {
            ServerEvent::EdgeConnected { .. } => self.sessions += 1,
            ServerEvent::EdgeRefused { step, dropped, .. } => {
                let totals = self.refusals.entry(*step).or_default();
                match (*dropped, at_rcpt(*step)) {
                    (true, _) => totals.sessions += 1,
                    (false, true) => totals.recipients += 1,
                    (false, false) => totals.messages += 1,
                }
            }
            ServerEvent::EdgeAccepted { recipients, disposition, authenticated, exch50, sender_display, .. } => {
                self.accepted += 1;
                *self.sender_display.entry(sender_display.as_str()).or_default() += 1;
                if *exch50 != Exch50Fate::NotOffered {
                    *self.exch50.entry(exch50.as_str()).or_default() += 1;
                }
                self.authenticated += u64::from(*authenticated);
                *self.dispositions.entry(disposition.as_str()).or_default() += 1;
                if *disposition == Disposition::Deliver {
                    self.delivered_recipients += recipients.len() as u64;
                }
            }
            ServerEvent::JunkEmail { .. } => self.junk_email += 1,
            ServerEvent::BadmailFolder { fate, size_bytes, .. } => {
                *self.badmail.entry(fate.as_str()).or_default() += 1;
                if *fate == BadmailFate::Written {
                    self.badmail_bytes += size_bytes;
                }
            }
            ServerEvent::Archived { folder, size_bytes, .. } => {
                *self.archived_bytes.entry(folder.as_str()).or_default() += size_bytes;
            }
            // Outside the NDR-ing server's organization (with several forests every
            // recipient is an outside address somewhere).
            ServerEvent::Ndr { to, .. }
                if topology.external.lookup(*to).is_some() && topology.gal_of(server).object(*to).is_none() =>
            {
                self.backscatter_ndrs += 1
            }
            _ => {}
        }
    }
}
