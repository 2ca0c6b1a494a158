//! DHCPv4 client for DICOM devices (PS3.15 Annex F, PS3.17 R.1.2.2 step 1):
//! sans-I/O state machine, INFORM, OS lease readers, static configuration.
//!
//! Part of annexr: DICOM PS3.17 Annex R network self-configuration.
//!
//! - [`client`]: the RFC 2131 state machine as a pure function of
//!   (client, event, now) with injected randomness; INIT-REBOOT, INFORM,
//!   DECLINE, RELEASE, T1/T2, expiry.
//! - [`options`] and [`lease`]: received options split raw and typed one by
//!   one into a [`Lease`]; unknown options are kept raw.
//! - [`driver`]: the tokio driver on UDP port 68 of one Linux interface.
//! - [`os`]: applying a lease to the OS ([`os::ReportOnly`], [`os::IpCommand`]).
//! - [`sources`]: systemd-networkd and ISC dhclient lease files, static config.
//! - [`guard`]: the seed-000 guard (address changed since the last boot).
//! - [`blocking`]: the same for code that is not async.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod blocking;
pub mod client;
#[cfg(test)]
mod client_tests;
pub mod driver;
mod error;
pub mod guard;
mod iface;
pub mod lease;
pub mod options;
pub mod os;
pub mod sources;

pub use client::{Action, Client, ClientConfig, Destination, Event, Random, StateName};
pub use error::{CodecError, Error};
pub use iface::interface_mac;
pub use lease::{Lease, LeaseSource, Mac};
