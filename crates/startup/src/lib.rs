//! The DICOM PS3.17 Annex R sequence in one call: normal startup (R.4),
//! install of a new device (R.1.2.2), shutdown (R.5), with a non-volatile
//! store and a report that tells a service engineer what happened.
//!
//! | part | what |
//! |---|---|
//! | [`Startup`] | the sequence: [`Startup::builder`], run, then [`StartupOutcome::shutdown`] |
//! | [`blocking`] | the same for firmware without tokio: [`blocking::Runner`] runs, shuts down, looks up and watches |
//! | settings | [`StartupConfig`]: the TOML settings, every one with a default |
//! | store | [`Store`], [`FileStore`]: the non-volatile store: the device's name, last configuration, last lease, titles |
//! | watch | [`Watch`]: after startup, follow this device and its peers in the directory, as events |
//! | report | [`StartupReport`], step outcomes, value sources, warnings, progress [`Event`]s |
//!
//! Getting started: the settings come from the device's TOML file (every
//! one has a default) ...
//!
//! ```
//! use annexr::{NetworkMode, StartupConfig};
//!
//! let config = StartupConfig::from_toml(
//!     r#"
//!     [device]
//!     name = "CT-SCANNER-1"
//!     [network]
//!     dns_servers = ["10.0.0.53"]
//!     domain = "hospital.example"
//!     "#,
//! )?;
//! assert_eq!(config.device.name.as_deref(), Some("CT-SCANNER-1"));
//! // Servers given by hand: no DHCP (there is no interface to run it on).
//! assert_eq!(config.network.effective_mode(), NetworkMode::Static);
//! # Ok::<(), annexr::ConfigError>(())
//! ```
//!
//! ... and one call runs the sequence. It never fails: every failure ends in
//! a fallback that the report names.
//!
//! ```no_run
//! # async fn run(config: annexr::StartupConfig) {
//! use std::sync::Arc;
//! use annexr::{Event, Startup};
//!
//! let outcome = Startup::builder()
//!     .config(config)
//!     // Progress for the modality's UI.
//!     .observer(Arc::new(|event: &Event| {
//!         if let Event::StepFinished { step, outcome, .. } = event {
//!             eprintln!("{} -> {outcome}", step.name());
//!         }
//!     }))
//!     .build()
//!     .run()
//!     .await;
//! println!("{}", outcome.report);
//! // ... the device runs; the lease and the clock are maintained ...
//! outcome.shutdown(false).await;
//! # }
//! ```
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod blocking;
mod config;
mod configure;
mod error;
mod network;
mod probe;
mod recorder;
mod report;
mod sequence;
mod store;
mod time;
mod watch;

pub use config::{
    ConfigError, DeviceSettings, DnsSettings, LdapSettings, LeaseApply, NetworkMode,
    NetworkSettings, ProbeSettings, RequiredClass, StartupConfig, StoreSettings, TimeSettings,
    TitleRule,
};
pub use configure::client as ldap_client;
pub use error::Error;
pub use network::{NetworkParams, request_lease};
pub use report::{
    ClockStep, Event, Observer, Outcome, Refinement, Source, StartupReport, StartupStepOutcome,
    Step, StepReport, TimeClass, TimeReport, Value, Warning,
};
pub use sequence::{ShutdownReport, Startup, StartupBuilder, StartupOutcome, ldap_servers};
pub use store::{
    FileStore, LoadSource, RememberedServer, STORE_FORMAT_VERSION, Store, StoreError, StoreLock,
    StoredLease, StoredState,
};
pub use time::measure_time;
pub use watch::{Mechanism, PeerAddress, Watch, WatchBuilder, WatchEvent, WatchMode, WatchOptions};
