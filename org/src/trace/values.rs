//! How each kind of field value is written into a trace record: numbers and strings,
//! ids by the names the [`Namer`] gives them, states by their lower-case names, and the
//! composite values (OAB events, link state entries, connections).

use super::*;
use crate::transport::smtp_filters::edge_session::EdgeNode;

macro_rules! uint_trace_values {
    ($($t:ty),*) => {
        $(impl TraceValue for $t {
            fn write(&self, _: &dyn Namer, out: &mut Vec<u8>) {
                json::uint(out, u64::from(*self));
            }
        })*
    };
}
uint_trace_values!(u8, u16, u32, u64);

impl TraceValue for i64 {
    fn write(&self, _: &dyn Namer, out: &mut Vec<u8>) {
        json::int(out, *self);
    }
}

impl TraceValue for i8 {
    fn write(&self, _: &dyn Namer, out: &mut Vec<u8>) {
        json::int(out, i64::from(*self));
    }
}

impl TraceValue for bool {
    fn write(&self, _: &dyn Namer, out: &mut Vec<u8>) {
        out.extend_from_slice(if *self { b"true" } else { b"false" });
    }
}

impl TraceValue for String {
    fn write(&self, _: &dyn Namer, out: &mut Vec<u8>) {
        json::str(out, self);
    }
}

impl TraceValue for MessageId {
    fn write(&self, names: &dyn Namer, out: &mut Vec<u8>) {
        out.push(b'"');
        names.write_message(*self, out);
        out.push(b'"');
    }
}

macro_rules! named_trace_values {
    ($($t:ty => $name:ident),*) => {
        $(impl TraceValue for $t {
            fn write(&self, names: &dyn Namer, out: &mut Vec<u8>) {
                json::str(out, names.$name(*self));
            }
        })*
    };
}
named_trace_values!(HostId => host, DcId => dc, ConnectorId => connector, RoutingGroupId => routing_group,
    StorageGroupId => storage_group, ReplicaId => public_store);

/// A folder as the namer names it, or `"hierarchy"`.
impl TraceValue for FolderKey {
    fn write(&self, names: &dyn Namer, out: &mut Vec<u8>) {
        match self {
            FolderKey::Hierarchy => json::str(out, "hierarchy"),
            FolderKey::Folder(f) => json::str(out, &names.public_folder(*f)),
        }
    }
}

impl TraceValue for PfRefusal {
    fn write(&self, _: &dyn Namer, out: &mut Vec<u8>) {
        json::str(out, self.as_str());
    }
}

impl TraceValue for ReplicationKind {
    fn write(&self, _: &dyn Namer, out: &mut Vec<u8>) {
        json::str(out, self.as_str());
    }
}

macro_rules! rendered_trace_values {
    ($($t:ty => $write:ident),*) => {
        $(impl TraceValue for $t {
            fn write(&self, names: &dyn Namer, out: &mut Vec<u8>) {
                names.$write(*self, out);
            }
        })*
    };
}
rendered_trace_values!(AddressId => write_address, ServerId => write_server, StoreId => write_store,
    QueueKey => write_queue);

impl<T: TraceValue> TraceValue for Vec<T> {
    fn write(&self, names: &dyn Namer, out: &mut Vec<u8>) {
        out.push(b'[');
        for (i, value) in self.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            value.write(names, out);
        }
        out.push(b']');
    }
}

impl<T: TraceValue> TraceValue for Option<T> {
    fn write(&self, names: &dyn Namer, out: &mut Vec<u8>) {
        match self {
            Some(v) => v.write(names, out),
            None => out.extend_from_slice(b"null"),
        }
    }

    fn absent(&self) -> bool {
        self.is_none()
    }
}

impl TraceValue for SessionFailure {
    fn write(&self, _: &dyn Namer, out: &mut Vec<u8>) {
        match self {
            SessionFailure::Timeout => json::str(out, "timeout"),
            SessionFailure::Reset => json::str(out, "connection reset"),
            SessionFailure::Rejected(code) => {
                out.extend_from_slice(b"\"rejected ");
                json::uint(out, u64::from(*code));
                out.push(b'"');
            }
        }
    }
}

impl TraceValue for Decision {
    fn write(&self, _: &dyn Namer, out: &mut Vec<u8>) {
        let (prefix, what) = match self {
            Decision::Unchanged => ("", "unchanged"),
            Decision::Apply(state) => ("marked ", state.as_str()),
            Decision::Suppress(why) => ("left as is: ", why.as_str()),
        };
        out.push(b'"');
        out.extend_from_slice(prefix.as_bytes());
        json::escape(out, what);
        out.push(b'"');
    }
}

macro_rules! str_trace_values {
    ($($t:ty),*) => {
        $(impl TraceValue for $t {
            fn write(&self, _: &dyn Namer, out: &mut Vec<u8>) {
                json::str(out, self.as_str());
            }
        })*
    };
}
str_trace_values!(
    DsnCode,
    ConnectorState,
    LinkQueueState,
    DatabaseChange,
    SizeVerdict,
    MoveOutcome,
    RestoreTarget,
    RestoreRefusal,
    MergeRefusal,
    FilterStep,
    BadmailFate,
    ArchiveFolder,
    Exch50Fate,
    SenderDisplay
);

