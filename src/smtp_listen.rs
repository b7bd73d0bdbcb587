//! `orgsim smtp-listen`: one inbound virtual server of a scenario's organization behind a
//! real TCP socket on 127.0.0.1. The session is the same sans-IO machine the simulation
//! drives ([`EdgeSession`]); only the driver differs — lines from a socket instead of
//! frames on the simulated network, directory and DNS answers read from the scenario's
//! organization and simulated Internet instead of asked of simulated GCs and DNS
//! servers. A real client (Python's smtplib, swaks) can probe the filter chain and see
//! the replies Exchange would give.
//!
//! The Intelligent Message Filter's rating of content is not modelled: a message's
//! `X-Orgsim-Content-SCL: n` header (0–9, absent: 0) stands for it. Sessions are served
//! one at a time.

use org::planted_bugs::Plants;
use org::transport::dns::DnsZones;
use org::transport::smtp_filters::edge_session::{
    EdgeAnswer, EdgeCommand, EdgeContent, EdgeQuery, EdgeReply, EdgeSession, EdgeStep, Exch50,
};
use org::transport::smtp_filters::EdgeConfig;
use org::AddressId;
use sim::resolve::Resolved;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// The listener's options.
pub struct ListenOptions<'a> {
    /// The Exchange server.
    pub server: &'a str,
    /// Its inbound virtual server; the first when not given.
    pub virtual_server: Option<&'a str>,
    /// The port on 127.0.0.1 (0: any free one, printed).
    pub port: u16,
    /// The IP sessions are judged as coming from (the socket's peer is 127.0.0.1).
    pub client_ip: Option<Ipv4Addr>,
    /// Stop after this many sessions.
    pub max_sessions: Option<u64>,
    /// Drop a session idle this long.
    pub idle_timeout_s: u64,
}

/// Runs the listener until `max_sessions` sessions have been served (or for ever).
pub fn smtp_listen_command(scenario: &Path, resolved: &Resolved, options: &ListenOptions<'_>) -> ExitCode {
    let edge = &resolved.topology.edge;
    let Some(index) = pick_virtual_server(scenario, resolved, options) else { return ExitCode::from(2) };
    let listener = match TcpListener::bind(("127.0.0.1", options.port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("orgsim smtp-listen: cannot listen on 127.0.0.1:{}: {e}", options.port);
            return ExitCode::from(1);
        }
    };
    let port = listener.local_addr().map_or(options.port, |a| a.port());
    let vs = &edge.virtual_servers[index].1;
    let judged = options.client_ip.map_or("the peer's address".to_string(), |ip| ip.to_string());
    println!(
        "orgsim smtp-listen: {} / {} ({}) on 127.0.0.1:{port}; sessions judged as from {judged}",
        resolved.topology.server(edge.virtual_servers[index].0).name,
        vs.name,
        enabled_filters(edge, index)
    );
    let _ = std::io::stdout().flush();
    let directory = Directory::of(resolved, index);
    let mut served = 0;
    for stream in listener.incoming() {
        served += 1;
        match stream {
            Ok(stream) => {
                let zones = &resolved.topology.internet.zones;
                let mut conn = Connection { edge, zones, index, directory: &directory, number: served };
                if let Err(e) = conn.serve(stream, options) {
                    println!("[{served}] connection ended: {e}");
                }
            }
            Err(e) => println!("[{served}] accept failed: {e}"),
        }
        let _ = std::io::stdout().flush();
        if options.max_sessions.is_some_and(|max| served >= max) {
            break;
        }
    }
    ExitCode::SUCCESS
}

fn pick_virtual_server(scenario: &Path, resolved: &Resolved, options: &ListenOptions<'_>) -> Option<usize> {
    let topology = &resolved.topology;
    let file = scenario.display();
    let Some(server) = topology.servers.iter().position(|s| s.name.eq_ignore_ascii_case(options.server)) else {
        let known: Vec<&str> = topology.servers.iter().map(|s| s.name.as_str()).collect();
        eprintln!("orgsim smtp-listen: {file} has no server named {:?} (known: {})", options.server, known.join(", "));
        return None;
    };
    let on_server: Vec<usize> = (0..topology.edge.virtual_servers.len())
        .filter(|&i| usize::from(topology.edge.virtual_servers[i].0 .0) == server)
        .collect();
    let name = |i: usize| topology.edge.virtual_servers[i].1.name.as_str();
    let found = match options.virtual_server {
        None => on_server.first().copied(),
        Some(wanted) => on_server.iter().copied().find(|&i| name(i).eq_ignore_ascii_case(wanted)),
    };
    if found.is_none() {
        let known: Vec<&str> = on_server.iter().map(|&i| name(i)).collect();
        let server = &topology.servers[server].name;
        match (options.virtual_server, known.is_empty()) {
            (_, true) => {
                eprintln!("orgsim smtp-listen: {server} in {file} has no inbound_virtual_servers to listen as")
            }
            (Some(w), false) => eprintln!(
                "orgsim smtp-listen: {server} in {file} has no inbound virtual server named {w:?} (known: {})",
                known.join(", ")
            ),
            (None, false) => unreachable!("a first one exists"),
        }
    }
    found
}

