//! End-to-end: `orgsim smtp-listen` behind a real socket, probed by a real SMTP client
//! library (Python's smtplib), with bounded sessions and timeouts. The replies are the
//! filter chain's (EXCHANGE2003.md §3.1) for the gateway scenario's settings.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SCENARIO: &str = "scenarios/smtp-edge-gateway.json";

/// A listener serving `sessions` sessions, judged as from `client_ip`.
struct Listener {
    child: Child,
    port: u16,
}

impl Listener {
    fn start(client_ip: &str, sessions: u32) -> Listener {
        let mut child = Command::new(env!("CARGO_BIN_EXE_orgsim"))
            .args(["smtp-listen", SCENARIO, "--server", "EX-GW", "--port", "0", "--idle-timeout", "10"])
            .args(["--client-ip", client_ip, "--max-sessions", &sessions.to_string()])
            .current_dir(common::root())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("orgsim starts");
        let mut first = String::new();
        let stdout = child.stdout.as_mut().expect("piped");
        let mut reader = BufReader::new(stdout);
        reader.read_line(&mut first).expect("the banner line");
        let port = first
            .rsplit_once("127.0.0.1:")
            .and_then(|(_, rest)| rest.split(';').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {first:?}"));
        Listener { child, port }
    }

    /// Waits (at most 30 s) for the listener to exit after its sessions; its log.
    fn finish(mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().expect("wait").is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("smtp-listen did not exit after its sessions");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut log = String::new();
        self.child.stdout.take().expect("piped").read_to_string(&mut log).expect("log");
        log
    }
}

/// Runs a Python smtplib script against `port`; its stdout, one reply per line.
fn smtplib(port: u16, body: &str) -> String {
    let script = format!(
        "import smtplib, sys\n\
         s = smtplib.SMTP('127.0.0.1', {port}, timeout=10)\n\
         def show(r):\n    print(r[0], r[1].decode())\n\
         {body}\n\
         try:\n    s.quit()\nexcept Exception:\n    pass\n"
    );
    let out = Command::new("python3").args(["-c", &script]).output().expect("python3 runs (README: it is a test tool)");
    assert!(out.status.success(), "smtplib failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

const MESSAGE: &str = "'From: bob@fabrikam.com\\r\\nSubject: hello\\r\\n\\r\\nhi\\r\\n'";

#[test]
fn a_partner_network_passes_and_unknown_recipients_and_relay_are_refused() {
    let listener = Listener::start("192.0.2.10", 2);
    let body = format!(
        "s.ehlo('mx.fabrikam.com')\n\
         show(s.mail('bob@fabrikam.com'))\n\
         show(s.rcpt('alice@contoso.com'))\n\
         show(s.rcpt('nobody@contoso.com'))\n\
         show(s.rcpt('ceo@contoso.com'))\n\
         show(s.rcpt('x@elsewhere.example'))\n\
         show(s.data({MESSAGE}))\n\
         s.quit()\n\
         s = smtplib.SMTP('127.0.0.1', {port}, timeout=10)\n\
         s.ehlo('laptop')\n\
         show(s.login('alice', 'Pa55word'))\n\
         show(s.mail('alice@contoso.com'))\n\
         show(s.rcpt('x@elsewhere.example'))\n\
         show(s.data({MESSAGE}))",
        port = listener.port
    );
    let replies = smtplib(listener.port, &body);
    let log = listener.finish();
    let expected = [
        "250 2.1.0 bob@fabrikam.com....Sender OK",
        "250 2.1.5 alice@contoso.com",
        "550 5.7.1 Requested action not taken: mailbox not available",
        "550 5.7.1 Requested action not taken: mailbox not available",
        "550 5.7.1 Unable to relay for x@elsewhere.example",
        "250 2.6.0 Queued mail for delivery",
        "235 2.7.0 Authentication successful",
        "250 2.1.0 alice@contoso.com....Sender OK",
        "250 2.1.5 x@elsewhere.example",
        "250 2.6.0 Queued mail for delivery",
    ];
    assert_eq!(replies.lines().collect::<Vec<_>>(), expected, "{log}");
    assert!(
        log.contains("[refused by recipient_not_in_directory]") && log.contains("[refused by recipient_blocked]"),
        "{log}"
    );
    assert!(log.contains("Deliver, SCL 0, Sender ID Some(Pass)"), "Sender ID passes the domain's network: {log}");
    assert!(log.contains("Deliver, SCL -1, Sender ID None"), "an authenticated session is not filtered: {log}");
}

#[test]
fn a_block_listed_client_gets_the_rule_text_and_only_exceptions_pass() {
    let listener = Listener::start("203.0.113.66", 1);
    let body = "s.ehlo('spam.example')\n\
                show(s.mail('x@fabrikam.com'))\n\
                show(s.rcpt('alice@contoso.com'))\n\
                show(s.rcpt('postmaster@contoso.com'))";
    let replies = smtplib(listener.port, body);
    let log = listener.finish();
    let expected = [
        "250 2.1.0 x@fabrikam.com....Sender OK",
        "550 5.7.1 203.0.113.66 is on lists 2 and 4 of combined.bl.example (rule Combined lists 2 and 4)",
        "250 2.1.5 postmaster@contoso.com",
    ];
    assert_eq!(replies.lines().collect::<Vec<_>>(), expected, "{log}");
}

#[test]
fn a_spoofed_sender_is_rejected_by_sender_id_and_a_denied_host_is_dropped() {
    let listener = Listener::start("198.18.0.5", 1);
    let body = format!(
        "s.ehlo('forger.example')\n\
         show(s.mail('bob@fabrikam.com'))\n\
         show(s.rcpt('alice@contoso.com'))\n\
         show(s.data({MESSAGE}))"
    );
    let replies = smtplib(listener.port, &body);
    let log = listener.finish();
    let expected = [
        "250 2.1.0 bob@fabrikam.com....Sender OK",
        "250 2.1.5 alice@contoso.com",
        "550 5.7.1 Sender ID (PRA) Not Permitted",
    ];
    assert_eq!(replies.lines().collect::<Vec<_>>(), expected, "{log}");
    let listener = Listener::start("203.0.113.200", 1);
    let body = "s.ehlo('denied.example')\n\
                try:\n    s.mail('x@fabrikam.com')\nexcept smtplib.SMTPServerDisconnected:\n    print('dropped')";
    let replies = smtplib(listener.port, body);
    let log = listener.finish();
    assert_eq!(replies.trim(), "dropped", "{log}");
    assert!(log.contains("closed by deny_list"), "{log}");
}

/// XEXCH50 (§6, KB 843106): refused from an anonymous session (the message still goes),
/// taken after AUTH, its blob read raw after the 354 and its SCL kept.
#[test]
fn xexch50_is_refused_anonymously_and_taken_after_auth() {
    let listener = Listener::start("192.0.2.10", 2);
    let body = format!(
        "show(s.ehlo('mx.fabrikam.com'))\n\
         show(s.mail('bob@fabrikam.com'))\n\
         show(s.rcpt('alice@contoso.com'))\n\
         show(s.docmd('XEXCH50', '12 2'))\n\
         show(s.data({MESSAGE}))\n\
         s.quit()\n\
         s = smtplib.SMTP('127.0.0.1', {port}, timeout=10)\n\
         s.ehlo('mx.fabrikam.com')\n\
         show(s.login('alice', 'Pa55word'))\n\
         show(s.mail('bob@fabrikam.com'))\n\
         show(s.rcpt('alice@contoso.com'))\n\
         show(s.docmd('XEXCH50', '12 2'))\n\
         s.sock.sendall(b'SCL=7 orgsim')\n\
         show(s.getreply())\n\
         show(s.data({MESSAGE}))",
        port = listener.port
    );
    let replies = smtplib(listener.port, &body);
    let log = listener.finish();
    let lines: Vec<&str> = replies.lines().collect();
    assert!(lines[0].starts_with("250 ") && replies.contains("\nXEXCH50\n"), "EHLO offers XEXCH50: {replies}");
    let reply = |l: &&str| l.len() > 4 && l.as_bytes()[..3].iter().all(u8::is_ascii_digit) && l.as_bytes()[3] == b' ';
    let rest: Vec<&str> = lines.iter().copied().filter(reply).skip(1).collect();
    let expected = [
        "250 2.1.0 bob@fabrikam.com....Sender OK",
        "250 2.1.5 alice@contoso.com",
        "504 Need to authenticate first",
        "250 2.6.0 Queued mail for delivery",
        "235 2.7.0 Authentication successful",
        "250 2.1.0 bob@fabrikam.com....Sender OK",
        "250 2.1.5 alice@contoso.com",
        "354 Send binary data",
        "250 XEXCH50 OK",
        "250 2.6.0 Queued mail for delivery",
    ];
    assert_eq!(rest, expected, "{log}");
    assert!(log.contains("Exch50 dropped") && log.contains("SCL 7, Sender ID None, Exch50 kept"), "{log}");
}
