//! Distribution groups (static, with a scope) and query-based groups, and why one
//! cannot be expanded.

use super::*;

/// A group's membership.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Membership {
    /// A standard distribution group: listed members, which may be groups (nesting).
    Static {
        /// Domain local, global or universal.
        scope: GroupScope,
        /// Members in directory order.
        members: Vec<AddressId>,
    },
    /// A query-based group: an RFC 4515 filter under a base DN, evaluated at send time.
    Query {
        /// The filter text as the administrator wrote it (parsed when expanded: a
        /// malformed one is the sender's 5.2.4, §2).
        filter: String,
        /// The container searched.
        base_dn: String,
    },
}

/// A group's scope (§2: only universal membership replicates to every GC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum GroupScope {
    /// Domain local.
    DomainLocal,
    /// Global.
    Global,
    /// Universal.
    Universal,
}

/// A distribution group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// Its address.
    pub address: AddressId,
    /// Who is in it.
    pub membership: Membership,
    /// The server that must expand it (`msExchExpansionServerName`); any server when
    /// `None` (§2: the message is first routed there).
    pub expansion_server: Option<ServerId>,
}

/// Why a GC could not expand a group (§2: both are 5.2.4 to the sender).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExpansionError {
    /// The query-based group's filter does not parse (categorizer event 6024).
    BadFilter(FilterError),
    /// Its base DN no longer exists (event 6025).
    NoBaseDn,
    /// The filter names an attribute AD constructs when read, which a search cannot
    /// test: AD fails it with inappropriateMatching ([MS-ADTS] §3.1.1.3.1.3.1).
    ConstructedAttribute(String),
}