fn enabled_filters(edge: &EdgeConfig, index: usize) -> String {
    let f = edge.virtual_servers[index].1.filters;
    let names = [
        (f.connection, "connection"),
        (f.sender, "sender"),
        (f.recipient, "recipient"),
        (f.sender_id, "sender ID"),
        (f.imf, "IMF"),
    ];
    let on: Vec<&str> = names.iter().filter(|(on, _)| *on).map(|(_, n)| *n).collect();
    if on.is_empty() {
        "no filters".into()
    } else {
        format!("filters: {}", on.join(", "))
    }
}

/// Which addresses the directory holds, by lower-case address.
struct Directory(BTreeMap<String, bool>);

impl Directory {
    /// What the virtual server's forest's GCs hold.
    fn of(resolved: &Resolved, virtual_server: usize) -> Directory {
        let forest = resolved.topology.edge.virtual_servers[virtual_server].1.forest;
        let gc = resolved.topology.gal(forest);
        let held = resolved.addresses.iter().enumerate().map(|(i, a)| {
            let id = AddressId(i as u32);
            (a.to_ascii_lowercase(), gc.object(id).is_some())
        });
        Directory(held.collect())
    }

    fn holds(&self, address: &str) -> bool {
        self.0.get(&address.to_ascii_lowercase()).copied().unwrap_or(false)
    }
}

struct Connection<'a> {
    edge: &'a EdgeConfig,
    zones: &'a DnsZones,
    index: usize,
    directory: &'a Directory,
    number: u64,
}

/// What the driver reads next.
#[derive(PartialEq, Eq)]
enum Mode {
    Commands,
    Body,
    /// The Exch50 blob XEXCH50 announced, after the 354.
    Blob,
}

/// The largest Exch50 blob the listener reads (real ones are 1–3 KB).
const EXCH50_BLOB_MAX_BYTES: u64 = 64 * 1_024;

