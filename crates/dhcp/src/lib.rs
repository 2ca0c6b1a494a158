//! DHCPv4 client for DICOM devices (PS3.15 Annex F, PS3.17 R.1.2.2 step 1):
//! sans-I/O state machine, INFORM, OS lease readers, static configuration.
//!
//! Part of annexr: DICOM PS3.17 Annex R network self-configuration.
//!
//! Everything is at the crate root:
//!
//! - [`Client`]: the RFC 2131 state machine as a pure function of
//!   (client, [`Event`], now) with injected [`Random`]ness, answering with
//!   [`Action`]s; INIT-REBOOT, INFORM, DECLINE, RELEASE, T1/T2, expiry.
//! - [`Lease`]: the received options split raw ([`RawOptions`]) and typed
//!   one by one; unknown options are kept raw.
//! - [`Driver`]: the tokio driver on UDP port 68 of one Linux interface;
//!   [`Apply`] puts a lease into effect ([`ReportOnly`], [`IpCommand`]).
//! - [`read_networkd`], [`read_dhclient`], [`StaticConfig`]: leases the OS
//!   client already holds, and static configuration.
//! - [`address_changed`] and [`LeaseMemory`]: the seed-000 guard (the address
//!   changed since the last boot).
//! - [`blocking`]: the same for code that is not async.
//!
//! Getting started: the state machine needs no network. Started, it asks for
//! a DHCPDISCOVER to be broadcast and names the time to retransmit.
//!
//! ```
//! use std::time::Duration;
//! use annexr_dhcp::{Action, Client, ClientConfig, Destination, Event, Mac, Random, StateName};
//!
//! /// Fixed randomness: the transaction id and the retransmission jitter.
//! struct Fixed;
//! impl Random for Fixed {
//!     fn next_u32(&mut self) -> u32 {
//!         7
//!     }
//! }
//!
//! let client = Client::new(ClientConfig::new(Mac([0x02, 0, 0, 0, 0, 1])));
//! let (client, actions) = client.handle(Event::Start, Duration::ZERO, &mut Fixed);
//! assert_eq!(client.state(), StateName::Selecting);
//! assert!(matches!(
//!     actions.first(),
//!     Some(Action::Send(discover)) if discover.to == Destination::Broadcast
//! ));
//! assert!(client.deadline().is_some(), "a retransmission is scheduled");
//! ```
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod blocking;
mod client;
#[cfg(test)]
mod client_tests;
mod driver;
mod error;
mod guard;
mod iface;
mod lease;
mod options;
mod os;
mod sources;

/// Parsers of received bytes, public only for the fuzz targets: not a stable API.
#[doc(hidden)]
pub mod internal {
    /// The option splitter, the typed option parsers and the option codes.
    pub mod options {
        pub use crate::options::*;
    }
    pub use crate::client::decode_lease;
}

pub use client::{
    ANNEXR_IAID, Action, Client, ClientConfig, Destination, Event, Ignored, LossReason, Outgoing,
    Random, StateName, annexr_client_id, backoff, dns_label, hardware_client_id,
};
pub use driver::{CLIENT_PORT, Driver, Happened, RECENT, Recent, SERVER_PORT, Stats, open_socket};
pub use error::{CodecError, Error};
pub use guard::{AddressChanged, LeaseMemory, Remembered, address_changed};
pub use iface::interface_mac;
pub use lease::{Lease, LeaseSource, Mac};
pub use options::{ClientFqdn, OptionError, PARAMETER_REQUEST_LIST, RawOptions, Route};
pub use os::{Applied, Apply, IpCommand, ReportOnly};
pub use sources::{
    DHCLIENT_LEASE_FILES, StaticConfig, networkd_lease_path, parse_dhclient, parse_networkd,
    read_dhclient, read_networkd,
};