impl TraceValue for OabId {
    fn write(&self, names: &dyn Namer, out: &mut Vec<u8>) {
        json::str(out, &names.offline_address_book(*self));
    }
}

/// Why a version 2/3a diff failed, as `{"kind":…,…}`.
impl TraceValue for DiffBlocker {
    fn write(&self, _: &dyn Namer, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"kind\":");
        match self {
            DiffBlocker::ParentDnChanged { example } => {
                json::str(out, "parent_dn_changed");
                json::key(out, "example");
                json::str(out, example);
            }
            DiffBlocker::NewSmtpDomain { domain } => {
                json::str(out, "new_smtp_domain");
                json::key(out, "domain");
                json::str(out, domain);
            }
            DiffBlocker::NewAddressType { address_type } => {
                json::str(out, "new_address_type");
                json::key(out, "address_type");
                json::str(out, address_type);
            }
            DiffBlocker::NewAddressList { list } => {
                json::str(out, "new_address_list");
                json::key(out, "list");
                json::str(out, list);
            }
            DiffBlocker::MassChange { attribute, records } => {
                json::str(out, "mass_change");
                json::key(out, "attribute");
                json::str(out, attribute);
                json::key(out, "records");
                json::uint(out, *records as u64);
            }
        }
        out.push(b'}');
    }
}

/// What versions 2/3a got, as `{"kind":…}` with the reason where there is one.
impl TraceValue for LegacyOutcome {
    fn write(&self, names: &dyn Namer, out: &mut Vec<u8>) {
        let (kind, reason) = match self {
            LegacyOutcome::FirstFull => ("first_full", None),
            LegacyOutcome::Diff => ("diff", None),
            LegacyOutcome::ForcedFull { reason } => ("forced_full", Some(reason)),
            LegacyOutcome::NoUpdate { reason } => ("no_update", Some(reason)),
        };
        out.extend_from_slice(b"{\"kind\":");
        json::str(out, kind);
        if let Some(reason) = reason {
            json::key(out, "reason");
            reason.write(names, out);
        }
        out.push(b'}');
    }
}

/// An OALGen event with its level (warning, information, error).
impl TraceValue for OabEvent {
    fn write(&self, names: &dyn Namer, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"level\":");
        json::str(out, self.level());
        match self {
            OabEvent::AttributeDropped { rdn, tag } => {
                json::key(out, "kind");
                json::str(out, "attribute_dropped");
                json::key(out, "rdn");
                json::str(out, rdn);
                json::key(out, "tag");
                json::str(out, &format!("0x{tag:08X}"));
            }
            OabEvent::RecordAltered { rdn } => {
                json::key(out, "kind");
                json::str(out, "record_altered");
                json::key(out, "rdn");
                json::str(out, rdn);
            }
            OabEvent::DiffFailed { reason, posted_full } => {
                json::key(out, "kind");
                json::str(out, "diff_failed");
                json::key(out, "reason");
                reason.write(names, out);
                json::key(out, "posted_full");
                posted_full.write(names, out);
            }
        }
        out.push(b'}');
    }
}

/// A connection as `CLIENT#seq`.
impl TraceValue for EdgeConnId {
    fn write(&self, names: &dyn Namer, out: &mut Vec<u8>) {
        out.push(b'"');
        match self.client {
            EdgeNode::Host(h) => json::escape(out, names.host(h)),
            EdgeNode::Server(s) => json::escape(out, names.server(s)),
        }
        out.push(b'#');
        json::uint(out, self.seq);
        out.push(b'"');
    }
}

impl TraceValue for std::net::Ipv4Addr {
    fn write(&self, _: &dyn Namer, out: &mut Vec<u8>) {
        json::str(out, &self.to_string());
    }
}

impl TraceValue for SenderIdResult {
    fn write(&self, _: &dyn Namer, out: &mut Vec<u8>) {
        let name = match self {
            SenderIdResult::Pass => "pass",
            SenderIdResult::Neutral => "neutral",
            SenderIdResult::SoftFail => "soft_fail",
            SenderIdResult::Fail => "fail",
            SenderIdResult::None => "none",
            SenderIdResult::TempError => "temp_error",
            SenderIdResult::PermError => "perm_error",
        };
        json::str(out, name);
    }
}

impl TraceValue for Disposition {
    fn write(&self, _: &dyn Namer, out: &mut Vec<u8>) {
        json::str(out, self.as_str());
    }
}

impl TraceValue for ConnId {
    fn write(&self, names: &dyn Namer, out: &mut Vec<u8>) {
        out.push(b'"');
        json::escape(out, names.server(self.client));
        out.push(b'#');
        json::uint(out, self.seq.0);
        out.push(b'"');
    }
}

/// One routing group's entry of a link state table.
impl TraceValue for (RoutingGroupId, GroupState) {
    fn write(&self, names: &dyn Namer, out: &mut Vec<u8>) {
        let (group, entry) = self;
        out.extend_from_slice(b"{\"routing_group\":");
        group.write(names, out);
        json::key(out, "version");
        json::str(out, &entry.version.to_string());
        json::key(out, "master");
        entry.master.write(names, out);
        json::key(out, "down");
        entry.down.write(names, out);
        out.push(b'}');
    }
}