impl Connection<'_> {
    fn serve(&mut self, stream: TcpStream, options: &ListenOptions<'_>) -> std::io::Result<()> {
        stream.set_read_timeout(Some(Duration::from_secs(options.idle_timeout_s.max(1))))?;
        let peer = match stream.peer_addr()? {
            SocketAddr::V4(a) => *a.ip(),
            SocketAddr::V6(_) => Ipv4Addr::LOCALHOST,
        };
        let ip = options.client_ip.unwrap_or(peer);
        println!("[{}] connect from {peer}, judged as {ip}", self.number);
        let ctx = self.edge.context(self.index, Plants::NONE);
        let mut session = EdgeSession::connect(ctx, ip);
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut writer = stream;
        let mut mode = Mode::Commands;
        let mut blob_size = 0;
        loop {
            if self.drive(&mut session, &mut writer, &mut mode)? {
                return Ok(());
            }
            let command = match mode {
                Mode::Commands => match read_line(&mut reader)? {
                    None => return Ok(()),
                    Some(line) => {
                        println!("[{}] C: {}", self.number, shown(&line));
                        let command = self.command(&line, &mut reader, &mut writer)?;
                        if let EdgeCommand::Xexch50 { size_bytes } = command {
                            blob_size = size_bytes;
                        }
                        command
                    }
                },
                Mode::Blob => {
                    mode = Mode::Commands;
                    let blob = read_blob(&mut reader, blob_size)?;
                    println!("[{}] C: <Exch50 blob, {blob_size} bytes, SCL {}>", self.number, blob.scl);
                    EdgeCommand::Exch50Blob(blob)
                }
                Mode::Body => {
                    mode = Mode::Commands;
                    let content = read_body(&mut reader)?;
                    println!("[{}] C: <message, {} bytes>", self.number, content.size_bytes);
                    EdgeCommand::Content(content)
                }
            };
            session.push(command);
        }
    }

    /// Runs the session until it waits; true once it closed.
    fn drive(&self, session: &mut EdgeSession, writer: &mut TcpStream, mode: &mut Mode) -> std::io::Result<bool> {
        let ctx = self.edge.context(self.index, Plants::NONE);
        let vs = ctx.server;
        while let Some(step) = session.poll(ctx) {
            match step {
                EdgeStep::Reply { reply, delay_ms, refused_by, .. } => {
                    if delay_ms > 0 {
                        std::thread::sleep(Duration::from_millis(delay_ms));
                    }
                    if reply == EdgeReply::StartMailInput {
                        *mode = Mode::Body;
                    }
                    if reply == EdgeReply::SendBinary {
                        *mode = Mode::Blob;
                    }
                    let step = refused_by.map_or(String::new(), |s| format!("   [refused by {}]", s.as_str()));
                    self.write(writer, &reply.lines(&vs.fqdn, session.ip()), &step)?;
                }
                EdgeStep::Query(query) => {
                    let answer = self.answer(&query);
                    println!("[{}] lookup {query:?} → {answer:?}", self.number);
                    session.answer(ctx, answer);
                }
                EdgeStep::Accept(accepted) => {
                    println!(
                        "[{}] accepted from <{}> for {:?}: {:?}, SCL {}, Sender ID {:?}, Exch50 {}",
                        self.number,
                        accepted.sender,
                        accepted.recipients,
                        accepted.disposition,
                        accepted.scl,
                        accepted.sender_id,
                        accepted.exch50.as_str()
                    );
                    self.write(writer, &EdgeReply::Queued.lines(&vs.fqdn, session.ip()), "")?;
                }
                EdgeStep::Close { reply, dropped_by, .. } => {
                    if let Some(reply) = reply {
                        self.write(writer, &reply.lines(&vs.fqdn, session.ip()), "")?;
                    }
                    let why = dropped_by.map_or(String::new(), |s| format!(" by {}", s.as_str()));
                    println!("[{}] closed{why}", self.number);
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    fn answer(&self, query: &EdgeQuery) -> EdgeAnswer {
        match query {
            EdgeQuery::Dns(q) => EdgeAnswer::Dns(self.zones.answer(q)),
            EdgeQuery::Directory(address) => EdgeAnswer::Directory(Some(self.directory.holds(address))),
            EdgeQuery::Authenticate { account, password } => {
                let forest = self.edge.virtual_servers[self.index].1.forest;
                EdgeAnswer::Authenticated(self.edge.authenticate(forest, account, password))
            }
        }
    }

    fn write(&self, writer: &mut TcpStream, lines: &[String], note: &str) -> std::io::Result<()> {
        for line in lines {
            println!("[{}] S: {line}{note}", self.number);
            writer.write_all(line.as_bytes())?;
            writer.write_all(b"\r\n")?;
        }
        writer.flush()
    }

    /// One command line; AUTH LOGIN reads its two continuation lines here.
    fn command(&self, line: &str, reader: &mut impl BufRead, writer: &mut TcpStream) -> std::io::Result<EdgeCommand> {
        let parsed = parse_command(line);
        let Parsed::AuthLogin(initial) = parsed else {
            return Ok(match parsed {
                Parsed::Command(c) => c,
                Parsed::AuthLogin(_) => unreachable!("matched above"),
            });
        };
        let mut prompt = |text: &str| -> std::io::Result<Option<String>> {
            self.write(writer, &[format!("334 {text}")], "")?;
            let Some(answer) = read_line(reader)? else { return Ok(None) };
            println!("[{}] C: {answer}", self.number);
            Ok(base64_decode(answer.trim()).and_then(|b| String::from_utf8(b).ok()))
        };
        let account = match initial {
            Some(a) => base64_decode(&a).and_then(|b| String::from_utf8(b).ok()),
            None => prompt("VXNlcm5hbWU6")?,
        };
        let password = prompt("UGFzc3dvcmQ6")?;
        Ok(match account.zip(password) {
            Some((account, password)) => EdgeCommand::Auth { account, password },
            None => EdgeCommand::Syntax,
        })
    }
}

/// A command line as the driver reads it.
#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    Command(EdgeCommand),
    /// `AUTH LOGIN`, with the account if sent on the same line.
    AuthLogin(Option<String>),
}

fn parse_command(line: &str) -> Parsed {
    let line = line.trim_end_matches(['\r', '\n']);
    let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
    let rest = rest.trim();
    let command = match verb.to_ascii_uppercase().as_str() {
        "EHLO" if !rest.is_empty() => EdgeCommand::Ehlo(rest.to_string()),
        "HELO" if !rest.is_empty() => EdgeCommand::Helo(rest.to_string()),
        "MAIL" => match path(rest, "FROM:") {
            Some((sender, params)) => EdgeCommand::MailFrom { sender, size_bytes: size_param(params) },
            None => EdgeCommand::Syntax,
        },
        "RCPT" => match path(rest, "TO:") {
            Some((recipient, _)) if !recipient.is_empty() => EdgeCommand::RcptTo(recipient),
            _ => EdgeCommand::Syntax,
        },
        "DATA" => EdgeCommand::Data,
        "XEXCH50" => match rest.split_whitespace().next().and_then(|n| n.parse::<u64>().ok()) {
            Some(size_bytes) if size_bytes <= EXCH50_BLOB_MAX_BYTES => EdgeCommand::Xexch50 { size_bytes },
            _ => EdgeCommand::Syntax,
        },
        "RSET" => EdgeCommand::Rset,
        "NOOP" => EdgeCommand::Noop,
        "QUIT" => EdgeCommand::Quit,
        "AUTH" => {
            let mut words = rest.split_whitespace();
            return match words.next().map(str::to_ascii_uppercase).as_deref() {
                Some("LOGIN") => Parsed::AuthLogin(words.next().map(str::to_string)),
                // A mechanism not offered: the session answers 504 (an account that is
                // never valid).
                Some(_) => Parsed::Command(EdgeCommand::Auth { account: String::new(), password: String::new() }),
                None => Parsed::Command(EdgeCommand::Syntax),
            };
        }
        "EHLO" | "HELO" => EdgeCommand::Syntax,
        _ => EdgeCommand::Unknown,
    };
    Parsed::Command(command)
}

/// The Exch50 blob: `size` raw bytes. Its format is Exchange's own; orgsim reads one
/// property from it, `SCL=n` in ASCII where the blob holds it [U], else none.
fn read_blob<R: BufRead>(reader: &mut R, size: u64) -> std::io::Result<Exch50> {
    let mut bytes = vec![0; size as usize];
    reader.read_exact(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes);
    let scl = text
        .split(|c: char| c.is_whitespace() || c == ';' || c == '\0')
        .find_map(|w| w.strip_prefix("SCL=").and_then(|n| n.parse::<i8>().ok()))
        .filter(|scl| (-1..=9).contains(scl))
        .unwrap_or(org::message::SCL_NOT_RATED);
    Ok(Exch50 { scl })
}

/// `FROM:<a@b> SIZE=10` → (`a@b`, `SIZE=10`); `<>` is the empty path.
fn path<'l>(rest: &'l str, keyword: &str) -> Option<(String, &'l str)> {
    let head = rest.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let after = rest[keyword.len()..].trim_start();
    let inner = after.strip_prefix('<')?;
    let (address, params) = inner.split_once('>')?;
    let valid = address.is_empty() || (address.matches('@').count() == 1 && !address.contains([' ', '<']));
    valid.then(|| (address.to_string(), params.trim()))
}

fn size_param(params: &str) -> Option<u64> {
    params.split_whitespace().find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.eq_ignore_ascii_case("SIZE").then(|| v.parse().ok()).flatten()
    })
}

