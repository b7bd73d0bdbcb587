//! The Information Store service (MSExchangeIS) of one server: MAPI logons and
//! submissions through the store driver, local delivery into its mailbox stores with the
//! duplicate check, and Out of Office replies from the mailboxes it holds.
//!
//! Sans-IO and on its own: requests from SMTPSVC arrive as [`ToStore`] events; what it
//! asks of SMTPSVC (submit this, these recipients are delivered) and its writes go into
//! its [`Outbox`], which the server collects. It has no timers yet (online maintenance and the 05:00 size
//! checks come with storage groups).

use crate::config::topology::Topology;
use crate::message::{Message, MessageKind};
use crate::service_events::{AfterFlush, Outbox, ToSmtp, ToStore};
use crate::store::mailbox_store::{DeliveryOutcome, MailboxStores};
use crate::time::Instant;
use crate::trace::ServerEvent;
use crate::transport::queue_directory::{DiskOp, Mailboxes};
use crate::{AddressId, ServerId};
use std::sync::Arc;

/// Size of an Out of Office reply: its text and headers [U].
pub const OOF_SIZE_BYTES: u64 = 2 * 1024;

/// One server's Information Store.
pub struct InformationStore {
    id: ServerId,
    topology: Arc<Topology>,
    stores: MailboxStores,
    out: Outbox,
}

impl InformationStore {
    /// The store (re)started on what its disk holds.
    pub fn new(id: ServerId, topology: Arc<Topology>, mailboxes: &Mailboxes) -> Self {
        InformationStore { id, topology, stores: MailboxStores::from_disk(mailboxes), out: Outbox::default() }
    }

    /// A MAPI client submits a message (tracking event 1027). The store refuses the logon
    /// of a user whose `protocolSettings` block their client (§2): nothing is submitted.
    pub fn handle_submit(&mut self, message: Message, recipients: Vec<AddressId>) {
        let sender = message.sender.expect("clients submit with a sender");
        if !self.topology.directory.mapi_logon_allowed(sender) {
            return self.out.emit(ServerEvent::MapiLogonDenied { user: sender });
        }
        self.out.to_smtp(ToSmtp::Submit { message, recipients });
    }

    /// A request from another service of this server.
    pub fn handle_internal(&mut self, _now: Instant, event: ToStore) {
        match event {
            ToStore::DeliverLocal { item, message, recipients } => {
                for &recipient in &recipients {
                    if self.deliver(&message, recipient) {
                        self.out_of_office(&message, recipient);
                    }
                }
                self.out.to_smtp(ToSmtp::LocalDelivered { item, recipients });
            }
            ToStore::DeliverCopies { message, recipients } => {
                for recipient in recipients {
                    if self.stores.deliver(recipient, message.id, message.size_bytes) == DeliveryOutcome::Delivered {
                        self.commit(&message, recipient);
                    }
                }
            }
        }
    }

    /// What the service has produced since it was last asked.
    pub fn outbox(&mut self) -> &mut Outbox {
        &mut self.out
    }

    /// Messages in a mailbox.
    pub fn message_count(&self, recipient: AddressId) -> usize {
        self.stores.message_count(recipient)
    }

    /// The store driver commits one recipient's copy (event 1028), unless the mailbox
    /// holds it already; true when committed.
    fn deliver(&mut self, message: &Message, recipient: AddressId) -> bool {
        match self.stores.deliver(recipient, message.id, message.size_bytes) {
            DeliveryOutcome::Delivered => {
                self.commit(message, recipient);
                true
            }
            DeliveryOutcome::Duplicate => {
                let store = self.store_of(recipient);
                self.out.emit(ServerEvent::DuplicateSuppressed { message: message.id, recipient, store });
                false
            }
        }
    }

    /// Writes a delivered copy; it is traced once durable.
    fn commit(&mut self, message: &Message, recipient: AddressId) {
        let store = self.store_of(recipient);
        self.out.write(DiskOp::Deliver { recipient, message: message.id, size_bytes: message.size_bytes });
        let submitted_at = message.submitted_at;
        self.out.after_flush(AfterFlush::Delivered { message: message.id, recipient, store, submitted_at });
    }

    fn store_of(&self, recipient: AddressId) -> crate::StoreId {
        self.topology.directory.lookup(recipient).expect("delivered recipients are mailboxes").store
    }

    /// The store answers a message delivered to a mailbox whose owner is Out of Office:
    /// once per sender (the store's OOF history), never to a DSN or another automatic
    /// reply, and on Exchange 2003 only when the owner was named directly in To or Cc,
    /// not reached through a group (EXCHANGE2003.md §3.2).
    fn out_of_office(&mut self, message: &Message, owner: AddressId) {
        let Some(sender) = message.sender else { return };
        if message.kind != MessageKind::Normal
            || sender == owner
            || !self.topology.directory.is_out_of_office(owner)
            || (self.topology.server(self.id).version.is_2003() && !message.header_recipients.contains(&owner))
            || !self.stores.note_oof_reply(owner, sender)
        {
            return;
        }
        self.out.to_smtp(ToSmtp::SubmitAutoReply {
            original: message.id,
            owner,
            to: sender,
            size_bytes: OOF_SIZE_BYTES,
        });
    }
}
