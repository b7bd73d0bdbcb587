//! Public folders (EXCHANGE2003.md §8): a multi-master replicated store whose
//! replication travels as mail. Change numbers and the CNSets that carry each replica's
//! status; the replicated tables of the hierarchy and of each folder's content; the
//! replication messages and their 300 KB batches; the backfill array with its timeouts
//! and source selection; and the public store with its replication agent.

pub mod agreement;
pub mod backfill;
pub mod cn_set;
pub mod public_store;
pub mod referral;
pub mod replicated_table;
pub mod replication_message;
