//! SMTPSVC's side of `X-LINK2STATE` (§4): on an outbound session to a bridgehead across
//! a connector, the turns this server offers (their content comes from RESvc, which
//! owns the table) and the answers it hands back to RESvc.

use super::*;

impl SmtpService {
    /// Whether a session for `hop` to `peer` starts with `X-LINK2STATE`: this server is a
    /// source bridgehead of a connector that carries link state and the peer one of its
    /// target bridgeheads, which advertises the verb in EHLO (every 2000/2003 server does;
    /// a handoff to a bridgehead of this server's own group is not a link state session).
    pub(super) fn exchanges_link_state(&self, hop: NextHop, peer: Peer) -> bool {
        let (NextHop::Connector(c), Peer::Server(_)) = (hop, peer) else { return false };
        let connector = self.topology.connector(c);
        connector.kind.carries_link_state() && connector.source_bridgeheads.contains(&self.id)
    }

    /// Asks RESvc for this server's first turn.
    pub(super) fn ask_link_state_offer(&mut self, seq: SessionSeq) {
        let session = self.outbound.get_mut(&seq).expect("asked for an open session");
        let Peer::Server(server) = session.peer else { unreachable!("link state sessions are between servers") };
        session.phase = Phase::LinkState { turn: 1 };
        self.out.to_routing(ToRouting::OfferLinkState { seq, server, turn: 1 });
    }

    /// Sends RESvc's offer as turn `turn`.
    pub(super) fn offer_link_state(&mut self, now: Instant, seq: SessionSeq, turn: u8, offer: LinkStateExchange) {
        let Some(session) = self.outbound.get_mut(&seq) else { return };
        session.phase = Phase::LinkState { turn };
        let (peer, conn) = (session.peer, ConnId { client: self.id, seq });
        self.send_commands(now, peer, conn, vec![SmtpCommand::XLink2State(offer)]);
    }

    /// The peer bridgehead answered `X-LINK2STATE`: RESvc takes it and says whether a
    /// second turn follows or the mail goes.
    pub(super) fn link_state_answered(&mut self, seq: SessionSeq, answer: LinkStateExchange) {
        let Some(OutboundSession { phase: Phase::LinkState { turn }, peer: Peer::Server(server), .. }) =
            self.outbound.get(&seq)
        else {
            return; // not waiting for one: ignore it, as an SMTP client ignores a stray line
        };
        let (turn, server) = (*turn, *server);
        self.out.to_routing(ToRouting::LinkStateAnswered { seq, server, turn, answer });
    }
}
