//! Defaults, each with the fact it comes from (EXCHANGE2003.md section, or [U] for
//! orgsim's own choice where Exchange documents none).

use super::*;

/// ARCHITECTURE.md: a Monday, so times of day and weekdays mean something.
pub fn start() -> Timestamp {
    Timestamp::parse("2004-03-01T00:00:00Z").expect("valid")
}
/// A server runs Exchange 2003 SP2 unless the scenario says otherwise.
pub fn version() -> ServerVersion {
    ServerVersion::Exchange2003Sp2
}
/// Both roles unless the scenario narrows them.
pub fn roles() -> Vec<Role> {
    vec![Role::Mailbox, Role::Bridgehead]
}
/// §3.2a: virtual server message size limit 4,096 KB.
pub fn max_message_size_kb() -> Option<u64> {
    Some(4_096)
}
/// §3.2a: retry 10/10/10/15 min [U-documented common setting].
pub fn retry_intervals() -> [Duration; 4] {
    [Duration::from_ms(600_000), Duration::from_ms(600_000), Duration::from_ms(600_000), Duration::from_ms(900_000)]
}
/// §3.2a: glitch retry 3 times.
pub fn glitch_retry_count() -> u32 {
    3
}
/// §3.2a: glitch retries 60 s apart.
pub fn glitch_retry_interval() -> Duration {
    Duration::from_ms(60_000)
}
/// §3.2a: expiration 2 days.
pub fn expiration() -> Duration {
    Duration::from_ms(2 * 86_400_000)
}
/// IIS SMTP "limit number of messages per connection" 20 [P].
pub fn messages_per_connection() -> u32 {
    20
}
/// A 5 ms write-through of the queue file [U].
/// SP2: warning at 90 % of the size limit (EXCHANGE2003.md §7).
pub fn database_size_buffer_percent() -> u64 {
    10
}
/// SP2: the daily size check at 05:00 (EXCHANGE2003.md §7).
pub fn database_size_check_hour() -> u64 {
    5
}
/// `BadMailSyncPeriod` [U] (org's `BADMAIL_SYNC_PERIOD_DEFAULT_MS`).
pub fn badmail_sync_period() -> Duration {
    Duration::from_ms(org::transport::mailroot::BADMAIL_SYNC_PERIOD_DEFAULT_MS)
}
pub fn disk_flush() -> Duration {
    Duration::from_ms(5)
}
/// Switched LAN inside a site [U].
pub fn lan_bandwidth() -> Bandwidth {
    Bandwidth { bits_per_s: 100_000_000 }
}
/// LAN round trip well under a millisecond [U].
pub fn lan_latency() -> Duration {
    Duration::from_ms(1)
}
/// §11: older MMB user, 14.18 sends a day.
pub fn sends_per_user_per_day() -> f64 {
    14.18
}
/// §11: older MMB user, 4.7 recipients a message.
pub fn recipients_per_message() -> f64 {
    4.7
}
/// §11: MMB size mix (mean ≈ 4 KB).
pub fn size_mix() -> Vec<SizeShare> {
    [(1, 60.0), (2, 16.0), (4, 4.0), (10, 6.0), (15, 4.0), (16, 4.0), (43, 2.0)]
        .into_iter()
        .map(|(size_kb, weight)| SizeShare { size_kb, weight })
        .collect()
}
/// A business day [U]: quiet nights, a morning peak, a lunch dip, an afternoon peak.
pub fn hourly_profile() -> [f64; 24] {
    [
        0.1, 0.1, 0.1, 0.1, 0.1, 0.2, 0.5, 1.0, 2.5, 3.0, 2.8, 2.4, 1.6, 2.2, 2.8, 2.6, 2.0, 1.2, 0.6, 0.4, 0.3, 0.2,
        0.1, 0.1,
    ]
}
/// Where recipients are chosen [U]: most mail stays close to the sender.
pub fn recipient_choice() -> RecipientChoice {
    RecipientChoice {
        same_server: 0.4,
        same_routing_group: 0.3,
        anywhere: 0.3,
        unknown: 0.0,
        external: 0.0,
        other_forests: 0.0,
    }
}
/// For `skip_serializing_if`: a share left at its default.
pub fn is_zero(x: &f64) -> bool {
    *x == 0.0
}
/// Prefix of generated user aliases.
pub fn generated_prefix() -> String {
    "user".into()
}
/// EXCHANGE2003.md §3.2: Queue Viewer refreshes every 2 minutes by default.
pub fn sample_interval() -> Duration {
    Duration::from_ms(120_000)
}
/// Every safety invariant runs unless the scenario lists a subset.
pub fn invariants() -> Vec<Invariant> {
    vec![
        Invariant::NoLoss,
        Invariant::NoDuplicateDelivery,
        Invariant::NoRoutingLoop,
        Invariant::LeastCostRouting,
        Invariant::LinkStateVersions,
        Invariant::ExpansionBeforeRouting,
        Invariant::DatabaseSizeLimit,
        Invariant::DismountedTakesNoMail,
        Invariant::LogDiskCapacity,
        Invariant::JournalOnce,
        Invariant::QuotaHonoured,
        Invariant::PfChangesKept,
        Invariant::PfBackfillTimeouts,
        Invariant::PfHierarchyOnlyWhileStopped,
        Invariant::OabDownloadApplies,
        Invariant::OabFullOnlyWhenNeeded,
        Invariant::EdgeFiltersEnforced,
        Invariant::Exch50Trusted,
        Invariant::AnonymousSendersUnresolved,
        Invariant::BadmailAsConfigured,
    ]
}
/// §4: the 2003 review window, 10 min [P].
pub fn oscillation_interval() -> Duration {
    Duration::from_ms(600_000)
}
/// §4: 2 conflicting changes within the window mark a connector oscillating [U].
pub fn oscillation_changes() -> u32 {
    2
}
/// §4: a down connector's source tries it every 60 s [P].
pub fn probe_interval() -> Duration {
    Duration::from_ms(60_000)
}
/// DCs run Windows Server 2003 unless the scenario says otherwise.
pub fn windows_version() -> WindowsVersionSpec {
    WindowsVersionSpec::Windows2003
}
/// §2: site link cost default 100 [P].
pub fn site_link_cost() -> u32 {
    100
}
/// §2: inter-site replication interval default 180 min [P].
pub fn replication_interval() -> Duration {
    Duration::from_ms(180 * 60_000)
}
/// A bulk change writes a user's display name, department and title [U].
pub fn changed_attributes() -> u32 {
    3
}
/// An address space's cost when not given: 1, like a new connector's in ESM [P].
pub fn address_space_cost() -> u32 {
    1
}
/// A bridgehead gives one DNS server 5 s before asking the next [U] (the Windows
/// resolver's first retry comes after 1 s, its second server after about 3 s more).
pub fn dns_timeout() -> Duration {
    Duration::from_ms(5_000)
}
/// §3.2a: X.400 MTA open interval 600 s [P].
pub fn mta_open_interval() -> Duration {
    Duration::from_ms(600_000)
}
/// §3.2a: X.400 MTA max open retries 144 [P].
pub fn mta_max_open_retries() -> u32 {
    144
}
/// §2: DSAccess cache entries live 5–10 minutes (sources disagree); 10 [P].
pub fn dsaccess_entry_lifetime() -> Duration {
    Duration::from_ms(600_000)
}
/// §2: "Always run" wakes the Recipient Update Service every minute [P].
pub fn rus_interval() -> Duration {
    Duration::from_ms(60_000)
}
/// A scripted send is one message unless it says more.
pub fn send_count() -> u32 {
    1
}
/// A scripted message is 4 KB, the MMB mix's mean (§11).
pub fn send_size_kb() -> u64 {
    4
}
/// Unanswered link state messages are resent after 60 s [U].
pub fn resend_interval() -> Duration {
    Duration::from_ms(60_000)
}

