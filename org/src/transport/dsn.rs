//! Delivery status notifications: the enhanced status codes Exchange 2003 uses
//! (EXCHANGE2003.md §3.3) and the non-delivery report generated back to the sender.

use serde::Serialize;

/// An enhanced status code (RFC 3463) as Exchange 2003 issues it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum DsnCode {
    /// 5.1.1: recipient not in the directory.
    RecipientNotFound,
    /// 5.2.3: message over a size limit.
    MessageTooLarge,
    /// 4.4.6: hop count exceeded; a routing loop.
    HopCountExceeded,
    /// 4.4.7: message expired in a queue.
    Expired,
    /// 4.4.9: temporary routing error — a DNS-based SMTP connector carrying a non-SMTP
    /// address space (EXCHANGE2003.md §3.3).
    RoutingError,
    /// 5.0.0: no connector's address space matches the recipient (§3.3).
    NoRoute,
    /// 5.4.0: DNS found no authoritative host for the recipient's domain (§3.3).
    HostNotFound,
    /// 5.7.1: access denied — a restricted recipient or DL, or an anonymous sender to a
    /// recipient that accepts authenticated mail only (§3.3).
    AccessDenied,
    /// 5.2.4: a query-based group with a bad filter or a missing base DN (§3.3).
    ExpansionFailed,
    /// 5.2.2: the recipient's mailbox is over its "prohibit send and receive" quota
    /// (§3.3, §7).
    MailboxFull,
}

impl DsnCode {
    /// The dotted code, e.g. `5.1.1`.
    pub fn as_str(self) -> &'static str {
        match self {
            DsnCode::RecipientNotFound => "5.1.1",
            DsnCode::MessageTooLarge => "5.2.3",
            DsnCode::HopCountExceeded => "4.4.6",
            DsnCode::Expired => "4.4.7",
            DsnCode::RoutingError => "4.4.9",
            DsnCode::NoRoute => "5.0.0",
            DsnCode::HostNotFound => "5.4.0",
            DsnCode::AccessDenied => "5.7.1",
            DsnCode::ExpansionFailed => "5.2.4",
            DsnCode::MailboxFull => "5.2.2",
        }
    }

    /// Parses a dotted code.
    pub fn parse(code: &str) -> Option<DsnCode> {
        DsnCode::ALL.into_iter().find(|c| c.as_str() == code)
    }

    /// Every code orgsim issues.
    pub const ALL: [DsnCode; 10] = [
        DsnCode::RecipientNotFound,
        DsnCode::MessageTooLarge,
        DsnCode::HopCountExceeded,
        DsnCode::Expired,
        DsnCode::RoutingError,
        DsnCode::NoRoute,
        DsnCode::HostNotFound,
        DsnCode::AccessDenied,
        DsnCode::ExpansionFailed,
        DsnCode::MailboxFull,
    ];

    /// The diagnostic text of the NDR.
    pub fn diagnostic(self) -> &'static str {
        match self {
            DsnCode::RecipientNotFound => {
                "The e-mail account does not exist at the organization this message was sent to."
            }
            DsnCode::MessageTooLarge => "The message was too large for the system to deliver.",
            DsnCode::HopCountExceeded => "A routing loop was detected: the message passed through too many servers.",
            DsnCode::Expired => "Could not deliver the message in the time limit specified.",
            DsnCode::RoutingError => {
                "A routing error: the connector for this address uses DNS but the address is not an SMTP address."
            }
            DsnCode::NoRoute => "No connector in the organization carries mail for this address.",
            DsnCode::HostNotFound => "The destination domain has no mail host in DNS.",
            DsnCode::AccessDenied => "The recipient accepts mail only from listed or authenticated senders.",
            DsnCode::ExpansionFailed => "The distribution group could not be expanded: bad filter or missing base DN.",
            DsnCode::MailboxFull => "The recipient's mailbox is full and can't accept messages now.",
        }
    }
}

/// Size of a generated NDR: the report body plus the original headers it quotes
/// (orgsim's estimate; Exchange's NDRs are a few KB).
pub const NDR_SIZE_BYTES: u64 = 3 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for code in DsnCode::ALL {
            assert_eq!(DsnCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(DsnCode::parse("9.9.9"), None);
    }
}
