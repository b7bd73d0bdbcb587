//! The categorizer: checks a message against the transport limits and resolves each
//! recipient in the global catalog to its home server (EXCHANGE2003.md §3.2). An address
//! outside the organization (an SMTP domain it is not authoritative for, or an X.400
//! address) resolves as external and is routed by address space. An address in an
//! authoritative domain with no recipient object is NDR'd 5.1.1 (§3.3).
//!
//! Left out for now: DL and QBDG expansion, restrictions, categorizer retry when GCs are
//! down (issue on the directory).

use crate::address_space::{ExternalAddress, ExternalDirectory};
use crate::dsn::DsnCode;
use crate::global_catalog::GlobalCatalog;
use crate::message::Message;
use crate::{AddressId, ServerId};

/// Where a resolved recipient is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Destination {
    /// A mailbox on this home server.
    Mailbox(ServerId),
    /// Outside the organization: routed by the connectors' address spaces.
    External(ExternalAddress),
}

/// The categorizer's verdict on one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Categorized {
    /// Resolved recipients with where they are.
    pub resolved: Vec<(AddressId, Destination)>,
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
    external: &ExternalDirectory,
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
        match (directory.lookup(recipient), external.lookup(recipient)) {
            (Some(entry), _) => out.resolved.push((recipient, Destination::Mailbox(entry.home_server))),
            (None, Some(address)) => out.resolved.push((recipient, Destination::External(address))),
            (None, None) => out.failed.push((recipient, DsnCode::RecipientNotFound)),
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

    fn external() -> ExternalDirectory {
        let mut dir = ExternalDirectory::new();
        dir.add_smtp(AddressId(5), "alice@fabrikam.com").unwrap();
        dir
    }

    #[test]
    fn unknown_recipient_is_5_1_1_exchange2003_3_3() {
        let c = categorize(&directory(), &external(), LIMITS, &message(100, 0), &[AddressId(1), AddressId(9)], true);
        assert_eq!(c.resolved, vec![(AddressId(1), Destination::Mailbox(ServerId(3)))]);
        assert_eq!(c.failed, vec![(AddressId(9), DsnCode::RecipientNotFound)]);
    }

    #[test]
    fn external_recipients_resolve_for_routing_by_address_space() {
        let c = categorize(&directory(), &external(), LIMITS, &message(100, 0), &[AddressId(5)], true);
        let domain = external().domain_id("fabrikam.com");
        assert_eq!(c.resolved, vec![(AddressId(5), Destination::External(ExternalAddress::Smtp(domain)))]);
    }

    #[test]
    fn limits_fail_every_recipient() {
        let c = categorize(&directory(), &external(), LIMITS, &message(5_000_000, 0), &[AddressId(1)], true);
        assert_eq!(c.failed, vec![(AddressId(1), DsnCode::MessageTooLarge)]);
        let c = categorize(&directory(), &external(), LIMITS, &message(5_000_000, 0), &[AddressId(1)], false);
        assert!(c.failed.is_empty(), "size is checked where the message enters the org");
        let c = categorize(&directory(), &external(), LIMITS, &message(100, 31), &[AddressId(1)], false);
        assert_eq!(c.failed, vec![(AddressId(1), DsnCode::HopCountExceeded)]);
    }
}
