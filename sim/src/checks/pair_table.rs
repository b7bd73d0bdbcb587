//! The ledger's table of (message, recipient) pairs, laid out for the way a run uses it.
//!
//! A client message's recipients are accepted together, when it is submitted, and its
//! pairs are settled within minutes, while the messages submitted around it are settled
//! too. So those pairs live in one flat array in order of submission, each message's
//! run of recipients sorted, found through a dense index by message number: the pairs of
//! the messages in flight sit together in memory, 5 bytes each. Everything else (DSNs,
//! Out of Office replies, members a group expansion adds) goes to a hash map, 16 bytes a
//! pair plus the map's slack. In the 100,000-mailbox day the hash map alone held all 6.7
//! million pairs: about 200 MiB, and a cache miss for every look-up.

use org::message::MessageId;
use org::AddressId;
use std::collections::HashMap;

/// A (message, recipient) pair in 12 bytes: the message id packed in two words
/// ([`MessageId::to_bits`]) and the address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct PairKey([u32; 3]);

impl PairKey {
    pub(super) fn new(message: MessageId, recipient: AddressId) -> Self {
        let bits = message.to_bits();
        PairKey([(bits >> 32) as u32, bits as u32, recipient.0])
    }

    pub(super) fn message(self) -> MessageId {
        let bits = u64::from(self.0[0]) << 32 | u64::from(self.0[1]);
        MessageId::from_bits(bits).expect("the ledger packs only message ids")
    }

    pub(super) fn recipient(self) -> AddressId {
        AddressId(self.0[2])
    }
}

/// Hash maps with fixed keys: their order never reaches a result (what is listed from
/// them is sorted first). FxHash: these keys are ids, not attacker input, and the
/// ledger is looked up on every event.
pub(super) type Map<V> = HashMap<PairKey, V, rustc_hash::FxBuildHasher>;

/// Where a client message's run of recipients starts in the flat arrays, and how long
/// it is (`len` 0: not submitted, or not yet).
#[derive(Clone, Copy, Debug, Default)]
struct Run {
    start: u32,
    len: u32,
}

/// A map from (message, recipient) to a small value `V`.
pub(super) struct PairTable<V> {
    /// By client message number.
    runs: Vec<Run>,
    /// Each run's recipients, sorted within the run.
    recipients: Vec<AddressId>,
    /// The value of each pair, beside `recipients`.
    values: Vec<V>,
    /// Every other pair.
    others: Map<V>,
}

impl<V: Copy> Default for PairTable<V> {
    fn default() -> Self {
        PairTable { runs: Vec::new(), recipients: Vec::new(), values: Vec::new(), others: Map::default() }
    }
}

impl<V: Copy> PairTable<V> {
    /// Pairs held.
    pub(super) fn len(&self) -> usize {
        self.recipients.len() + self.others.len()
    }

    /// Adds a message's recipients, each with `value`, as [`PairTable::insert`] would
    /// one by one; true when every one was new (and named once).
    pub(super) fn insert_message(&mut self, message: MessageId, recipients: &[AddressId], value: V) -> bool {
        if let MessageId::Client(n) = message {
            if self.has_no_pair(n, message, recipients) && self.push_run(n, recipients, value) {
                return true;
            }
        }
        self.insert_each(message, recipients, value)
    }

    /// Whether client message `n` has no pair yet among `recipients` (and no run).
    fn has_no_pair(&self, n: u64, message: MessageId, recipients: &[AddressId]) -> bool {
        let Ok(n) = usize::try_from(n) else { return false };
        !recipients.is_empty()
            && self.runs.get(n).is_none_or(|r| r.len == 0)
            && (self.others.is_empty()
                || recipients.iter().all(|r| !self.others.contains_key(&PairKey::new(message, *r))))
    }

    /// Appends message `n`'s run, which has no pair yet; false (and nothing added) when
    /// a recipient is named twice.
    fn push_run(&mut self, n: u64, recipients: &[AddressId], value: V) -> bool {
        let n = n as usize;
        let start = self.recipients.len();
        self.recipients.extend_from_slice(recipients);
        let run = &mut self.recipients[start..];
        run.sort_unstable();
        if run.windows(2).any(|w| w[0] == w[1]) {
            self.recipients.truncate(start);
            return false;
        }
        self.values.resize(self.recipients.len(), value);
        if self.runs.len() <= n {
            self.runs.resize(n + 1, Run::default());
        }
        let start = u32::try_from(start).expect("under 4 billion pairs");
        self.runs[n] = Run { start, len: u32::try_from(recipients.len()).expect("under 4 billion recipients") };
        debug_assert_eq!(self.recipients.len(), self.values.len());
        true
    }

    /// Adds each pair to the hash map; false if any was there already (the rest are
    /// still added).
    fn insert_each(&mut self, message: MessageId, recipients: &[AddressId], value: V) -> bool {
        let mut fresh = true;
        for r in recipients {
            fresh &= self.insert(message, *r, value);
        }
        fresh
    }

