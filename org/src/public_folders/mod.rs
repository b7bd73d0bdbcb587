//! Public folders (EXCHANGE2003.md §8): a multi-master replicated store whose
//! replication travels as mail. Built so far: change numbers and the CNSets that carry
//! each replica's status.

pub mod cn_set;
