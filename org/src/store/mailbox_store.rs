//! Mailbox stores: local delivery by the store driver, with the store's duplicate
//! delivery check (a second copy of a Message-ID for the same mailbox is dropped — what
//! keeps an SMTP resend after a lost ack from showing twice in the Inbox), and each
//! mailbox's Out of Office history.
//!
//! Left out: quotas, size limits, logs and maintenance (later issues).

use crate::message::MessageId;
use crate::transport::queue_directory::{MailboxContents, Mailboxes};
use crate::AddressId;

/// The outcome of one local delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Committed to the mailbox.
    Delivered,
    /// The mailbox already holds this Message-ID; nothing written.
    Duplicate,
}

/// The mailboxes of one server's stores, as committed.
#[derive(Clone, Debug, Default)]
pub struct MailboxStores {
    mailboxes: Mailboxes,
}

impl MailboxStores {
    /// Stores holding what the disk holds.
    pub fn from_disk(mailboxes: &Mailboxes) -> Self {
        MailboxStores { mailboxes: mailboxes.clone() }
    }

    /// Delivers one copy, unless the mailbox has it already.
    pub fn deliver(&mut self, recipient: AddressId, message: MessageId, size_bytes: u64) -> DeliveryOutcome {
        let mailbox = self.mailboxes.entry(recipient).or_default();
        if !mailbox.messages.insert(message) {
            return DeliveryOutcome::Duplicate;
        }
        mailbox.size_bytes += size_bytes;
        DeliveryOutcome::Delivered
    }

    /// What a mailbox holds (empty if it never received mail), to move it.
    pub fn contents(&self, mailbox: AddressId) -> MailboxContents {
        self.mailboxes.get(&mailbox).cloned().unwrap_or_default()
    }

    /// Whether a mailbox holds a message.
    pub fn holds(&self, mailbox: AddressId, message: MessageId) -> bool {
        self.mailboxes.get(&mailbox).is_some_and(|m| m.messages.contains(message))
    }

    /// A mailbox moved in.
    pub fn put(&mut self, mailbox: AddressId, contents: MailboxContents) {
        self.mailboxes.insert(mailbox, contents);
    }

    /// A merge from the Recovery Storage Group added these messages (the mailbox lacked
    /// each) and bytes.
    pub fn merge(&mut self, mailbox: AddressId, messages: &[MessageId], bytes: u64) {
        let contents = self.mailboxes.entry(mailbox).or_default();
        for m in messages {
            let fresh = contents.messages.insert(*m);
            debug_assert!(fresh, "a merge adds only what the mailbox lacks");
        }
        contents.size_bytes += bytes;
    }

    /// A mailbox moved out.
    pub fn remove(&mut self, mailbox: AddressId) {
        self.mailboxes.remove(&mailbox);
    }

    /// Notes an Out of Office reply from `owner`'s mailbox to `sender`; false when the
    /// mailbox's OOF history already holds the sender (once per sender, §3.2).
    pub fn note_oof_reply(&mut self, owner: AddressId, sender: AddressId) -> bool {
        self.mailboxes.entry(owner).or_default().oof_replied.insert(sender)
    }

    /// Every mailbox that has received mail, in no particular order (callers sort).
    pub fn owners(&self) -> impl Iterator<Item = AddressId> + '_ {
        self.mailboxes.keys().copied()
    }

    /// Bytes delivered to a mailbox.
    pub fn size_bytes(&self, recipient: AddressId) -> u64 {
        self.mailboxes.get(&recipient).map_or(0, |m| m.size_bytes)
    }

    /// Messages in a mailbox.
    pub fn message_count(&self, recipient: AddressId) -> usize {
        self.mailboxes.get(&recipient).map_or(0, |m| m.messages.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_copy_is_a_duplicate() {
        let mut stores = MailboxStores::default();
        let m = MessageId::Client(3);
        assert_eq!(stores.deliver(AddressId(1), m, 10), DeliveryOutcome::Delivered);
        assert_eq!(stores.deliver(AddressId(1), m, 10), DeliveryOutcome::Duplicate);
        assert_eq!(stores.deliver(AddressId(2), m, 10), DeliveryOutcome::Delivered);
        assert_eq!(stores.message_count(AddressId(1)), 1);
    }

    #[test]
    fn the_oof_history_holds_each_sender_once_and_comes_back_from_disk() {
        let mut stores = MailboxStores::default();
        assert!(stores.note_oof_reply(AddressId(1), AddressId(7)));
        assert!(!stores.note_oof_reply(AddressId(1), AddressId(7)));
        assert!(stores.note_oof_reply(AddressId(2), AddressId(7)), "each mailbox has its own history");
        let mut disk = Mailboxes::default();
        disk.insert(AddressId(1), MailboxContents { oof_replied: [AddressId(7)].into(), ..Default::default() });
        assert!(!MailboxStores::from_disk(&disk).note_oof_reply(AddressId(1), AddressId(7)));
    }
}
