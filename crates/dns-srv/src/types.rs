//! The public results of a discovery: servers, where each value came from,
//! and what every search domain answered. Plain data, no I/O.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::config::Service;
use crate::order::SrvRecord;

/// One name server that did not give a usable answer, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Attempt {
    /// The server asked.
    pub server: SocketAddr,
    /// What happened (timeout, refused, I/O error, …).
    pub failure: String,
}

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// Fresh from this name server.
    NameServer(SocketAddr),
    /// From the cache; originally from `server`, fetched `age` ago.
    Cache {
        /// The name server that gave the cached answer.
        server: SocketAddr,
        /// Time since it was fetched.
        age: Duration,
    },
}

/// Where a target's addresses came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddrSource {
    /// The additional section of the SRV answer (no extra round trip).
    Additional(Source),
    /// A separate A/AAAA query.
    Query(Source),
    /// The target was an IP literal (RFC 2782 forbids it; accepted and flagged).
    Literal,
    /// The target could not be resolved.
    Unresolved,
}

/// One server from the SRV answer, with its addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Target {
    /// The SRV record.
    pub record: SrvRecord,
    /// Its A and AAAA addresses (may be empty when unresolved).
    pub addrs: Vec<IpAddr>,
    /// Where the addresses came from.
    pub addr_source: AddrSource,
    /// Remaining TTL of the addresses.
    pub addr_ttl: Duration,
    /// Something a service engineer should know (alias target, literal, failure).
    pub note: Option<String>,
}

impl Target {
    /// Host name without the trailing dot.
    pub fn host(&self) -> &str {
        self.record.target.trim_end_matches('.')
    }

    /// Socket addresses to connect to, in answer order.
    pub fn socket_addrs(&self) -> Vec<SocketAddr> {
        self.addrs
            .iter()
            .map(|ip| SocketAddr::new(*ip, self.record.port))
            .collect()
    }
}

/// What one search domain answered during the walk.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DomainOutcome {
    /// The full owner name asked for, e.g. `_ldap._tcp.example.org.`.
    pub owner: String,
    /// The answer.
    pub result: WalkResult,
}

/// The outcome for one owner name.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WalkResult {
    /// Usable targets.
    Found(SocketAddr),
    /// Target "." : decidedly not offered here.
    NotOffered(SocketAddr),
    /// NXDOMAIN.
    NxDomain(SocketAddr),
    /// The name exists without SRV records.
    NoRecords(SocketAddr),
    /// Every server refused or failed (e.g. REFUSED, SERVFAIL, malformed).
    Failed(Vec<Attempt>),
    /// No server answered at all.
    Unreachable(Vec<Attempt>),
}

impl std::fmt::Display for WalkResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |a: &[Attempt]| {
            a.iter()
                .map(|x| format!("{} {}", x.server, x.failure))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            WalkResult::Found(s) => write!(f, "found at {s}"),
            WalkResult::NotOffered(s) => write!(f, "not offered (\".\" from {s})"),
            WalkResult::NxDomain(s) => write!(f, "NXDOMAIN from {s}"),
            WalkResult::NoRecords(s) => write!(f, "no SRV records at {s}"),
            WalkResult::Failed(a) => write!(f, "failed: {}", list(a)),
            WalkResult::Unreachable(a) => write!(f, "unreachable: {}", list(a)),
        }
    }
}

/// What the nearest-server race did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NearestOutcome {
    /// Turned off: strict RFC 2782 order.
    Off,
    /// Fewer than two candidates of the best priority: nothing to race.
    NotNeeded,
    /// This target accepted first and was put in front.
    Winner {
        /// The target's host name.
        target: String,
        /// The address that accepted.
        addr: SocketAddr,
        /// Time from the start of the race.
        after: Duration,
    },
    /// No candidate accepted within the timeout; RFC order kept.
    NoneAnswered,
}

/// The result of a discovery: ordered servers and the provenance of each value.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Discovery {
    /// The service found.
    pub service: Service,
    /// The search domain it was found in.
    pub domain: String,
    /// The owner name that answered.
    pub owner: String,
    /// Servers in the order to try them.
    pub targets: Vec<Target>,
    /// Where the SRV records came from.
    pub source: Source,
    /// Remaining TTL of the SRV records.
    pub ttl: Duration,
    /// What each search domain tried before (and including) this one answered.
    pub walked: Vec<DomainOutcome>,
    /// What the nearest race did.
    pub nearest: NearestOutcome,
    /// Name servers that did not answer (or failed) before one did, during the
    /// SRV queries of this discovery.
    pub server_failures: Vec<Attempt>,
}

impl Discovery {
    /// `ldap://host:port` URLs in order (for LDAP services; `host:port` otherwise).
    pub fn urls(&self) -> Vec<String> {
        self.targets
            .iter()
            .map(|t| match self.service.url_scheme() {
                Some(s) => format!("{s}://{}:{}", t.host(), t.record.port),
                None => format!("{}:{}", t.host(), t.record.port),
            })
            .collect()
    }
}

/// TXT strings for a name, with provenance (H.2 service parameters).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TxtAnswer {
    /// Each character-string, lossily decoded.
    pub strings: Vec<String>,
    /// Where they came from.
    pub source: Source,
    /// Remaining TTL.
    pub ttl: Duration,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::NameServer(server) => write!(f, "name server {server}"),
            Source::Cache { server, age } => write!(f, "cache ({server}, {age:.1?} old)"),
        }
    }
}

impl std::fmt::Display for AddrSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AddrSource::Additional(_) => f.write_str("additional section"),
            AddrSource::Query(source) => write!(f, "A/AAAA query, {source}"),
            AddrSource::Literal => f.write_str("IP literal"),
            AddrSource::Unresolved => f.write_str("unresolved"),
        }
    }
}