/// §3.1: the store's Junk E-mail threshold, undocumented: 6 [U].
pub fn imf_store_threshold() -> u8 {
    6
}
/// §3.1: the IMF's gateway threshold, undocumented: 8 [U].
pub fn imf_gateway_threshold() -> u8 {
    8
}
/// SMTP's port.
pub fn smtp_port() -> u16 {
    25
}
/// Deleted item retention, days (EXCHANGE2003.md §7 [U]).
pub fn deleted_item_retention_days() -> u64 {
    7
}
/// Deleted mailbox retention, days (EXCHANGE2003.md §7).
pub fn deleted_mailbox_retention_days() -> u64 {
    30
}
/// Online maintenance opens at 01:00 (EXCHANGE2003.md §7 [U]).
pub fn maintenance_start_hour() -> u64 {
    1
}
/// §7: a merge's account holds Receive As and Send As unless the scenario takes one
/// away.
pub fn yes() -> bool {
    true
}

/// A public folder item's size: 50 KB [U] (posts carry attachments more often than
/// the 4 KB mean of mail, §11; no published figure).
pub fn public_item_size_kb() -> u64 {
    50
}

/// OALGen runs daily at 05:00 (EXCHANGE2003.md §9).
pub fn oab_schedule() -> Vec<String> {
    vec!["05:00".into()]
}
/// An OAB is built from the Default Global Address List.
pub fn oab_address_lists() -> Vec<String> {
    vec!["Default Global Address List".into()]
}
/// [U] The share of records one attribute must change on to be a mass change.
pub fn oab_mass_change_pct() -> u32 {
    10
}
/// [U] SP2's string limit (org `PropertyLimits`).
pub fn oab_string_bytes_max() -> u32 {
    org::system_attendant::oab::property_limits::PropertyLimits::default().string_bytes_max
}
/// [U] SP2's binary limit.
pub fn oab_binary_bytes_max() -> u32 {
    org::system_attendant::oab::property_limits::PropertyLimits::default().binary_bytes_max
}
/// [U] SP2's multi-valued limit.
pub fn oab_values_max() -> u32 {
    org::system_attendant::oab::property_limits::PropertyLimits::default().values_max
}
/// The Exchange organization's name when the scenario gives none [U].
pub fn organization() -> String {
    "First Organization".into()
}
/// `churn_recipients`: the attribute an address book churn changes [U]: a telephone
/// number is what changes most in a real directory.
pub fn churned_attribute() -> String {
    "telephoneNumber".into()
}
/// `churn_recipients`: a day between rounds.
pub fn one_day() -> Duration {
    Duration::from_ms(86_400_000)
}
/// One (a count).
pub fn one() -> u32 {
    1
}

/// A DNSBL's usual listing answer (§3.1: listed = `127.0.0.x`).
pub fn dnsbl_codes() -> Vec<std::net::Ipv4Addr> {
    vec![std::net::Ipv4Addr::new(127, 0, 0, 2)]
}

/// An Internet sender's content: all rated SCL 0 (legitimate).
pub fn scl_weights() -> [f64; 10] {
    [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
}
/// An Internet message's size, KB [U].
pub fn internet_message_kb() -> u64 {
    20
}
