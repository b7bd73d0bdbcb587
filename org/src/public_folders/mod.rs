//! Public folders (EXCHANGE2003.md §8): a multi-master replicated store whose
//! replication travels as mail. Built so far: change numbers and the CNSets that carry
//! each replica's status, and the replication messages' types and 300 KB batches.

pub mod cn_set;
pub mod replication_message;
