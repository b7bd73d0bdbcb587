//! A client outside the organization sending one message to an inbound virtual server:
//! the sending side of one SMTP session as an Internet mail server (or a spammer's
//! engine) runs it, pipelined (RFC 2920): EHLO (and AUTH); then MAIL, every RCPT and
//! DATA in one batch; the content and QUIT if the 354 came, else QUIT. It reads replies
//! as they come, in however many frames, and stops when the server closes. An Exchange
//! server of another organization sends XEXCH50 after the RCPTs instead of DATA, the
//! blob after a 354, then DATA; a 504 loses the blob, not the message (KB 843106).

use crate::transport::smtp_filters::edge_session::{EdgeCommand, EdgeContent, EdgeReply, Exch50};

/// What one session sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderScript {
    /// `AUTH LOGIN` with these credentials first.
    pub account: Option<(String, String)>,
    /// The reverse path.
    pub mail_from: String,
    /// The recipients.
    pub recipients: Vec<String>,
    /// The message.
    pub content: EdgeContent,
    /// The Exch50 blob an Exchange server offers with XEXCH50.
    pub exch50: Option<Exch50>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Banner,
    Hello,
    Envelope,
    /// The blob is out after XEXCH50's 354.
    Exch50,
    /// DATA is out on its own (after XEXCH50).
    Data,
    Content,
    Done,
}

/// One client session.
#[derive(Debug, Clone)]
pub struct SenderSession {
    script: SenderScript,
    phase: Phase,
    /// Replies still due for the batch out.
    due: usize,
    /// The last reply of the batch so far.
    last: Option<EdgeReply>,
}

impl SenderSession {
    /// A session whose TCP connect was just sent.
    pub fn new(script: SenderScript) -> SenderSession {
        SenderSession { script, phase: Phase::Banner, due: 1, last: None }
    }

    /// Whether the session is over.
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// The server closed the connection.
    pub fn closed(&mut self) {
        self.phase = Phase::Done;
    }

    /// Replies arrived; returns the next batch of commands, if the batch out is answered.
    pub fn replies(&mut self, replies: &[EdgeReply]) -> Option<Vec<EdgeCommand>> {
        if self.phase == Phase::Done {
            return None;
        }
        for reply in replies {
            self.due = self.due.saturating_sub(1);
            self.last = Some(reply.clone());
        }
        if self.due > 0 {
            return None;
        }
        let batch = match self.phase {
            Phase::Banner if self.last.as_ref().is_some_and(|r| r.code() == 220) => {
                self.phase = Phase::Hello;
                let mut batch = vec![EdgeCommand::Ehlo("client.example".into())];
                if let Some((account, password)) = &self.script.account {
                    batch.push(EdgeCommand::Auth { account: account.clone(), password: password.clone() });
                }
                batch
            }
            Phase::Hello => {
                self.phase = Phase::Envelope;
                let mut batch = vec![EdgeCommand::MailFrom {
                    sender: self.script.mail_from.clone(),
                    size_bytes: Some(self.script.content.size_bytes),
                }];
                batch.extend(self.script.recipients.iter().map(|r| EdgeCommand::RcptTo(r.clone())));
                batch.push(match self.script.exch50 {
                    Some(blob) => EdgeCommand::Xexch50 { size_bytes: blob_size(blob) },
                    None => EdgeCommand::Data,
                });
                batch
            }
            Phase::Envelope if self.script.exch50.is_some() => match (self.last.as_ref(), self.script.exch50) {
                (Some(EdgeReply::SendBinary), Some(blob)) => {
                    self.phase = Phase::Exch50;
                    vec![EdgeCommand::Exch50Blob(blob)]
                }
                _ => {
                    self.phase = Phase::Data;
                    vec![EdgeCommand::Data]
                }
            },
            Phase::Exch50 => {
                self.phase = Phase::Data;
                vec![EdgeCommand::Data]
            }
            Phase::Envelope | Phase::Data if self.last == Some(EdgeReply::StartMailInput) => {
                self.phase = Phase::Content;
                vec![EdgeCommand::Content(self.script.content.clone()), EdgeCommand::Quit]
            }
            Phase::Content | Phase::Done => {
                self.phase = Phase::Done;
                return None;
            }
            _ => {
                self.phase = Phase::Done;
                vec![EdgeCommand::Quit]
            }
        };
        // The content and QUIT get two replies; every other command one.
        self.due = batch.len();
        Some(batch)
    }
}

