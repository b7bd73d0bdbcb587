//! `expansion_before_routing`: a message whose groups a server's categorizer is still
//! expanding is not routed by that server until the expansion is complete.

use super::*;

/// Messages a server's categorizer holds for expansion.
#[derive(Default)]
pub(super) struct ExpansionOrder {
    expanding: BTreeSet<(ServerId, MessageId)>,
}

impl ExpansionOrder {
    pub(super) fn observe(&mut self, server: ServerId, event: &ServerEvent, judge: &mut Judge<'_>) {
        match event {
            ServerEvent::ExpansionStarted { message, .. } => {
                self.expanding.insert((server, *message));
            }
            ServerEvent::ExpansionFinished { message } => {
                self.expanding.remove(&(server, *message));
            }
            ServerEvent::Queued { message, recipients, .. }
                if self.expanding.contains(&(server, *message)) && !recipients.is_empty() =>
            {
                let (server_name, name) = (judge.server_name(server), judge.name);
                judge.violate(Invariant::ExpansionBeforeRouting, || {
                    format!(
                        "{server_name} routed {} while the message's groups were still being expanded",
                        name(*message, recipients[0])
                    )
                });
            }
            _ => {}
        }
    }

    /// A server died: what its categorizer held died with it.
    pub(super) fn server_stopped(&mut self, server: ServerId) {
        self.expanding.retain(|(s, _)| *s != server);
    }
}
