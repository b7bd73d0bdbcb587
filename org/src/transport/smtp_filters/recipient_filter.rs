//! The recipient filter (EXCHANGE2003.md §3.1 steps 10 and 11, for every RCPT TO of an
//! anonymous session): a blocked recipient, or — with "Filter recipients who are not in
//! the Directory" — a recipient of a domain the organization is authoritative for that
//! the directory does not hold, is refused with `550 5.7.1 Requested action not taken:
//! mailbox not available`. Without it Exchange accepts mail to invalid recipients and
//! NDRs it later (backscatter to forged senders); with it, it reveals which addresses
//! exist. Authenticated sessions and Exchange servers are not filtered (the session
//! does not ask).

use super::{listed, AddressPattern};

/// The refusal text after `550 5.7.1`.
pub const REFUSAL: &str = "Requested action not taken: mailbox not available";

/// The organization's recipient filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecipientFilter {
    /// Blocked recipients.
    pub blocked: Vec<AddressPattern>,
    /// Refuse recipients the directory does not hold (authoritative domains only).
    pub filter_not_in_directory: bool,
}

/// What the directory says of a recipient, as the session learned it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectoryAnswer {
    /// The recipient's domain is not one the organization is authoritative for: no
    /// lookup is made.
    NotAuthoritative,
    /// The lookup found it.
    Found,
    /// The lookup did not.
    NotFound,
}

/// The filter's verdict on one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecipientVerdict {
    /// Accepted (`250 2.1.5`).
    Accept,
    /// On the blocked list.
    Blocked,
    /// Not in the directory.
    NotInDirectory,
}

impl RecipientFilter {
    /// Whether the session must look `recipient` up before judging it (step 11): only
    /// when the filter is on, for an authoritative domain, and not already blocked.
    pub fn needs_lookup(&self, recipient: &str, authoritative: bool) -> bool {
        self.filter_not_in_directory && authoritative && !listed(&self.blocked, recipient)
    }

    /// Steps 10 and 11.
    pub fn judge(&self, recipient: &str, directory: DirectoryAnswer) -> RecipientVerdict {
        if listed(&self.blocked, recipient) {
            return RecipientVerdict::Blocked;
        }
        match directory {
            DirectoryAnswer::NotFound if self.filter_not_in_directory => RecipientVerdict::NotInDirectory,
            _ => RecipientVerdict::Accept,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_first_then_the_directory_when_asked_for() {
        let mut f = RecipientFilter {
            blocked: vec![AddressPattern::parse("ceo@contoso.com").unwrap()],
            filter_not_in_directory: false,
        };
        assert_eq!(f.judge("CEO@contoso.com", DirectoryAnswer::Found), RecipientVerdict::Blocked);
        assert_eq!(f.judge("nobody@contoso.com", DirectoryAnswer::NotFound), RecipientVerdict::Accept, "NDR'd later");
        assert!(!f.needs_lookup("nobody@contoso.com", true));
        f.filter_not_in_directory = true;
        assert!(f.needs_lookup("nobody@contoso.com", true));
        assert!(!f.needs_lookup("someone@fabrikam.com", false), "not authoritative: no lookup");
        assert!(!f.needs_lookup("ceo@contoso.com", true), "already blocked");
        assert_eq!(f.judge("nobody@contoso.com", DirectoryAnswer::NotFound), RecipientVerdict::NotInDirectory);
        assert_eq!(f.judge("x@fabrikam.com", DirectoryAnswer::NotAuthoritative), RecipientVerdict::Accept);
    }
}
