//! A DNS zone description that every lab DNS server family serves: the
//! records are kept structured and rendered per server (dnsmasq options, a
//! BIND 9 zone file, unbound local-data), so that one test body can run
//! against each family.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use tempfile::TempDir;

use crate::LabError;
use crate::process::ServerProcess;

/// Which DNS server implementation serves a [`DnsZone`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
// Test harness: tests match every lab server so that a new one is handled everywhere.
#[allow(clippy::exhaustive_enums)]
pub enum DnsServerKind {
    /// dnsmasq (`dnsmasq` package): answers only names it has records for,
    /// REFUSED for the rest unless made authoritative with
    /// [`DnsZone::local_domain`].
    Dnsmasq,
    /// BIND 9's named (`bind9` package): authoritative for one zone per
    /// domain of the records, REFUSED for names outside them.
    Bind,
    /// unbound (`unbound` package): static local zones per domain of the
    /// records, REFUSED for names outside them (no recursion, no upstream).
    Unbound,
}

impl DnsServerKind {
    /// Every DNS server family of the lab, for tests that run against each.
    pub const ALL: [DnsServerKind; 3] = [
        DnsServerKind::Dnsmasq,
        DnsServerKind::Bind,
        DnsServerKind::Unbound,
    ];

    /// The server's name as the lab's log lines show it.
    pub fn name(self) -> &'static str {
        match self {
            DnsServerKind::Dnsmasq => "dnsmasq",
            DnsServerKind::Bind => "bind9",
            DnsServerKind::Unbound => "unbound",
        }
    }
}

impl std::fmt::Display for DnsServerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One SRV record: `name` is the full owner, e.g. `_ldap._tcp.example.org`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrvRecord {
    pub(crate) name: String,
    pub(crate) target: String,
    pub(crate) port: u16,
    pub(crate) priority: u16,
    pub(crate) weight: u16,
}

impl SrvRecord {
    /// A record with priority 0 and weight 0.
    pub fn new(name: &str, target: &str, port: u16) -> Self {
        SrvRecord {
            name: name.to_string(),
            target: target.to_string(),
            port,
            priority: 0,
            weight: 0,
        }
    }

    /// Sets the priority (lower is tried first).
    pub fn priority(mut self, priority: u16) -> Self {
        self.priority = priority;
        self
    }

    /// Sets the weight (share within one priority).
    pub fn weight(mut self, weight: u16) -> Self {
        self.weight = weight;
        self
    }
}

/// One record of a [`DnsZone`], as the renderers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Record {
    Srv(SrvRecord),
    /// The single SRV record with target "." (RFC 2782: not offered).
    NotOffered(String),
    Host(String, IpAddr),
    Txt(String, String),
    Cname(String, String),
}

impl Record {
    pub(crate) fn owner(&self) -> &str {
        match self {
            Record::Srv(srv) => &srv.name,
            Record::NotOffered(name)
            | Record::Host(name, _)
            | Record::Txt(name, _)
            | Record::Cname(name, _) => name,
        }
    }

    /// The record's type, data and owner in master-file syntax (RFC 1035
    /// 5.1), names absolute; BIND's zone files and unbound's local-data
    /// both read it.
    pub(crate) fn master_file_line(&self, ttl: u32) -> String {
        let owner = absolute(self.owner());
        let rdata = match self {
            Record::Srv(s) => format!(
                "SRV {} {} {} {}",
                s.priority,
                s.weight,
                s.port,
                absolute(&s.target)
            ),
            Record::NotOffered(_) => "SRV 0 0 0 .".to_string(),
            Record::Host(_, IpAddr::V4(a)) => format!("A {a}"),
            Record::Host(_, IpAddr::V6(a)) => format!("AAAA {a}"),
            Record::Txt(_, text) => format!(
                "TXT \"{}\"",
                text.replace('\\', "\\\\").replace('"', "\\\"")
            ),
            Record::Cname(_, target) => format!("CNAME {}", absolute(target)),
        };
        format!("{owner} {ttl} IN {rdata}")
    }
}

