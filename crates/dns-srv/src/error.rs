//! Typed errors: each names the server, the step and the cause.

use std::net::SocketAddr;

use crate::types::{Attempt, DomainOutcome};

/// Everything SRV discovery can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A name server given by DHCP or the caller could not be parsed.
    #[error("configuration: invalid name server {input:?}: {reason}")]
    InvalidNameServer {
        /// What was given.
        input: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A domain or owner name is not a valid DNS name.
    #[error("configuration: invalid domain name {name:?}: {reason}")]
    InvalidName {
        /// What was given.
        name: String,
        /// Why it was rejected.
        reason: String,
    },
    /// No name server configured (DHCP option 6 empty, nothing given).
    #[error("configuration: no name servers given")]
    NoNameServers,
    /// No search domain configured (DHCP options 15/119 empty, nothing given).
    #[error("configuration: no search domains given")]
    NoSearchDomains,
    /// The operating system configuration was asked for but could not be read.
    #[error("configuration: cannot read the system resolver configuration: {0}")]
    SystemConfig(String),
    /// No configured name server answered any query of the walk.
    #[error("{query}: no name server answered ({})", attempts_text(.attempts))]
    Unreachable {
        /// The last query that went unanswered.
        query: String,
        /// Each server tried and what happened.
        attempts: Vec<Attempt>,
    },
    /// The name does not exist (NXDOMAIN).
    #[error("{query}: name does not exist (NXDOMAIN from {server})")]
    NxDomain {
        /// The query.
        query: String,
        /// The server that said so.
        server: SocketAddr,
    },
    /// The name exists but has no records of the type asked for.
    #[error("{query}: no records of that type (NOERROR, empty answer from {server})")]
    NoRecords {
        /// The query.
        query: String,
        /// The server that said so.
        server: SocketAddr,
    },
    /// Every search domain that answered said "." : the service is decidedly not offered.
    #[error("{service}: not offered (SRV target \".\") in {domain} according to {server}")]
    NotOffered {
        /// The service, e.g. `_ldap._tcp`.
        service: String,
        /// The first domain that said so.
        domain: String,
        /// The server that said so.
        server: SocketAddr,
    },
    /// The walk over the search domains found nothing usable.
    #[error("{service}: not found in any search domain ({})", walk_text(.walked))]
    NotFound {
        /// The service, e.g. `_ldap._tcp`.
        service: String,
        /// What each search domain answered.
        walked: Vec<DomainOutcome>,
    },
    /// The answer could not be used (bad records, decoding failure).
    #[error("{query}: malformed answer from {server}: {reason}")]
    Malformed {
        /// The query.
        query: String,
        /// The server that sent it.
        server: SocketAddr,
        /// What was wrong.
        reason: String,
    },
    /// The blocking facade could not start its runtime.
    #[error("blocking facade: cannot start the tokio runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

fn attempts_text(attempts: &[Attempt]) -> String {
    if attempts.is_empty() {
        return "no attempt".into();
    }
    attempts
        .iter()
        .map(|a| format!("{}: {}", a.server, a.failure))
        .collect::<Vec<_>>()
        .join("; ")
}

fn walk_text(walked: &[DomainOutcome]) -> String {
    walked
        .iter()
        .map(|d| format!("{}: {}", d.owner, d.result))
        .collect::<Vec<_>>()
        .join("; ")
}
