//! SNTP time synchronization for DICOM devices (PS3.15 Annex G, PS3.17 R.6): sampling, filtering, step/slew policy and local time.
//!
//! Part of annexr: DICOM PS3.17 Annex R network self-configuration (R.1.2.2
//! step 2, R.2, R.6).
//!
//! - [`SntpClient::measure`]: every server (DHCP option 42), several samples
//!   each, least-delay sample per server, median of three or more; each reply
//!   judged by [`judge`] (sntpc's checks on the raw datagram: origin timestamp,
//!   mode, version, stratum, leap, transmit time, Kiss-o'-Death).
//! - [`Measurement`]: offset, delay, per-server [`ServerReport`] and the R.6
//!   [`AccuracyClass`].
//! - [`StartupStepRules`]: a startup step beyond a limit needs two servers
//!   agreeing within 1 s (or the explicit `trust_single_server`).
//! - [`Discipline`]: the sans-I/O step/slew policy (step-out interval and a
//!   step budget after startup); [`Clock`] with
//!   [`SystemClock`] (Linux adjtimex) and [`SimClock`] (simulated, with drift).
//! - [`spawn_sync`]: the ongoing poll loop with events and stop.
//! - [`LocalTime`]: DHCP options 2/100/101 with jiff.
//!
//! Getting started: the step/slew policy needs no network. At startup an
//! offset beyond 4 ms is stepped once, before medical use; afterwards small
//! offsets are slewed.
//!
//! ```
//! use std::time::Duration;
//! use annexr_sntp::jiff::{SignedDuration, Timestamp};
//! use annexr_sntp::{Decision, Discipline, DisciplineConfig};
//!
//! let mut discipline = Discipline::new(DisciplineConfig::default());
//! let now: Timestamp = "2026-11-30T08:00:00Z".parse()?;
//! let poll = Duration::from_secs(64);
//! let first = discipline.decide(SignedDuration::from_millis(300), now, poll);
//! assert!(matches!(first, Decision::Step { startup: true, .. }));
//! let later = now + SignedDuration::from_secs(64);
//! let next = discipline.decide(SignedDuration::from_millis(2), later, poll);
//! assert!(matches!(next, Decision::Slew { .. }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Measuring against the DHCP-given servers (option 42):
//!
//! ```no_run
//! # async fn run() -> Result<(), annexr_sntp::Error> {
//! use std::sync::Arc;
//! use annexr_sntp::{SamplingConfig, SntpClient, SystemClock};
//!
//! let servers = vec!["10.0.0.123:123".parse().expect("a socket address")];
//! let measurement = SntpClient::new(servers, SamplingConfig::default())?
//!     .measure(Arc::new(SystemClock))
//!     .await?;
//! println!("offset {} ({:?})", measurement.offset, measurement.clock_class);
//! # Ok(()) }
//! ```
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod blocking;
mod client;
mod clock;
mod discipline;
mod error;
mod localtime;
mod packet;
mod poll;
mod select;
mod startup;
mod sysclock;

pub use client::{
    Event, SamplingConfig, SntpClient, SyncConfig, SyncHandle, sample_server, spawn_sync,
};
pub use clock::{Clock, SimClock};
pub use discipline::{Decision, Discipline, DisciplineConfig};
pub use error::Error;
pub use localtime::{LocalTime, ZoneSource};
pub use packet::{
    Kod, KodAction, NTP_PACKET_LEN, Rejection, Request, Sample, TokioNtpSocket, judge,
};
pub use poll::{PollConfig, PollSchedule};
pub use select::{
    AGREEMENT, AccuracyClass, Discard, HIGH_ACCURACY, LeapSecond, Measurement, ORDINARY,
    ServerReport, select,
};
pub use startup::{StartupStep, StartupStepRules};
pub use sysclock::SystemClock;

/// The time types of this API (`Timestamp`, `SignedDuration`, `TimeZone`).
pub use jiff;
