//! The DICOM PS3.17 Annex R sequence in one call: normal startup (R.4),
//! install of a new device (R.1.2.2), shutdown (R.5), with a non-volatile
//! store and a report that tells a service engineer what happened.
//!
//! | module | what |
//! |---|---|
//! | [`blocking`] | the same for firmware without tokio: [`blocking::run`] and [`blocking::Running::shutdown`] |
//! | [`config`] | [`StartupConfig`]: the TOML settings, every one with a default |
//! | [`store`] | the non-volatile store: the device's name, last configuration, last lease, titles |
//! | [`watch`] | [`Watch`]: after startup, follow this device and its peers in the directory, as events |
//! | [`report`] | [`StartupReport`], step outcomes, value sources, warnings, progress events |
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod blocking;
pub mod config;
mod configure;
mod error;
pub mod network;
mod probe;
mod recorder;
pub mod report;
mod sequence;
pub mod store;
pub mod time;
pub mod watch;

pub use config::{ConfigError, LeaseApply, NetworkMode, RequiredClass, StartupConfig};
pub use configure::client as ldap_client;
pub use error::Error;
pub use network::{NetworkParams, request_lease};
pub use report::{
    Event, Observer, Outcome, Refinement, Source, StartupReport, StartupStepOutcome, Step,
    StepReport, TimeClass, TimeReport, Warning,
};
pub use sequence::{ShutdownReport, Startup, StartupBuilder, StartupOutcome, ldap_servers};
pub use store::{
    FileStore, LoadSource, RememberedServer, Store, StoreError, StoredLease, StoredState,
};
pub use time::measure_time;
pub use watch::{Watch, WatchBuilder, WatchEvent};
