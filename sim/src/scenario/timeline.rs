//! Timeline steps: faults, administrator actions and scripted mail.

use super::*;

/// A fault or administrator action at a simulated time.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// A WAN link stops carrying traffic.
    LinkDown {
        /// When.
        at: Duration,
        /// Which link.
        link: String,
    },
    /// A WAN link carries traffic again.
    LinkUp {
        /// When.
        at: Duration,
        /// Which link.
        link: String,
    },
    /// A WAN link goes down and up: down for half of each `period`, for `duration`,
    /// ending up.
    LinkOscillate {
        /// When it starts.
        at: Duration,
        /// Which link.
        link: String,
        /// One down-and-up cycle, at least 2 s.
        period: Duration,
        /// How long it oscillates.
        duration: Duration,
    },
    /// A routing group connector stops carrying mail (e.g. its bridgehead service is
    /// stopped); servers mark it down.
    ConnectorDown {
        /// When.
        at: Duration,
        /// Which connector.
        connector: String,
    },
    /// A connector carries mail again.
    ConnectorUp {
        /// When.
        at: Duration,
        /// Which connector.
        connector: String,
    },
    /// A server dies: what it had not made durable is lost.
    ServerCrash {
        /// When.
        at: Duration,
        /// Which server.
        server: String,
        /// The power fails (rather than the server stopping): the write in progress may
        /// be torn, part of it on disk, and recovery discards the torn record.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        power_loss: bool,
    },
    /// A crashed server starts again and recovers its queues from disk.
    ServerRestart {
        /// When.
        at: Duration,
        /// Which server.
        server: String,
    },
    /// A cluster node fails: the Exchange virtual servers it owns stop (what they had
    /// not made durable is lost) and fail over to a passive node after their failover
    /// time, where the store runs soft recovery on the shared disks.
    NodeDown {
        /// When.
        at: Duration,
        /// Which node (of `topology.clusters`).
        node: String,
        /// The node loses power rather than stopping: the write in progress may be torn.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        power_loss: bool,
    },
    /// A failed cluster node returns, passive: a virtual server no node could take
    /// fails over to it.
    NodeUp {
        /// When.
        at: Duration,
        /// Which node.
        node: String,
    },
    /// A host beyond the organization stops answering (its packets are dropped): an
    /// unresponsive MX host, smart host, MTA or DNS server.
    HostDown {
        /// When.
        at: Duration,
        /// Which host.
        host: String,
    },
    /// The host answers again.
    HostUp {
        /// When.
        at: Duration,
        /// Which host.
        host: String,
    },
    /// An originating change on a domain controller: `count` user objects written at
    /// once (created the first time, modified after), `attributes` each — a bulk change
    /// of tens of thousands is a replication storm.
    DirectoryChange {
        /// When.
        at: Duration,
        /// The DC that makes it.
        dc: String,
        /// Objects written.
        count: u32,
        /// Attributes written per object.
        #[serde(default = "defaults::changed_attributes")]
        attributes: u32,
        /// Urgent replication (account lockout, password): notify partners at once.
        #[serde(default)]
        urgent: bool,
        /// Delete the objects instead (tombstones).
        #[serde(default)]
        delete: bool,
    },
    /// A domain controller's clock goes wrong: it reads `skew` ahead of true time (or
    /// behind, with `behind`); its originating writes carry its own clock's time, so
    /// conflicts go its way (ahead) or against it (behind). A skew of 0s sets it right.
    ClockSkew {
        /// When.
        at: Duration,
        /// Which DC.
        dc: String,
        /// How far off.
        skew: Duration,
        /// The clock is behind rather than ahead.
        #[serde(default)]
        behind: bool,
    },
    /// A domain controller stops answering (its NTDS service stopped; its database
    /// survives).
    DcDown {
        /// When.
        at: Duration,
        /// Which DC.
        dc: String,
    },
    /// It answers again and catches up.
    DcUp {
        /// When.
        at: Duration,
        /// Which DC.
        dc: String,
    },
    /// Scripted mail: `count` messages from `from` to `to`. A user's message is
    /// submitted at its home server by MAPI (authenticated) unless `via` names a server
    /// whose SMTP virtual server takes it; a sender outside the organization (an SMTP
    /// address) comes in through `via` on an anonymous session.
    Send {
        /// When.
        at: Duration,
        /// A user's alias or an outside SMTP address.
        from: String,
        /// Recipients: aliases of users, contacts and groups, or outside addresses.
        to: Vec<String>,
        /// Blind copies: recipients of the envelope only, not named in To or Cc (a
        /// journal report lists them only with `JournalBCC`).
        #[serde(default)]
        bcc: Vec<String>,
        /// The server whose SMTP virtual server takes the message.
        #[serde(default)]
        via: Option<String>,
        /// Whether the session authenticated; by default, yes for a user, no otherwise.
        #[serde(default)]
        authenticated: Option<bool>,
        /// How many messages, from 1 to 100,000.
        #[serde(default = "defaults::send_count")]
        #[schemars(range(min = 1, max = 100_000))]
        count: u32,
        /// Size of each in KB, from 1 to 1,048,576 (1 GB).
        #[serde(default = "defaults::send_size_kb")]
        #[schemars(range(min = 1, max = bounds::MESSAGE_SIZE_KB_MAX))]
        size_kb: u64,
        /// The Spam Confidence Level (0–9) the Intelligent Message Filter gives mail from
        /// an outside sender on an anonymous session; internal and authenticated mail is
        /// never rated (−1).
        #[serde(default)]
        #[schemars(range(max = 9))]
        scl: Option<u8>,
    },
    /// An administrator changes a recipient's attributes: query-based groups select by
    /// the new values from then on.
    ModifyRecipient {
        /// When.
        at: Duration,
        /// The recipient's alias or address.
        recipient: String,
        /// The attributes written (others keep their values).
        attributes: std::collections::BTreeMap<String, AttributeValues>,
        /// The domain controller the change is made on (with `topology.ad_replication`
        /// it replicates from there); the DC the recipient's domain's Recipient Update
        /// Service is bound to by default.
        #[serde(default)]
        domain_controller: Option<String>,
    },
    /// Directory churn as an address book sees it: `count` mailbox users, picked at
    /// random (the same for every seed), each get a new value of `attribute` — `repeat`
    /// times, `every` apart (a day by default). Each change is a `modify_recipient`.
    ChurnRecipients {
        /// When the first round happens.
        at: Duration,
        /// Users changed per round.
        #[schemars(range(min = 1))]
        count: u32,
        /// The attribute written.
        #[serde(default = "defaults::churned_attribute")]
        attribute: String,
        /// Rounds.
        #[serde(default = "defaults::one")]
        #[schemars(range(min = 1))]
        repeat: u32,
        /// Time between rounds.
        #[serde(default = "defaults::one_day")]
        every: Duration,
        /// The domain controller the changes are made on (see `modify_recipient`).
        #[serde(default)]
        domain_controller: Option<String>,
    },
    /// A recipient policy's SMTP domain renamed (EXCHANGE2003.md §9: a new SMTP domain
    /// forces version 2/3a full downloads before SP2): the Recipient Update Service
    /// stamps each recipient at `from` with `to` as its primary address (`mail`) and keeps
    /// the old one as a secondary proxy (`smtp:alias@from`), so mail to it still arrives.
    /// Both domains must be in `recipients.smtp_domains`. Only the directory's values
    /// change: orgsim's workload and routing keep addressing the recipients by their
    /// original addresses, which stay theirs.
    RenameSmtpDomain {
        /// When the stamps are written.
        at: Duration,
        /// The domain renamed.
        from: String,
        /// Its new name.
        to: String,
        /// Only these recipients, by alias or address (all at `from` when empty).
        #[serde(default)]
        recipients: Vec<String>,
        /// The domain controller the stamps are written on (see `modify_recipient`).
        #[serde(default)]
        domain_controller: Option<String>,
    },
    /// An administrator adds members to a distribution group or removes them (a
    /// standard group; a query-based group's members are its filter's).
    ModifyGroup {
        /// When.
        at: Duration,
        /// The group's alias or address.
        group: String,
        /// Recipients added, by alias or address.
        #[serde(default)]
        add: Vec<String>,
        /// Members removed, by alias or address.
        #[serde(default)]
        remove: Vec<String>,
        /// The domain controller the change is made on (with `topology.ad_replication`
        /// it replicates from there); the DC the group's domain's Recipient Update
        /// Service is bound to by default.
        #[serde(default)]
        domain_controller: Option<String>,
    },
    /// An administrator dismounts a database (Exchange System Manager, "Dismount Store"):
    /// mail for its mailboxes waits in its server's Local delivery queue, in Retry.
    DismountDatabase {
        /// When.
        at: Duration,
        /// The mailbox store's name.
        database: String,
    },
    /// An administrator mounts a database again; the mail waiting for it is delivered at
    /// Local delivery's next retry. A server that restarts mounts all its databases.
    MountDatabase {
        /// When.
        at: Duration,
        /// The mailbox store's name.
        database: String,
    },
    /// An administrator changes storage limits in the directory: one mailbox's own
    /// (`mailbox`) or a database's (`database`). The store re-reads a mailbox's quota
    /// every 2 hours, so the change takes effect up to 2 hours later.
    SetQuota {
        /// When.
        at: Duration,
        /// A user's alias: its own limits from now on.
        #[serde(default)]
        mailbox: Option<String>,
        /// A mailbox store's name: its limits, for mailboxes without their own.
        #[serde(default)]
        database: Option<String>,
        /// The new limits (each absent one: no limit).
        quota: Quota,
    },
    /// An online backup of a storage group completes (the databases stay mounted): ESE
    /// deletes the log files below the checkpoint's, which frees a full log disk (its
    /// databases then need a `mount_database`).
    Backup {
        /// When.
        at: Duration,
        /// The server.
        server: String,
        /// Its storage group.
        storage_group: String,
    },
    /// An administrator empties a server's Badmail folders (`virtual_server`'s only,
    /// when named). Advanced queuing notices at its next rescan (`badmail.sync_period`):
    /// a folder that had reached its cap takes Badmail again only from then. A server
    /// that is down is not purged [U].
    PurgeBadmail {
        /// When.
        at: Duration,
        /// The server.
        server: String,
        /// One of its virtual servers (the Default SMTP Virtual Server or an inbound
        /// one) by name; all of them when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        virtual_server: Option<String>,
    },
    /// A storage group's database volume fails (with its log volume when `logs_lost`):
    /// its databases are gone and dismount; mail for them waits in Local delivery. A
    /// `mount_database` then mounts a blank database in a lost one's place (dial tone);
    /// a `restore` brings the backup back.
    DiskFailure {
        /// When.
        at: Duration,
        /// The server.
        server: String,
        /// Its storage group.
        storage_group: String,
        /// The log volume fails too: what came after the last backup is lost.
        #[serde(default)]
        logs_lost: bool,
    },
    /// A restore of the newest backup set of `server`'s storage group (EXCHANGE2003.md
    /// §7) onto `to_server` (by default the same server): into its Recovery Storage
    /// Group, if it has one and no "Recovery SG Override", else over the original
    /// (lost, not since mounted blank) databases, which hard recovery brings up to date
    /// from the surviving logs and mounts.
    Restore {
        /// When.
        at: Duration,
        /// The server the backup is of.
        server: String,
        /// Its storage group.
        storage_group: String,
        /// The mailbox stores to restore (of that storage group); all by default.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        databases: Vec<String>,
        /// The server restored onto (its RSG); by default `server`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to_server: Option<String>,
    },
    /// A merge of a server's Recovery Storage Group into its users' live mailboxes
    /// (messages only: not rules, not folder permissions); the account running it needs
    /// Receive As and Send As on the target databases.
    Merge {
        /// When.
        at: Duration,
        /// The server with the Recovery Storage Group.
        server: String,
        /// The account has Receive As.
        #[serde(default = "defaults::yes")]
        receive_as: bool,
        /// The account has Send As.
        #[serde(default = "defaults::yes")]
        send_as: bool,
    },
    /// An administrator's Move Mailbox task (Exchange Task Wizard): the mailboxes move to
    /// `to_store`, at most 4 at once, in the order given; mail for a mailbox being moved
    /// waits in "Messages queued for deferred delivery" and goes to its new home after.
    MoveMailboxes {
        /// When the task starts.
        at: Duration,
        /// The mailboxes, by alias.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        mailboxes: Vec<String>,
        /// Or every mailbox of this store, in alias order…
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_store: Option<String>,
        /// …the first `count` of them.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        count: Option<u32>,
        /// The target mailbox store.
        to_store: String,
        /// When the task is cancelled: moves not finished by then stop, the mailboxes
        /// stay where they are.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cancel_at: Option<Duration>,
    },
    /// SP2: an administrator stops all content replication of public folders in the
    /// organization (the tool against replication storms); the hierarchy keeps
    /// replicating, backfill requests for content wait.
    StopPublicFolderReplication {
        /// When.
        at: Duration,
    },
    /// SP2: content replication resumes; waiting backfill requests are answered.
    ResumePublicFolderReplication {
        /// When.
        at: Duration,
    },
    /// SP2 Synchronize Hierarchy on a public store: it asks every other store for its
    /// hierarchy status and backfills what it lacks.
    SynchronizeHierarchy {
        /// When.
        at: Duration,
        /// The public store.
        store: String,
    },
    /// SP2 Send Contents from a public store: the items of every folder it holds changed
    /// in the last `days` days go to the folder's other replicas at once — or, with `to`,
    /// Resend Changes to those stores only.
    SendContents {
        /// When.
        at: Duration,
        /// The public store sending.
        store: String,
        /// How far back, in days (at least 1).
        days: u64,
        /// Resend Changes to these public stores (every other replica when empty).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        to: Vec<String>,
    },
    /// An administrator changes a folder's replica list through a server's public store
    /// (Manage Public Folder Settings): stores added and removed, on the folder or down
    /// its whole subtree. A removed store leaves once a remaining replica holds what it
    /// held.
    SetReplicas {
        /// When.
        at: Duration,
        /// The public store where the change is made.
        store: String,
        /// The folder's path.
        folder: String,
        /// Public stores to add.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        add: Vec<String>,
        /// Public stores to remove.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        remove: Vec<String>,
        /// Overwrite down the subtree (the wizard's "this folder and its subfolders").
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        subtree: bool,
    },
    /// An administrator sets what the `Default` user may do in a folder through a public
    /// store (Manage Public Folder Settings, permissions), on the folder or down its
    /// subtree; the change replicates with the hierarchy.
    SetPublicFolderPermissions {
        /// When.
        at: Duration,
        /// The public store where the change is made.
        store: String,
        /// The folder's path.
        folder: String,
        /// The `Default` user's role.
        default_role: DefaultRoleDef,
        /// Overwrite down the subtree.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        subtree: bool,
    },
    /// SP2 Move All Replicas: every folder `from` replicates moves to `to`; `from`
    /// leaves each once `to` holds its content.
    MoveAllReplicas {
        /// When.
        at: Duration,
        /// The public store emptied.
        from: String,
        /// The public store taking its replicas.
        to: String,
    },
    /// An administrator deletes a public folder and its subfolders through a public
    /// store; SP2 logs event 9682 there at logging level Medium or higher.
    DeletePublicFolder {
        /// When.
        at: Duration,
        /// The public store where the deletion is made.
        store: String,
        /// The folder's path.
        folder: String,
        /// The administrator's alias (a user listed in `recipients.users`).
        by: String,
    },
    /// An administrator names another routing group master (Exchange System Manager,
    /// "Set as Master"); a directory change every server reads.
    SetMaster {
        /// When.
        at: Duration,
        /// The routing group.
        routing_group: String,
        /// Its new master, a member of the group.
        server: String,
    },
}

