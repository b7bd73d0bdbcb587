//! The global catalog as the categorizer's DSAccess sees it: SMTP address → mailbox.
//!
//! v1 models one forest whose GCs all hold the same, complete recipient set (no
//! replication yet), so a lookup is a read of this table. Left out: directory
//! replication, DSAccess cache expiry, DC/GC outages (later issues).

use crate::{AddressId, ServerId, StoreId};

/// Where a mailbox lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MailboxEntry {
    /// The store holding the mailbox.
    pub store: StoreId,
    /// The server mounting that store (its `msExchHomeServerName`).
    pub home_server: ServerId,
}

/// The recipients of the organization, indexed by interned address.
#[derive(Clone, Debug, Default)]
pub struct GlobalCatalog {
    entries: Vec<Option<MailboxEntry>>,
    mailbox_count: usize,
}

impl GlobalCatalog {
    /// An empty catalog.
    pub fn new() -> Self {
        GlobalCatalog::default()
    }

    /// Adds (or moves) the mailbox-enabled user with this address.
    pub fn add_mailbox(&mut self, address: AddressId, entry: MailboxEntry) {
        let index = address.0 as usize;
        if self.entries.len() <= index {
            self.entries.resize(index + 1, None);
        }
        if self.entries[index].is_none() {
            self.mailbox_count += 1;
        }
        self.entries[index] = Some(entry);
    }

    /// Looks an address up; `None` when no recipient object has it.
    pub fn lookup(&self, address: AddressId) -> Option<MailboxEntry> {
        self.entries.get(address.0 as usize).copied().flatten()
    }

    /// Number of mailbox-enabled recipients.
    pub fn mailbox_count(&self) -> usize {
        self.mailbox_count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_finds_only_added_addresses() {
        let mut gc = GlobalCatalog::new();
        let e = MailboxEntry { store: StoreId(1), home_server: ServerId(2) };
        gc.add_mailbox(AddressId(5), e);
        assert_eq!(gc.lookup(AddressId(5)), Some(e));
        assert_eq!(gc.lookup(AddressId(4)), None);
        assert_eq!(gc.lookup(AddressId(500)), None);
        gc.add_mailbox(AddressId(5), e);
        assert_eq!(gc.mailbox_count(), 1);
    }
}
