//! The receiving side of SMTP.

use super::*;

impl SmtpService {
    pub(super) fn handle_inbound(&mut self, now: Instant, from: ServerId, conn: ConnId, frame: Frame) {
        let idle_ms = self.topology.server(self.id).smtp.connection_timeout_ms;
        let commands = match frame {
            Frame::Connect => {
                let idle_deadline = now.plus_ms(idle_ms);
                self.inbound.insert(conn, Inbound { session: InboundSession::with_chunking(), idle_deadline });
                self.timers.set(Timer::InboundIdle(conn), idle_deadline);
                return self.send(from, conn, Frame::Replies(vec![SmtpReply::ServiceReady]));
            }
            Frame::Commands(commands) => commands,
            Frame::Replies(_) | Frame::LinkState(_) | Frame::Reset => return,
        };
        let max_size = self.topology.server(self.id).smtp.max_message_size_bytes;
        let Some(inbound) = self.inbound.get_mut(&conn) else {
            return self.send(from, conn, Frame::Reset);
        };
        inbound.idle_deadline = now.plus_ms(idle_ms);
        let session = &mut inbound.session;
        let mut replies = Vec::with_capacity(commands.len());
        let mut accepted = Vec::new();
        let mut offers = Vec::new();
        let mut closed = false;
        for command in commands {
            match session.handle(command, max_size) {
                InboundStep::Reply(reply) => replies.push(reply),
                InboundStep::LinkState(offer) => offers.push(offer),
                InboundStep::Accept { recipients, message } => {
                    replies.push(SmtpReply::Queued);
                    accepted.push((recipients, message));
                }
                InboundStep::Close(reply) => {
                    replies.push(reply);
                    closed = true;
                    break;
                }
            }
        }
        if closed {
            self.inbound.remove(&conn);
            self.timers.cancel(Timer::InboundIdle(conn));
        }
        // X-LINK2STATE is never pipelined (a client that does gets its answer after the
        // replies to the rest): RESvc takes the offer and SMTPSVC sends its answer.
        for offer in offers {
            self.out.to_routing(ToRouting::LinkStateOffered { from, conn, offer });
        }
        if accepted.is_empty() {
            if !replies.is_empty() {
                self.send(from, conn, Frame::Replies(replies));
            }
            return;
        }
        for (recipients, message) in accepted {
            self.enqueue_received(now, from, conn, recipients, *message);
        }
        if self.topology.bug(PlantedBug::AckBeforeDurable) {
            self.send(from, conn, Frame::Replies(replies));
        } else {
            // 250 Queued only once the message files are durable.
            self.out.after_flush(AfterFlush::Reply { to: from, conn, replies });
        }
    }

    /// A message the session took becomes a queue item, processed once durable.
    fn enqueue_received(
        &mut self,
        now: Instant,
        from: ServerId,
        conn: ConnId,
        recipients: Vec<AddressId>,
        mut message: Message,
    ) {
        message.hop_count = message.hop_count.saturating_add(1); // our Received header
        let item = StoredItem { id: self.take_item_id(), message, recipients, arrived_at: now, submitted_here: false };
        self.out.write(DiskOp::Enqueue(item.clone()));
        self.out.after_flush(AfterFlush::Event(ServerEvent::Received {
            message: item.message.id,
            from,
            conn,
            recipients: item.recipients.clone(),
            hop_count: item.message.hop_count,
        }));
        self.out.after_flush(AfterFlush::Process(item));
    }
}