impl Action {
    /// When the action happens.
    pub fn at(&self) -> Duration {
        match self {
            Action::LinkDown { at, .. }
            | Action::LinkUp { at, .. }
            | Action::LinkOscillate { at, .. }
            | Action::ConnectorDown { at, .. }
            | Action::ConnectorUp { at, .. }
            | Action::ServerCrash { at, .. }
            | Action::ServerRestart { at, .. }
            | Action::NodeDown { at, .. }
            | Action::NodeUp { at, .. }
            | Action::HostDown { at, .. }
            | Action::HostUp { at, .. }
            | Action::DirectoryChange { at, .. }
            | Action::DcDown { at, .. }
            | Action::ClockSkew { at, .. }
            | Action::DcUp { at, .. }
            | Action::Send { at, .. }
            | Action::ModifyRecipient { at, .. }
            | Action::ChurnRecipients { at, .. }
            | Action::RenameSmtpDomain { at, .. }
            | Action::ModifyGroup { at, .. }
            | Action::DismountDatabase { at, .. }
            | Action::MountDatabase { at, .. }
            | Action::Backup { at, .. }
            | Action::PurgeBadmail { at, .. }
            | Action::DiskFailure { at, .. }
            | Action::Restore { at, .. }
            | Action::Merge { at, .. }
            | Action::MoveMailboxes { at, .. }
            | Action::SetQuota { at, .. }
            | Action::StopPublicFolderReplication { at }
            | Action::ResumePublicFolderReplication { at }
            | Action::SynchronizeHierarchy { at, .. }
            | Action::SendContents { at, .. }
            | Action::SetReplicas { at, .. }
            | Action::MoveAllReplicas { at, .. }
            | Action::SetPublicFolderPermissions { at, .. }
            | Action::DeletePublicFolder { at, .. }
            | Action::SetMaster { at, .. } => *at,
        }
    }
}
