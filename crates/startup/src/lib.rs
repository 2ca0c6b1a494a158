//! The DICOM PS3.17 Annex R sequence in one call: normal startup (R.4),
//! install of a new device (R.1.2.2), shutdown (R.5), with a non-volatile
//! store and a report that tells a service engineer what happened.
//!
//! | module | what |
//! |---|---|
//! | [`config`] | [`StartupConfig`]: the TOML settings, every one with a default |
//! | [`store`] | the non-volatile store: the device's name, last configuration, last lease, titles |
//! | [`report`] | [`StartupReport`], step outcomes, value sources, warnings, progress events |
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod config;
pub mod report;
pub mod store;

pub use config::{ConfigError, NetworkMode, StartupConfig};
pub use report::{Event, Observer, Outcome, Source, StartupReport, Step, StepReport, Warning};
pub use store::{FileStore, LoadSource, Store, StoreError, StoredLease, StoredState};
