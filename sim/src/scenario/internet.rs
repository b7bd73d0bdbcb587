//! The Internet beyond the organization and the connectors with address spaces that reach it.

use super::*;

/// The address type of an address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AddressType {
    /// SMTP: `*`, a domain (`fabrikam.com`) or a wildcard (`*.edu`).
    Smtp,
    /// X.400: O/R attributes, e.g. `c=US;a= ;p=Legacy;o=NYC` (`*` as a value matches any).
    X400,
}

/// An address space of a connector.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressSpaceSpec {
    /// Address type.
    #[serde(rename = "type")]
    pub address_type: AddressType,
    /// The pattern.
    pub address: String,
    /// Cost 1–100, added to the route cost of reaching the connector's routing group.
    #[serde(default = "defaults::address_space_cost")]
    pub cost: u32,
}

/// An SMTP connector with address spaces.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SmtpConnector {
    /// Name; also the name of its link queue on servers that forward to its bridgeheads.
    pub name: String,
    /// The routing group it belongs to.
    pub routing_group: String,
    /// Its local bridgehead servers, in that group.
    pub source_bridgeheads: Vec<String>,
    /// What it carries.
    pub address_spaces: Vec<AddressSpaceSpec>,
    /// An Internet host to forward all mail to, or a server of another forest (its
    /// bridgehead, §6); without one, DNS MX lookup per domain.
    #[serde(default)]
    pub smart_host: Option<String>,
    /// With a smart host of another forest: the inbound virtual server of it that takes
    /// the mail (by name; its first by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smart_host_virtual_server: Option<String>,
    /// How the connector authenticates to the server it delivers to (Outbound Security;
    /// anonymous by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_security: Option<OutboundSecuritySpec>,
}

/// An SMTP connector's Outbound Security.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum OutboundSecuritySpec {
    /// Anonymous access.
    Anonymous,
    /// Basic authentication (`AUTH LOGIN`) as an account of the receiving organization
    /// (§6 Option 1).
    Basic {
        /// The account.
        account: String,
        /// Its password.
        password: String,
    },
}

/// An X.400 connector with address spaces.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct X400Connector {
    /// Name; also the name of its link queue.
    pub name: String,
    /// The routing group it belongs to.
    pub routing_group: String,
    /// The servers whose MTAs run it, in that group.
    pub source_bridgeheads: Vec<String>,
    /// What it carries.
    pub address_spaces: Vec<AddressSpaceSpec>,
    /// The remote MTA: an `internet` host with role `mta`.
    pub remote_mta: String,
}

/// What a host beyond the organization is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HostRoleSpec {
    /// Accepts SMTP mail: an MX host or a smart host.
    Mail,
    /// A foreign X.400 MTA.
    Mta,
    /// A DNS server answering MX queries.
    Dns,
}

/// A host beyond the organization.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Host {
    /// Name (also what MX records and connectors refer to).
    pub name: String,
    /// What it does.
    pub role: HostRoleSpec,
    /// Its site; the Internet's `site` unless given.
    #[serde(default)]
    pub site: Option<String>,
    /// Its IP (its name's A record): what Sender ID's `a` and `mx` mechanisms compare.
    #[serde(default)]
    pub ip: Option<std::net::Ipv4Addr>,
}

/// An MX record.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Mx {
    /// Preference: lower first, equal ones share the load.
    pub preference: u16,
    /// A host with role `mail`.
    pub host: String,
}

/// An external domain in DNS.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExternalDomain {
    /// DNS name.
    pub name: String,
    /// Its MX records; a domain not listed does not exist (NXDOMAIN → 5.4.0).
    pub mx: Vec<Mx>,
    /// Its TXT records, e.g. a Sender ID record `spf2.0/pra ip4:192.0.2.0/24 -all`.
    #[serde(default)]
    pub txt: Vec<String>,
    /// Its A records.
    #[serde(default)]
    pub a: Vec<std::net::Ipv4Addr>,
}

/// A block list provider's zone (a DNSBL): who it lists and with which return codes.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockList {
    /// The zone, e.g. `bl.example.org`; a listed IP `a.b.c.d` answers for `d.c.b.a.<zone>`.
    pub zone: String,
    /// Its listings.
    pub listed: Vec<Listing>,
}

/// IPs a block list lists, with the codes it answers for them.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Listing {
    /// A single IP or a subnet (`192.0.2.0/24`).
    pub ip: String,
    /// Return codes (`127.0.0.x`; bits name lists); `127.0.0.2` by default.
    #[serde(default = "defaults::dnsbl_codes")]
    pub codes: Vec<std::net::Ipv4Addr>,
}

/// The simulated Internet.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Internet {
    /// The site (listed in `topology.sites`) its hosts are in; WAN links to it are the
    /// organization's Internet connections.
    pub site: String,
    /// Hosts.
    pub hosts: Vec<Host>,
    /// DNS servers bridgeheads ask, in order (hosts with role `dns`).
    #[serde(default)]
    pub dns_servers: Vec<String>,
    /// How long a bridgehead waits for one DNS server before asking the next.
    #[serde(default = "defaults::dns_timeout")]
    pub dns_timeout: Duration,
    /// External domains and their MX records.
    #[serde(default)]
    pub domains: Vec<ExternalDomain>,
    /// Block list (DNSBL) zones the DNS servers answer.
    #[serde(default)]
    pub block_lists: Vec<BlockList>,
}