/// `name` with the trailing dot of an absolute domain name.
pub(crate) fn absolute(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

/// Describes the records a lab DNS server answers, independent of the
/// server family; [`DnsZone::start_on`] starts any family with it.
#[derive(Debug, Clone, Default)]
pub struct DnsZone {
    pub(crate) records: Vec<Record>,
    pub(crate) local_domains: Vec<String>,
    pub(crate) ttl: Option<u32>,
}

impl DnsZone {
    /// Adds an SRV record.
    pub fn srv(mut self, record: SrvRecord) -> Self {
        self.records.push(Record::Srv(record));
        self
    }

    /// Adds the single SRV record with target "." that says the service is
    /// decidedly not offered under `name` (RFC 2782).
    pub fn srv_not_offered(mut self, name: &str) -> Self {
        self.records.push(Record::NotOffered(name.to_string()));
        self
    }

    /// Adds an A or AAAA record (a name may be given several times).
    pub fn host(mut self, name: &str, addr: IpAddr) -> Self {
        self.records.push(Record::Host(name.to_string(), addr));
        self
    }

    /// Adds a TXT record.
    pub fn txt(mut self, name: &str, text: &str) -> Self {
        self.records
            .push(Record::Txt(name.to_string(), text.to_string()));
        self
    }

    /// Adds a CNAME record (`alias` points at `target`).
    pub fn cname(mut self, alias: &str, target: &str) -> Self {
        self.records
            .push(Record::Cname(alias.to_string(), target.to_string()));
        self
    }

    /// Makes the server authoritative for `domain` even without records in
    /// it: a name under it without records answers NXDOMAIN, a name with
    /// records of another type answers with no data (NODATA). (dnsmasq
    /// `--local=/domain/`; BIND and unbound get an empty zone.)
    pub fn local_domain(mut self, domain: &str) -> Self {
        self.local_domains.push(domain.to_string());
        self
    }

    /// The TTL in seconds of every record (default 0: nothing is cached).
    pub fn ttl(mut self, seconds: u32) -> Self {
        self.ttl = Some(seconds);
        self
    }

    /// Starts dnsmasq, the lab's default DNS server, with these records.
    pub fn start(self) -> Result<DnsServer, LabError> {
        self.start_on(DnsServerKind::Dnsmasq)
    }

    /// Starts a server of the given family on a free loopback port with
    /// these records and waits until it accepts TCP connections.
    pub fn start_on(self, kind: DnsServerKind) -> Result<DnsServer, LabError> {
        match kind {
            DnsServerKind::Dnsmasq => crate::dnsmasq::start(&self),
            DnsServerKind::Bind => crate::bind::start(&self),
            DnsServerKind::Unbound => crate::unbound::start(&self),
        }
    }

    /// The TTL of every record.
    pub(crate) fn record_ttl(&self) -> u32 {
        self.ttl.unwrap_or(0)
    }

    /// The zones an authoritative server needs: every local domain and the
    /// last two labels of every record's owner, each record in the longest
    /// zone that contains it.
    pub(crate) fn zones(&self) -> Vec<(String, Vec<&Record>)> {
        let mut apexes: BTreeSet<String> = self
            .local_domains
            .iter()
            .map(|d| d.trim_end_matches('.').to_ascii_lowercase())
            .collect();
        for record in &self.records {
            let owner = record.owner().trim_end_matches('.').to_ascii_lowercase();
            let labels: Vec<&str> = owner.split('.').collect();
            apexes.insert(labels[labels.len().saturating_sub(2)..].join("."));
        }
        let mut zones: Vec<(String, Vec<&Record>)> =
            apexes.into_iter().map(|a| (a, Vec::new())).collect();
        for record in &self.records {
            let owner = record.owner().trim_end_matches('.').to_ascii_lowercase();
            let best = zones
                .iter_mut()
                .filter(|(apex, _)| owner == *apex || owner.ends_with(&format!(".{apex}")))
                .max_by_key(|(apex, _)| apex.len());
            if let Some((_, records)) = best {
                records.push(record);
            }
        }
        zones
    }
}

/// One query a DNS server logged.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoggedQuery {
    /// The queried name, without the trailing dot.
    pub name: String,
    /// The query type as the server printed it (`SRV`, `A`, `TXT`, ...).
    pub qtype: String,
}

/// A running lab DNS server of any family, answering only its zone's
/// records (no recursion, no upstream: no query leaves the machine).
#[derive(Debug)]
pub struct DnsServer {
    pub(crate) kind: DnsServerKind,
    pub(crate) addr: SocketAddr,
    pub(crate) version: String,
    pub(crate) process: ServerProcess,
    pub(crate) log_path: PathBuf,
    pub(crate) _dir: TempDir,
}

impl DnsServer {
    /// A zone with no records (starts dnsmasq unless [`DnsZone::start_on`]
    /// names another family).
    pub fn builder() -> DnsZone {
        DnsZone::default()
    }

    /// Which implementation this is.
    pub fn kind(&self) -> DnsServerKind {
        self.kind
    }

    /// The address it answers on, over UDP and TCP.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's version line.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Time from spawn to the first accepted connection.
    pub fn ready_after(&self) -> std::time::Duration {
        self.process.ready_after
    }

    /// The server's log so far (with every query it received).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Every query the server logged so far, in order (UDP and TCP alike).
    pub fn queries(&self) -> Vec<LoggedQuery> {
        let log = self.log();
        log.lines()
            .filter_map(|line| parse_query_line(self.kind, line))
            .collect()
    }

