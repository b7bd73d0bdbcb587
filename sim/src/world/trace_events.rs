//! A server's events as the trace writes them: names for ids, strings for states.

use super::*;

impl World {
    pub(super) fn convert(&self, event: &ServerEvent) -> TraceEvent {
        let m = |id: &MessageId| self.message_name(*id);
        match event {
            ServerEvent::Submitted { message, sender, recipients, size_bytes } => TraceEvent::Submitted {
                message: m(message),
                sender: self.address(*sender),
                recipients: self.addresses(recipients),
                size_bytes: *size_bytes,
            },
            ServerEvent::Received { message, from, conn, recipients, hop_count } => TraceEvent::Received {
                message: m(message),
                from: self.server_name(*from).into(),
                conn: format!("{}#{}", self.server_name(conn.client), conn.seq),
                recipients: self.addresses(recipients),
                hop_count: *hop_count,
            },
            ServerEvent::Categorized { message, resolved, failed } => {
                TraceEvent::Categorized { message: m(message), resolved: *resolved, failed: *failed }
            }
            ServerEvent::MapiLogonDenied { sender } => TraceEvent::MapiLogonDenied { user: self.address(*sender) },
            ServerEvent::OutOfOffice { message, from, reply, to } => TraceEvent::OutOfOffice {
                message: m(message),
                from: self.address(*from),
                reply: m(reply),
                to: self.address(*to),
            },
            ServerEvent::ExpansionStarted { message, groups } => {
                TraceEvent::ExpansionStarted { message: m(message), groups: self.addresses(groups) }
            }
            ServerEvent::Expanded { message, group, members } => {
                TraceEvent::Expanded { message: m(message), group: self.address(*group), members: members.len() as u32 }
            }
            ServerEvent::GcFailover { message, gc, found } => {
                TraceEvent::GcFailover { message: m(message), gc: self.resolved.dc_name(*gc), found: *found }
            }
            ServerEvent::CategorizerRetry { message, retry_in_ms } => {
                TraceEvent::CategorizerRetry { message: m(message), retry_in_ms: *retry_in_ms }
            }
            ServerEvent::ExpansionFinished { message } => TraceEvent::ExpansionFinished { message: m(message) },
            ServerEvent::CategorizerMemory { bytes } => TraceEvent::CategorizerMemory { bytes: *bytes },
            ServerEvent::Queued { message, queue, recipients, cost, rerouted_from } => TraceEvent::Queued {
                message: m(message),
                queue: self.queue(*queue),
                recipients: self.addresses(recipients),
                cost: *cost,
                rerouted_from: rerouted_from.map(|q| self.queue(q)),
            },
            ServerEvent::Transferred { message, to, queue, recipients, size_bytes } => TraceEvent::Transferred {
                message: m(message),
                to: self.server_name(*to).into(),
                queue: self.queue(*queue),
                recipients: self.addresses(recipients),
                size_bytes: *size_bytes,
            },
            ServerEvent::Relayed { message, host, queue, recipients, size_bytes } => TraceEvent::Relayed {
                message: m(message),
                host: self.host_name(*host),
                queue: self.queue(*queue),
                recipients: self.addresses(recipients),
                size_bytes: *size_bytes,
            },
            ServerEvent::Failover { queue, host, reason } => TraceEvent::Failover {
                queue: self.queue(*queue),
                host: self.host_name(*host),
                reason: failure_name(*reason),
            },
            ServerEvent::Delivered { message, recipient, store, latency_ms } => TraceEvent::Delivered {
                message: m(message),
                recipient: self.address(*recipient),
                store: self.resolved.topology.store(*store).name.clone(),
                latency_ms: *latency_ms,
            },
            ServerEvent::DuplicateSuppressed { message, recipient, store } => TraceEvent::DuplicateSuppressed {
                message: m(message),
                recipient: self.address(*recipient),
                store: self.resolved.topology.store(*store).name.clone(),
            },
            ServerEvent::Ndr { message, recipients, code, ndr, to } => TraceEvent::Ndr {
                message: m(message),
                recipients: self.addresses(recipients),
                code: code.as_str(),
                ndr: m(ndr),
                to: self.address(*to),
            },
            ServerEvent::Badmail { message, recipients, code } => {
                TraceEvent::Badmail { message: m(message), recipients: self.addresses(recipients), code: code.as_str() }
            }
            ServerEvent::QueueState { queue, state, failures, retry_in_ms, reason } => TraceEvent::QueueState {
                queue: self.queue(*queue),
                state: queue_state_name(*state),
                failures: *failures,
                retry_in_ms: *retry_in_ms,
                reason: reason.map(failure_name),
            },
            ServerEvent::Recovered { items, recipients } => {
                TraceEvent::Recovered { items: *items, recipients: *recipients }
            }
            ServerEvent::LinkStateChanged { groups, digest } => TraceEvent::LinkStateChanged {
                groups: groups
                    .iter()
                    .map(|(g, entry)| GroupEntry {
                        routing_group: self.resolved.topology.routing_group(*g).name.clone(),
                        version: entry.version.to_string(),
                        master: self.server_name(entry.master).into(),
                        down: entry.down.iter().map(|c| self.connector_name(*c)).collect(),
                    })
                    .collect(),
                digest: format!("{digest:016x}"),
            },
            ServerEvent::ConnectorDetected { connector, state } => {
                TraceEvent::ConnectorDetected { connector: self.connector_name(*connector), state: state.as_str() }
            }
            ServerEvent::LinkStateReviewed { connector, reported, decision } => TraceEvent::LinkStateReviewed {
                connector: self.connector_name(*connector),
                reported: reported.as_str(),
                verdict: match decision {
                    Decision::Unchanged => "unchanged".into(),
                    Decision::Apply(s) => format!("marked {}", s.as_str()),
                    Decision::Suppress(why) => format!("left as is: {}", why.as_str()),
                },
            },
        }
    }
}

pub(super) fn failure_name(reason: SessionFailure) -> String {
    match reason {
        SessionFailure::Timeout => "timeout".to_string(),
        SessionFailure::Reset => "connection reset".to_string(),
        SessionFailure::Rejected(code) => format!("rejected {code}"),
    }
}

pub(super) fn queue_state_name(state: LinkQueueState) -> &'static str {
    match state {
        LinkQueueState::Ready => "ready",
        LinkQueueState::Active => "active",
        LinkQueueState::Retry => "retry",
    }
}