/// A line, without its CRLF; `None` at the end of the stream. A line is read up to
/// 64 KiB (RFC 5321 asks for 512 bytes of command and 1,000 of text).
fn read_line<R: BufRead>(reader: &mut R) -> std::io::Result<Option<String>> {
    let mut bytes = Vec::new();
    let n = reader.by_ref().take(64 * 1024).read_until(b'\n', &mut bytes)?;
    if n == 0 {
        return Ok(None);
    }
    let line = String::from_utf8_lossy(&bytes);
    Ok(Some(line.trim_end_matches(['\r', '\n']).to_string()))
}

/// The message up to `.` alone on a line: its size, its From header's address and the
/// content rating standing in for IMF's.
fn read_body<R: BufRead>(reader: &mut R) -> std::io::Result<EdgeContent> {
    let mut size_bytes = 0u64;
    let mut in_headers = true;
    let mut header_from = None;
    let mut content_scl = 0i8;
    loop {
        let Some(line) = read_line(reader)? else {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the client left inside DATA"));
        };
        if line == "." {
            break;
        }
        size_bytes += line.len() as u64 + 2;
        if line.is_empty() {
            in_headers = false;
        }
        if !in_headers {
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("From") {
                header_from = header_address(value);
            } else if name.eq_ignore_ascii_case("X-Orgsim-Content-SCL") {
                content_scl = value.trim().parse::<i8>().ok().filter(|s| (0..=9).contains(s)).unwrap_or(0);
            }
        }
    }
    Ok(EdgeContent {
        header_from,
        size_bytes,
        content_scl,
        message_id: org::message::MessageId::Client(0),
        headers: None,
    })
}

