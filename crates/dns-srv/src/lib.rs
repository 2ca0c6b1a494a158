//! DNS SRV discovery of LDAP servers with DHCP-given name servers (PS3.15 H.1.4.1, RFC 2782 ordering).
//!
//! Part of annexr: DICOM PS3.17 Annex R network self-configuration (R.1.2.2
//! step 3, R.4 steps 3–4).
//!
//! - [`DnsConfig`]: the DHCP option 6 name servers (`ip[:port]`, UDP with TCP
//!   fallback) and the option 15/119 search domains; the system configuration
//!   only on request (feature `system-config`).
//! - [`SrvDiscoverer::discover_ldap`]: `_ldap._tcp.<domain>` (and `_ldaps._tcp`
//!   when configured) over the search domains; targets ordered by RFC 2782
//!   ([`order_srv`], a pure function with injected randomness), resolved to
//!   addresses in the same pass, then optionally the "nearest" race.
//! - Every value says where it came from ([`Source`], [`AddrSource`]) and how
//!   long it stays valid; answers are cached for their TTL.
//! - [`blocking::SrvDiscoverer`]: the same without async.
//!
//! Getting started: the RFC 2782 ordering is a pure function. The lower
//! priority comes first; within one priority the weights share the first
//! place at random (here with a fixed seed):
//!
//! ```
//! use annexr_dns::{SplitMix64, SrvRecord, order_srv};
//!
//! let record = |priority, weight, target: &str| SrvRecord {
//!     priority,
//!     weight,
//!     port: 389,
//!     target: target.to_string(),
//! };
//! let answer = [
//!     record(20, 0, "backup.hospital.example."),
//!     record(10, 60, "ldap1.hospital.example."),
//!     record(10, 40, "ldap2.hospital.example."),
//! ];
//! let ordered = order_srv(&answer, &mut SplitMix64::new(7));
//! assert_eq!(ordered.len(), 3);
//! assert_eq!(ordered[0].priority, 10);
//! assert_eq!(ordered[2].target, "backup.hospital.example.");
//! ```
//!
//! Discovery with the DHCP-given name servers and search domains:
//!
//! ```no_run
//! # async fn f() -> Result<(), annexr_dns::Error> {
//! let config = annexr_dns::DnsConfig::new(&["192.168.1.1"], &["hospital.example"])?;
//! let found = annexr_dns::SrvDiscoverer::new(config)?.discover_ldap().await?;
//! for url in found.urls() {
//!     println!("{url}");
//! }
//! # Ok(()) }
//! ```
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod blocking;
mod cache;
mod config;
mod discover;
mod error;
mod nearest;
mod order;
mod types;

pub use config::{DnsConfig, Nearest, Service, normalize_domain, parse_name_server};
pub use discover::SrvDiscoverer;
pub use error::Error;
pub use nearest::promote;
pub use order::{SelectionRng, SplitMix64, SrvAnswer, SrvRecord, classify, order_srv};
pub use types::{
    AddrSource, Attempt, Discovery, DomainOutcome, NearestOutcome, Source, Target, TxtAnswer,
    WalkResult,
};