/// The size an XEXCH50 command announces.
fn blob_size(_: Exch50) -> u64 {
    crate::transport::smtp_filters::edge_session::EXCH50_BLOB_BYTES
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(account: bool) -> SenderScript {
        SenderScript {
            account: account.then(|| ("bob".into(), "pw".into())),
            mail_from: "a@fabrikam.com".into(),
            recipients: vec!["x@contoso.com".into(), "y@contoso.com".into()],
            content: EdgeContent {
                header_from: None,
                size_bytes: 100,
                content_scl: 0,
                message_id: crate::message::MessageId::Client(1),
                headers: None,
            },
            exch50: None,
        }
    }

    #[test]
    fn xexch50_goes_after_the_rcpts_and_a_504_loses_only_the_blob() {
        let blob = Exch50 { scl: 7 };
        for (answer, then) in [
            (EdgeReply::SendBinary, vec![EdgeCommand::Exch50Blob(blob)]),
            (EdgeReply::NeedAuthFirst, vec![EdgeCommand::Data]),
        ] {
            let mut s = SenderSession::new(SenderScript { exch50: Some(blob), ..script(false) });
            s.replies(&[EdgeReply::Banner]).unwrap();
            let envelope = s.replies(&[EdgeReply::Ehlo { auth: false, size: None }]).unwrap();
            assert_eq!(envelope.last(), Some(&EdgeCommand::Xexch50 { size_bytes: 1_028 }), "instead of DATA");
            let ok = [
                EdgeReply::SenderOk("a".into()),
                EdgeReply::RecipientOk("x".into()),
                EdgeReply::RecipientOk("y".into()),
            ];
            assert_eq!(s.replies(&ok), None);
            assert_eq!(s.replies(std::slice::from_ref(&answer)), Some(then.clone()));
            if answer == EdgeReply::SendBinary {
                assert_eq!(s.replies(&[EdgeReply::Exch50Ok]), Some(vec![EdgeCommand::Data]));
            }
            let content = s.replies(&[EdgeReply::StartMailInput]).unwrap();
            assert!(matches!(content[0], EdgeCommand::Content(_)), "{answer:?}: the message still goes");
        }
    }

    #[test]
    fn pipelined_batches_wait_for_every_reply() {
        let mut s = SenderSession::new(script(true));
        let ehlo = s.replies(&[EdgeReply::Banner]).unwrap();
        assert_eq!(ehlo.len(), 2, "EHLO and AUTH");
        assert_eq!(s.replies(&[EdgeReply::Ehlo { auth: true, size: None }]), None, "the AUTH reply is still due");
        let envelope = s.replies(&[EdgeReply::AuthOk]).unwrap();
        assert_eq!(envelope.len(), 4, "MAIL, two RCPTs, DATA");
        assert_eq!(s.replies(&[EdgeReply::SenderOk("a".into()), EdgeReply::RecipientRefused]), None);
        let content = s.replies(&[EdgeReply::RecipientOk("y".into()), EdgeReply::StartMailInput]).unwrap();
        assert!(matches!(content[0], EdgeCommand::Content(_)) && content[1] == EdgeCommand::Quit);
        assert_eq!(s.replies(&[EdgeReply::Queued, EdgeReply::Closing]), None);
        assert!(s.is_done());
    }

    #[test]
    fn no_354_means_quit() {
        let mut s = SenderSession::new(script(false));
        s.replies(&[EdgeReply::Banner]).unwrap();
        s.replies(&[EdgeReply::Ehlo { auth: false, size: None }]).unwrap();
        let refused = [EdgeReply::SenderOk("a".into()), EdgeReply::RecipientRefused, EdgeReply::RecipientRefused];
        assert_eq!(s.replies(&refused), None);
        assert_eq!(s.replies(&[EdgeReply::NeedRcpt]), Some(vec![EdgeCommand::Quit]));
        assert!(s.is_done());
    }
}
