//! The sequence for firmware that does not run tokio: one call that blocks,
//! and a handle that keeps the background work (lease renewal, time
//! synchronization) running on a private runtime until shutdown.

use crate::report::StartupReport;
use crate::sequence::{ShutdownReport, Startup, StartupOutcome};

/// A started device: the outcome of the sequence and the runtime that keeps
/// its lease and clock maintained.
#[derive(Debug)]
pub struct Running {
    runtime: tokio::runtime::Runtime,
    outcome: StartupOutcome,
}

/// Runs `startup` to completion on a private runtime (two threads: the
/// lease and the time loop keep going after this returns).
pub fn run(startup: &Startup) -> std::io::Result<Running> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("annexr")
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(startup.run());
    Ok(Running { runtime, outcome })
}

impl Running {
    /// What the sequence did.
    pub fn report(&self) -> &StartupReport {
        &self.outcome.report
    }

    /// The whole outcome: configuration, network parameters, LDAP servers.
    pub fn outcome(&self) -> &StartupOutcome {
        &self.outcome
    }

    /// Starts following this device and its peers in the directory
    /// ([`crate::Watch::for_startup`]) on this handle's runtime; read the
    /// events with [`crate::Watch::blocking_next`] from any thread that is
    /// not one of the runtime's workers.
    pub fn watch(&self, startup: &Startup) -> Result<crate::Watch, crate::Error> {
        let builder = crate::Watch::for_startup(startup, &self.outcome)?;
        self.runtime.block_on(builder.start())
    }

    /// R.5: optionally marks the device offline, stops time
    /// synchronization, releases the DHCP lease.
    pub fn shutdown(self, set_offline: bool) -> ShutdownReport {
        let Running { runtime, outcome } = self;
        runtime.block_on(outcome.shutdown(set_offline))
    }
}