    /// How many queries of type `qtype` (e.g. `"SRV"`) for `name` (without
    /// trailing dot, any case) the server logged so far.
    pub fn count_queries(&self, qtype: &str, name: &str) -> usize {
        let name = name.trim_end_matches('.');
        self.queries()
            .iter()
            .filter(|q| q.qtype.eq_ignore_ascii_case(qtype) && q.name.eq_ignore_ascii_case(name))
            .count()
    }

    /// How many queries of type `qtype` for any name the server logged.
    pub fn count_queries_of_type(&self, qtype: &str) -> usize {
        self.queries()
            .iter()
            .filter(|q| q.qtype.eq_ignore_ascii_case(qtype))
            .count()
    }
}

/// Reads one query from a line of the server's log, if the line logs one.
fn parse_query_line(kind: DnsServerKind, line: &str) -> Option<LoggedQuery> {
    let query = |name: &str, qtype: &str| LoggedQuery {
        name: name.trim_end_matches('.').to_string(),
        qtype: qtype.to_string(),
    };
    match kind {
        // "dnsmasq[12]: query[SRV] _ldap._tcp.example.org from 127.0.0.1"
        DnsServerKind::Dnsmasq => {
            let rest = line.split_once(" query[")?.1;
            let (qtype, rest) = rest.split_once("] ")?;
            let name = rest.split_whitespace().next()?;
            Some(query(name, qtype))
        }
        // "... client @0x7f 127.0.0.1#40000 (_ldap._tcp.example.org):
        //  query: _ldap._tcp.example.org IN SRV +E(0)K (127.0.0.1)"
        DnsServerKind::Bind => {
            let rest = line.split_once(": query: ")?.1;
            let mut words = rest.split_whitespace();
            let (name, _class, qtype) = (words.next()?, words.next()?, words.next()?);
            Some(query(name, qtype))
        }
        // "[1700000000] unbound[12:0] info: 127.0.0.1 _ldap._tcp.example.org. SRV IN"
        DnsServerKind::Unbound => {
            let rest = line.split_once(" info: ")?.1;
            let words: Vec<&str> = rest.split_whitespace().collect();
            match words.as_slice() {
                [client, name, qtype, "IN"] if client.parse::<IpAddr>().is_ok() => {
                    Some(query(name, qtype))
                }
                _ => None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_family_query_log_line_is_read() {
        let cases = [
            (
                DnsServerKind::Dnsmasq,
                "dnsmasq[7]: query[SRV] _ldap._tcp.example.org from 127.0.0.1",
            ),
            (
                DnsServerKind::Bind,
                "30-Nov-2026 15:00:00.000 queries: info: client @0x7f00 127.0.0.1#40000 (_ldap._tcp.example.org): query: _ldap._tcp.example.org IN SRV +E(0)K (127.0.0.1)",
            ),
            (
                DnsServerKind::Unbound,
                "[1700000000] unbound[12:0] info: 127.0.0.1 _ldap._tcp.example.org. SRV IN",
            ),
        ];
        for (kind, line) in cases {
            assert_eq!(
                parse_query_line(kind, line),
                Some(LoggedQuery {
                    name: "_ldap._tcp.example.org".into(),
                    qtype: "SRV".into()
                }),
                "{kind}"
            );
        }
        assert_eq!(
            parse_query_line(
                DnsServerKind::Unbound,
                "[1] unbound[1:0] info: start of service (unbound 1.17.1)."
            ),
            None
        );
    }

    #[test]
    fn records_go_to_the_longest_zone_that_holds_them() {
        let zone = DnsZone::default()
            .local_domain("missing.org")
            .srv(SrvRecord::new(
                "_ldap._tcp.example.org",
                "ldap.example.org",
                389,
            ))
            .host("ldap.example.org", IpAddr::from([127, 0, 0, 1]))
            .local_domain("sub.example.org")
            .txt("x.sub.example.org", "t");
        let zones: Vec<(String, usize)> = zone
            .zones()
            .into_iter()
            .map(|(apex, records)| (apex, records.len()))
            .collect();
        assert_eq!(
            zones,
            [
                ("example.org".to_string(), 2),
                ("missing.org".to_string(), 0),
                ("sub.example.org".to_string(), 1)
            ]
        );
    }

    #[test]
    fn master_file_lines_use_absolute_names_and_quote_text() {
        let srv = Record::Srv(SrvRecord::new("_ldap._tcp.a.org", "127.0.0.1", 390).weight(2));
        assert_eq!(
            srv.master_file_line(0),
            "_ldap._tcp.a.org. 0 IN SRV 0 2 390 127.0.0.1."
        );
        let txt = Record::Txt("t.a.org".into(), "say \"hi\"".into());
        assert_eq!(
            txt.master_file_line(60),
            "t.a.org. 60 IN TXT \"say \\\"hi\\\"\""
        );
        assert_eq!(
            Record::NotOffered("_ldap._tcp.b.org".into()).master_file_line(0),
            "_ldap._tcp.b.org. 0 IN SRV 0 0 0 ."
        );
    }
}
