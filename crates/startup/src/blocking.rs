//! The sequence for firmware that does not run tokio: [`Runner`] is the
//! blocking twin of this crate's async API ([`Startup::run`],
//! [`StartupOutcome::shutdown`], [`crate::ldap_servers`],
//! [`crate::ldap_client`], [`crate::request_lease`],
//! [`crate::measure_time`], [`WatchBuilder::start`]) and owns the runtime
//! they run on.
//!
//! Unlike the protocol crates' twins, its runtime is multi-threaded (two
//! workers): after [`Runner::run`] returns, the DHCP lease renewal and the
//! time synchronization of the started device keep running on it until
//! [`Runner::shutdown`], and so does a [`Watch`].
//!
//! ```no_run
//! use annexr::{Startup, StartupConfig, blocking::Runner};
//!
//! let config = StartupConfig::from_file("/etc/annexr.toml".as_ref())?;
//! let startup = Startup::builder().config(config).build();
//! let runner = Runner::new()?;
//! let outcome = runner.run(&startup);
//! println!("{}", outcome.report);
//! // ... the device works; at power-off:
//! let shutdown = runner.shutdown(outcome, true);
//! println!("{shutdown:?}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::config::StartupConfig;
use crate::error::Error;
use crate::sequence::{ShutdownReport, Startup, StartupOutcome};
use crate::watch::{Watch, WatchBuilder};

/// Blocking twin of the crate's async API: owns a runtime with two worker
/// threads (named `annexr`), on which a started device's lease and clock
/// stay maintained between calls.
///
/// # Panics
/// Every method but [`Runner::new`] and [`Runner::ldap_client`] panics when
/// called from within a tokio runtime (tokio refuses to block a thread that
/// drives async tasks); call the async API there. Dropping a `Runner`
/// inside a runtime panics for the same reason.
#[derive(Debug)]
pub struct Runner {
    runtime: tokio::runtime::Runtime,
}

impl Runner {
    /// Starts the runtime.
    ///
    /// # Errors
    /// [`Error::Runtime`] when the operating system refuses the runtime's
    /// threads or its I/O driver.
    pub fn new() -> Result<Self, Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("annexr")
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        Ok(Runner { runtime })
    }

    /// [`Startup::run`], blocking. The outcome's lease and time
    /// synchronization run on this runner: end them with
    /// [`Runner::shutdown`] on the same runner.
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn run(&self, startup: &Startup) -> StartupOutcome {
        self.runtime.block_on(startup.run())
    }

    /// [`StartupOutcome::shutdown`], blocking (R.5): optionally marks the
    /// device offline, stops time synchronization, releases the DHCP lease.
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn shutdown(&self, outcome: StartupOutcome, set_offline: bool) -> ShutdownReport {
        self.runtime.block_on(outcome.shutdown(set_offline))
    }

    /// [`crate::ldap_servers`], blocking.
    ///
    /// # Errors
    /// As [`crate::ldap_servers`].
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn ldap_servers(&self, config: &StartupConfig) -> Result<Vec<String>, Error> {
        self.runtime.block_on(crate::ldap_servers(config))
    }

    /// [`crate::ldap_client`], as the blocking LDAP client (which owns its
    /// own runtime, so it does not block this runner's workers).
    ///
    /// # Errors
    /// As [`crate::ldap_client`]; [`annexr_ldap::Error::Runtime`] (inside
    /// [`Error::Ldap`]) when the client's runtime cannot start.
    pub fn ldap_client(
        &self,
        config: &StartupConfig,
        urls: &[String],
    ) -> Result<annexr_ldap::blocking::LdapClient, Error> {
        let client_config = crate::configure::client_config(config, urls)?;
        Ok(annexr_ldap::blocking::LdapClient::new(client_config)?)
    }

    /// [`crate::request_lease`], blocking.
    ///
    /// # Errors
    /// As [`crate::request_lease`].
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn request_lease(
        &self,
        interface: &str,
        desired_name: Option<&str>,
        remembered: Option<Ipv4Addr>,
        inform: Option<Ipv4Addr>,
    ) -> Result<(annexr_dhcp::Lease, String), Error> {
        self.runtime.block_on(crate::request_lease(
            interface,
            desired_name,
            remembered,
            inform,
        ))
    }

    /// [`crate::measure_time`], blocking.
    ///
    /// # Errors
    /// As [`crate::measure_time`].
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn measure_time(
        &self,
        servers: &[String],
        samples: u32,
        timeout_ms: u64,
    ) -> Result<annexr_sntp::Measurement, Error> {
        self.runtime
            .block_on(crate::measure_time(servers, samples, timeout_ms))
    }

    /// [`WatchBuilder::start`], blocking: the watch runs on this runner;
    /// read its events with [`Watch::blocking_next`] from a thread that is
    /// not one of the runner's workers. For the device a run started, make
    /// the builder with [`Watch::for_startup`].
    ///
    /// # Errors
    /// As [`WatchBuilder::start`].
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn start_watch(&self, builder: WatchBuilder) -> Result<Watch, Error> {
        self.runtime.block_on(builder.start())
    }

    /// Stops the runtime, waiting at most `wait` for its tasks (a watch, a
    /// connection driver, a lookup in a blocking thread) to end; dropping
    /// the runner instead waits for them without a limit. Shut a started
    /// device down with [`Runner::shutdown`] first.
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn shutdown_timeout(self, wait: Duration) {
        self.runtime.shutdown_timeout(wait);
    }
}
