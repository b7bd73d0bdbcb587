//! The categorizer: checks a message against the transport limits and resolves each
//! recipient in the global catalog to its home server (EXCHANGE2003.md §3.2). An address
//! with no recipient object is NDR'd 5.1.1 (§3.3).
//!
//! Left out for now: DL and QBDG expansion, restrictions, categorizer retry when GCs are
//! down (issue on the directory).

use crate::dsn::DsnCode;
use crate::global_catalog::GlobalCatalog;
use crate::message::Message;
use crate::{AddressId, ServerId};

/// The categorizer's verdict on one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Categorized {
    /// Resolved recipients with their home servers.
    pub resolved: Vec<(AddressId, ServerId)>,
    /// Recipients that fail, with why.
    pub failed: Vec<(AddressId, DsnCode)>,
}

/// Limits the categorizer enforces on this server.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Maximum hop count (EXCHANGE2003.md §3.2a).
    pub max_hop_count: u8,
    /// Maximum message size, checked at submission.
    pub max_message_size_bytes: Option<u64>,
}

/// Categorizes `recipients` of `message`. `at_origin` is true for a client submission,
/// where the sending size limit applies.
pub fn categorize(
    directory: &GlobalCatalog,
    limits: Limits,
    message: &Message,
    recipients: &[AddressId],
    at_origin: bool,
) -> Categorized {
    let whole_message_failure = if message.hop_count > limits.max_hop_count {
        Some(DsnCode::HopCountExceeded)
    } else if at_origin && limits.max_message_size_bytes.is_some_and(|max| message.size_bytes > max) {
        Some(DsnCode::MessageTooLarge)
    } else {
        None
    };
    if let Some(code) = whole_message_failure {
        return Categorized { resolved: Vec::new(), failed: recipients.iter().map(|r| (*r, code)).collect() };
    }
    let mut out = Categorized { resolved: Vec::with_capacity(recipients.len()), failed: Vec::new() };
    for &recipient in recipients {
        match directory.lookup(recipient) {
            Some(entry) => out.resolved.push((recipient, entry.home_server)),
            None => out.failed.push((recipient, DsnCode::RecipientNotFound)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::global_catalog::MailboxEntry;
    use crate::message::{MessageId, MessageKind};
    use crate::time::Instant;
    use crate::StoreId;

    fn message(size_bytes: u64, hop_count: u8) -> Message {
        Message {
            id: MessageId::Client(1),
            kind: MessageKind::Normal,
            sender: Some(AddressId(0)),
            size_bytes,
            submitted_at: Instant::ZERO,
            hop_count,
        }
    }

    const LIMITS: Limits = Limits { max_hop_count: 30, max_message_size_bytes: Some(4_194_304) };

    fn directory() -> GlobalCatalog {
        let mut gc = GlobalCatalog::new();
        gc.add_mailbox(AddressId(1), MailboxEntry { store: StoreId(0), home_server: ServerId(3) });
        gc
    }

    #[test]
    fn unknown_recipient_is_5_1_1_exchange2003_3_3() {
        let c = categorize(&directory(), LIMITS, &message(100, 0), &[AddressId(1), AddressId(9)], true);
        assert_eq!(c.resolved, vec![(AddressId(1), ServerId(3))]);
        assert_eq!(c.failed, vec![(AddressId(9), DsnCode::RecipientNotFound)]);
    }

    #[test]
    fn limits_fail_every_recipient() {
        let c = categorize(&directory(), LIMITS, &message(5_000_000, 0), &[AddressId(1)], true);
        assert_eq!(c.failed, vec![(AddressId(1), DsnCode::MessageTooLarge)]);
        let c = categorize(&directory(), LIMITS, &message(5_000_000, 0), &[AddressId(1)], false);
        assert!(c.failed.is_empty(), "size is checked where the message enters the org");
        let c = categorize(&directory(), LIMITS, &message(100, 31), &[AddressId(1)], false);
        assert_eq!(c.failed, vec![(AddressId(1), DsnCode::HopCountExceeded)]);
    }
}
