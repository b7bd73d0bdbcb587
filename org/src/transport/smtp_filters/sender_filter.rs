//! The sender filter (EXCHANGE2003.md §3.1 steps 6 and 13): blocked senders — on MAIL
//! FROM, and again on the message's From header after DATA. Its options: drop the
//! connection on a match, accept without notifying the sender (the message goes to
//! Badmail), archive filtered mail, and filter blank senders (`MAIL FROM:<>`, which
//! NDRs use, so it is off by default). Without either of the first two a match is
//! refused with `5.1.0 Sender Denied` and the session goes on.

use super::{listed, AddressPattern};

/// The organization's sender filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SenderFilter {
    /// Blocked senders.
    pub blocked: Vec<AddressPattern>,
    /// Drop the connection on a match.
    pub drop_connection: bool,
    /// Accept a match without notifying the sender, to Badmail.
    pub accept_silently: bool,
    /// Keep a copy of filtered mail (the archive).
    pub archive: bool,
    /// Treat a blank sender as blocked.
    pub filter_blank_senders: bool,
}

/// What the filter does with a sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderVerdict {
    /// Not blocked: `250 2.1.0 <addr>...Sender OK` at MAIL FROM.
    Pass,
    /// Refused with `5.1.0 Sender Denied`; `drop`: the connection is closed too.
    Denied {
        /// Whether the connection is dropped.
        drop: bool,
    },
    /// Accepted as if delivered, and put in Badmail (no NDR to the sender).
    ToBadmail,
}

impl SenderFilter {
    /// The verdict on `sender` (empty: the blank sender `<>`), and whether a filtered
    /// message is archived.
    pub fn judge(&self, sender: &str) -> (SenderVerdict, bool) {
        let blocked = match sender.trim() {
            "" => self.filter_blank_senders,
            s => listed(&self.blocked, s),
        };
        if !blocked {
            return (SenderVerdict::Pass, false);
        }
        // Dropping the connection wins over accepting silently: nothing is accepted.
        let verdict = match (self.drop_connection, self.accept_silently) {
            (true, _) => SenderVerdict::Denied { drop: true },
            (false, true) => SenderVerdict::ToBadmail,
            (false, false) => SenderVerdict::Denied { drop: false },
        };
        (verdict, self.archive)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(drop_connection: bool, accept_silently: bool) -> SenderFilter {
        SenderFilter {
            blocked: vec![AddressPattern::parse("*@spam.example").unwrap()],
            drop_connection,
            accept_silently,
            archive: true,
            filter_blank_senders: false,
        }
    }

    #[test]
    fn options_decide_what_a_match_does() {
        assert_eq!(filter(false, false).judge("ok@contoso.com"), (SenderVerdict::Pass, false));
        assert_eq!(filter(false, false).judge("x@SPAM.example"), (SenderVerdict::Denied { drop: false }, true));
        assert_eq!(filter(true, false).judge("x@spam.example").0, SenderVerdict::Denied { drop: true });
        assert_eq!(filter(false, true).judge("x@spam.example").0, SenderVerdict::ToBadmail);
        assert_eq!(filter(true, true).judge("x@spam.example").0, SenderVerdict::Denied { drop: true });
    }

    #[test]
    fn blank_senders_pass_unless_filtered() {
        let mut f = filter(false, false);
        assert_eq!(f.judge("").0, SenderVerdict::Pass, "NDRs come from <>");
        f.filter_blank_senders = true;
        assert_eq!(f.judge("").0, SenderVerdict::Denied { drop: false });
    }
}