/// `"Alice" <alice@fabrikam.com>` or `alice@fabrikam.com` → the address.
fn header_address(value: &str) -> Option<String> {
    let value = value.trim();
    let address = match (value.rfind('<'), value.rfind('>')) {
        (Some(open), Some(close)) if open < close => &value[open + 1..close],
        _ => value,
    };
    address.contains('@').then(|| address.trim().to_string())
}

/// A command line as the log shows it (AUTH's credentials hidden).
fn shown(line: &str) -> String {
    if line.get(..4).is_some_and(|v| v.eq_ignore_ascii_case("AUTH")) {
        return line.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    }
    line.to_string()
}

/// Standard base64 (RFC 4648 §4), padding optional; `None` on anything else.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let digits = text.trim_end_matches('=').as_bytes();
    if digits.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= value(c)? << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_with_their_paths_and_parameters() {
        let c = |l: &str| match parse_command(l) {
            Parsed::Command(c) => c,
            other => panic!("{other:?}"),
        };
        assert_eq!(c("EHLO client.example"), EdgeCommand::Ehlo("client.example".into()));
        assert_eq!(
            c("mail from:<a@b.example> SIZE=1234"),
            EdgeCommand::MailFrom { sender: "a@b.example".into(), size_bytes: Some(1234) }
        );
        assert_eq!(c("MAIL FROM: <>"), EdgeCommand::MailFrom { sender: String::new(), size_bytes: None });
        assert_eq!(c("RCPT TO:<alice@contoso.com>"), EdgeCommand::RcptTo("alice@contoso.com".into()));
        for bad in ["RCPT TO:alice@contoso.com", "RCPT TO:<>", "MAIL FROM:<a b@c>", "MAIL <a@b>", "EHLO"] {
            assert_eq!(c(bad), EdgeCommand::Syntax, "{bad}");
        }
        assert_eq!(c("VRFY alice"), EdgeCommand::Unknown);
        assert_eq!(parse_command("AUTH LOGIN"), Parsed::AuthLogin(None));
        assert_eq!(parse_command("auth login Ym9i"), Parsed::AuthLogin(Some("Ym9i".into())));
    }

    #[test]
    fn base64_as_rfc_4648_gives_it() {
        assert_eq!(base64_decode("Ym9i").unwrap(), b"bob");
        assert_eq!(base64_decode("c2VjcmV0").unwrap(), b"secret");
        assert_eq!(base64_decode("Zm9vYmE=").unwrap(), b"fooba");
        assert_eq!(base64_decode("Zg==").unwrap(), b"f");
        assert_eq!(base64_decode("").unwrap(), b"");
        assert!(base64_decode("Z").is_none());
        assert!(base64_decode("Zm9v!").is_none());
    }

    #[test]
    fn the_body_gives_its_from_header_size_and_rating() {
        let text = "From: \"Mallory\" <ceo@fabrikam.com>\r\nX-Orgsim-Content-SCL: 8\r\nSubject: hi\r\n\r\nFrom: body@x.example\r\n.\r\nQUIT\r\n";
        let mut reader = BufReader::new(text.as_bytes());
        let content = read_body(&mut reader).unwrap();
        assert_eq!(content.header_from.as_deref(), Some("ceo@fabrikam.com"));
        assert_eq!(content.content_scl, 8);
        assert_eq!(content.size_bytes, 98);
        assert_eq!(read_line(&mut reader).unwrap().as_deref(), Some("QUIT"));
        let mut cut = BufReader::new("From: a@b\r\n".as_bytes());
        assert!(read_body(&mut cut).is_err(), "a client that leaves inside DATA");
    }
}
