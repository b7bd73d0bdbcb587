//! Exchange server versions. A server's version is part of its configuration and selects
//! its behaviour where versions differ (EXCHANGE2003.md §1).

use serde::Serialize;

/// The Exchange version a server runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum ExchangeVersion {
    /// Exchange 2000 Server SP3.
    Exchange2000Sp3,
    /// Exchange Server 2003 RTM.
    Exchange2003,
    /// Exchange Server 2003 SP1.
    Exchange2003Sp1,
    /// Exchange Server 2003 SP2.
    Exchange2003Sp2,
}

impl ExchangeVersion {
    /// Maximum hop count, counted from Received headers (EXCHANGE2003.md §3.2a: 30 in
    /// 2003, 15 in 2000).
    pub fn max_hop_count(self) -> u8 {
        match self {
            ExchangeVersion::Exchange2000Sp3 => 15,
            _ => 30,
        }
    }

    /// Whether a routing group master of this version reviews connector state changes
    /// (2003: no-alternate-path and oscillation rules) or applies every one (2000)
    /// (EXCHANGE2003.md §4).
    pub fn reviews_link_state(self) -> bool {
        self != ExchangeVersion::Exchange2000Sp3
    }

    /// Whether this is Exchange Server 2003 (any service pack): it enforces "accept from
    /// authenticated users only" on the mail it categorizes (EXCHANGE2003.md §2).
    pub fn is_2003(self) -> bool {
        self != ExchangeVersion::Exchange2000Sp3
    }

    /// The short name used in scenario files and traces.
    pub fn as_str(self) -> &'static str {
        match self {
            ExchangeVersion::Exchange2000Sp3 => "2000sp3",
            ExchangeVersion::Exchange2003 => "2003",
            ExchangeVersion::Exchange2003Sp1 => "2003sp1",
            ExchangeVersion::Exchange2003Sp2 => "2003sp2",
        }
    }

    /// The banner version string of the Windows SMTP service that hosts this version.
    pub fn smtp_banner_version(self) -> &'static str {
        match self {
            // Windows 2000 SMTP service (IIS 5) vs Windows Server 2003 (IIS 6).
            ExchangeVersion::Exchange2000Sp3 => "5.0.2195.6713",
            _ => "6.0.3790.3959",
        }
    }
}
