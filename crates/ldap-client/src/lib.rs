//! DICOM configuration over LDAP (PS3.15 Annex H): find, load, register
//! unique AE titles, install, online/offline, export.
//!
//! Part of annexr: DICOM PS3.17 Annex R network self-configuration.
//!
//! - [`LdapClient`]: async (tokio), on `ldap3` with rustls, speaking
//!   `annexr-model` types ([`annexr_model::Device`], [`annexr_model::Layout`],
//!   [`annexr_model::AeTitle`]). One shared connection per client (clones
//!   share it and multiplex operations), server list failover,
//!   StartTLS/`ldaps://` (StartTLS always for a password bind, unless
//!   plaintext is explicitly allowed), one transparent reconnect after a
//!   dropped connection, write referrals followed to known servers only when
//!   enabled. Every server message passes an RFC 4511 framing check before
//!   ldap3 parses it.
//! - Loads use paged results, and read level by level under a server's
//!   size limit; every search carries a size and time limit.
//! - Every operation returns [`Counted`]: its value and the round trips it
//!   used ([`Stats`]).
//! - [`Allocator`], [`AllocationPolicy`]: AE title allocation, sans I/O.
//! - [`merge`]: the merge of a local description into the stored one
//!   (the model's diff then applies it, guarded against concurrent edits).
//! - [`LdapClient::watch`]: follows devices live (RFC 4533
//!   refreshAndPersist, or polling), reconnecting with backoff.
//! - [`blocking`]: the same API for code that is not async.
//!
//! Getting started: a client for the site's directory. A password bind always
//! goes over TLS (StartTLS on `ldap://`) with the certificate verified,
//! unless plaintext is explicitly allowed; building the configuration needs
//! no server:
//!
//! ```
//! use annexr_ldap::ClientConfig;
//!
//! let config = ClientConfig::new("ldap://ldap.hospital.example")
//!     .base_dn("dc=hospital,dc=example")
//!     .simple_bind("cn=ct-1,dc=hospital,dc=example", "secret");
//! assert!(config.starttls_for("ldap://ldap.hospital.example"));
//! assert!(!config.binds_in_clear("ldap://ldap.hospital.example"));
//! ```
//!
//! Then resolve an AE title to where to reach it (PS3.15 H.1.4):
//!
//! ```no_run
//! # async fn run() -> Result<(), annexr_ldap::Error> {
//! use annexr_ldap::{ClientConfig, LdapClient};
//!
//! let client = LdapClient::new(ClientConfig::new("ldap://ldap.hospital.example"))?;
//! let found = client.resolve_ae("PACS1").await?;
//! println!("{} round trip(s)", found.stats.round_trips);
//! match found.value {
//!     Some(ae) => match ae.address() {
//!         Some(address) => println!("call PACS1 of device {} at {address}", ae.device_name),
//!         None => println!("{}", ae.not_callable().unwrap_or_default()),
//!     },
//!     None => println!("PACS1 is not configured"),
//! }
//! # Ok(()) }
//! ```
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod alloc;
pub mod blocking;
mod client;
mod config;
mod conn;
mod error;
mod frame;
mod guard;
mod install;
mod subschema;
mod update;
mod watch;

pub use alloc::{AllocationPolicy, Allocator, derive_title, luhn_digit};
pub use frame::FrameError;
pub use subschema::SubschemaError;

/// Entry points for the fuzz targets (the reply path's framing check, the
/// schema parser): not part of the supported API.
#[doc(hidden)]
pub mod internal {
    pub use crate::frame::{
        MAX_MESSAGE, Reply, check_message, frame_len, paged_cookie, reply_fits, request_of,
    };
    pub use crate::subschema::{Description, Subschema, parse_description};
}
pub use client::{
    AeAddress, Allocation, DeviceLookup, DeviceTypeQuery, Endpoint, FoundAes, LdapClient,
    Registration, ResolvedAe, SopClassQuery, SyncedTitle,
};
pub use config::{Bind, ClientConfig, ClockCorrection, Secret, TlsOptions};
pub use conn::{Counted, Stats};
pub use error::{Error, Result, rc_name, result_text};
pub use guard::remember_addresses;
pub use install::{InstallJournal, InstallOutcome, InstallPlan, InstallStep};
pub use update::{Target, UpdateOutcome, merge};
pub use watch::{DirectoryWatch, Mechanism, WatchEvent, WatchMode, WatchOptions, fuzz_sync_values};