    /// Adds one pair; false when it is there already (its value is left as it was).
    pub(super) fn insert(&mut self, message: MessageId, recipient: AddressId, value: V) -> bool {
        if self.find(message, recipient).is_some() {
            return false;
        }
        match self.others.entry(PairKey::new(message, recipient)) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(value);
                true
            }
        }
    }

    /// The pair's value.
    pub(super) fn get_mut(&mut self, message: MessageId, recipient: AddressId) -> Option<&mut V> {
        match self.find(message, recipient) {
            Some(i) => Some(&mut self.values[i]),
            None => self.others.get_mut(&PairKey::new(message, recipient)),
        }
    }

    /// Whether client message `message` has pairs (a run); false for other messages.
    pub(super) fn has_client_message(&self, message: MessageId) -> bool {
        let MessageId::Client(n) = message else { return false };
        usize::try_from(n).ok().and_then(|n| self.runs.get(n)).is_some_and(|r| r.len > 0)
    }

    /// Whether the pair is held.
    pub(super) fn contains(&self, message: MessageId, recipient: AddressId) -> bool {
        self.find(message, recipient).is_some() || self.others.contains_key(&PairKey::new(message, recipient))
    }

    /// The index of a pair in the flat arrays, if it is there.
    fn find(&self, message: MessageId, recipient: AddressId) -> Option<usize> {
        let MessageId::Client(n) = message else { return None };
        let run = self.runs.get(usize::try_from(n).ok()?)?;
        let start = run.start as usize;
        let recipients = &self.recipients[start..start + run.len as usize];
        recipients.binary_search(&recipient).ok().map(|i| start + i)
    }

    /// Every pair with its value, in no particular order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (MessageId, AddressId, V)> + '_ {
        let runs = self.runs.iter().enumerate().flat_map(move |(n, run)| {
            let range = run.start as usize..(run.start + run.len) as usize;
            range.map(move |i| (MessageId::Client(n as u64), self.recipients[i], self.values[i]))
        });
        runs.chain(self.others.iter().map(|(k, v)| (k.message(), k.recipient(), *v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use org::transport::queue_directory::QueueItemId;
    use org::ServerId;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[test]
    fn a_pair_key_gives_back_its_message_and_recipient() {
        let ids = [
            MessageId::Client(0),
            MessageId::Client(1 << 40),
            MessageId::Dsn { server: ServerId(7), item: QueueItemId(12) },
            MessageId::AutoReply { server: ServerId(65_535), item: QueueItemId(1) },
        ];
        for m in ids {
            let key = PairKey::new(m, AddressId(u32::MAX));
            assert_eq!((key.message(), key.recipient()), (m, AddressId(u32::MAX)));
        }
        assert_eq!(std::mem::size_of::<(PairKey, u8)>(), 16, "a hash map entry stays 16 bytes");
    }

    /// One operation on a table, by small numbers so that they collide often.
    #[derive(Clone, Debug)]
    enum Op {
        Message(MessageId, Vec<u32>),
        One(MessageId, u32),
        Set(MessageId, u32, u8),
    }

    fn message() -> impl Strategy<Value = MessageId> {
        prop_oneof![
            (0u64..12).prop_map(MessageId::Client),
            (0u16..3, 0u64..3).prop_map(|(s, i)| MessageId::Dsn { server: ServerId(s), item: QueueItemId(i) }),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (message(), proptest::collection::vec(0u32..8, 0..6)).prop_map(|(m, r)| Op::Message(m, r)),
            (message(), 0u32..8).prop_map(|(m, r)| Op::One(m, r)),
            (message(), 0u32..8, any::<u8>()).prop_map(|(m, r, v)| Op::Set(m, r, v)),
        ]
    }

    proptest! {
        /// The table behaves as a map from (message, recipient) to a value, whatever
        /// the mix of whole messages and single pairs.
        #[test]
        fn behaves_as_a_map(ops in proptest::collection::vec(op(), 0..60)) {
            let mut table = PairTable::<u8>::default();
            let mut model = BTreeMap::<(MessageId, AddressId), u8>::new();
            for op in ops {
                match op {
                    Op::Message(m, rs) => {
                        let rs: Vec<AddressId> = rs.into_iter().map(AddressId).collect();
                        let distinct = rs.iter().collect::<std::collections::BTreeSet<_>>().len() == rs.len();
                        let fresh = distinct && rs.iter().all(|r| !model.contains_key(&(m, *r)));
                        prop_assert_eq!(table.insert_message(m, &rs, 1), fresh);
                        for r in rs {
                            model.entry((m, r)).or_insert(1);
                        }
                    }
                    Op::One(m, r) => {
                        let fresh = !model.contains_key(&(m, AddressId(r)));
                        prop_assert_eq!(table.insert(m, AddressId(r), 2), fresh);
                        model.entry((m, AddressId(r))).or_insert(2);
                    }
                    Op::Set(m, r, v) => {
                        let got = table.get_mut(m, AddressId(r));
                        prop_assert_eq!(got.is_some(), model.contains_key(&(m, AddressId(r))));
                        if let Some(value) = got {
                            *value = v;
                            model.insert((m, AddressId(r)), v);
                        }
                    }
                }
                prop_assert_eq!(table.len(), model.len());
                let listed: BTreeMap<_, _> = table.iter().map(|(m, r, v)| ((m, r), v)).collect();
                prop_assert_eq!(&listed, &model);
                for &(m, r) in model.keys() {
                    prop_assert!(table.contains(m, r));
                }
            }
        }
    }
}
