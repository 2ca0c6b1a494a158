//! A blocking facade for callers without an async runtime (modality
//! firmware): [`Prober`] owns a current-thread tokio runtime and runs the
//! async probe on it. A probe has no background work between calls, so a
//! current-thread runtime is enough.

use crate::report::{Error, ProbeReport};
use crate::sweep::{SweepOptions, SweepReport};
use crate::target::{ProbeOptions, Target};

/// Blocking twin of [`crate::probe`] and [`crate::sweep`]: owns its runtime.
///
/// # Panics
/// [`Prober::probe`] and [`Prober::sweep`] panic when called from within a
/// tokio runtime (tokio refuses to block a thread that drives async tasks);
/// call the async functions there.
#[derive(Debug)]
pub struct Prober {
    runtime: tokio::runtime::Runtime,
}

impl Prober {
    /// Starts the runtime.
    ///
    /// # Errors
    /// [`Error::Runtime`] when the operating system refuses the runtime's
    /// resources (threads, the I/O driver).
    pub fn new() -> Result<Self, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Runtime(e.into()))?;
        Ok(Prober { runtime })
    }

    /// [`crate::probe`], blocking.
    ///
    /// # Errors
    /// As [`crate::probe`].
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn probe(&self, target: &Target, opts: &ProbeOptions) -> Result<ProbeReport, Error> {
        self.runtime.block_on(crate::probe(target, opts))
    }

    /// [`crate::sweep`], blocking.
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn sweep(&self, targets: &[Target], opts: &SweepOptions) -> SweepReport {
        self.runtime.block_on(crate::sweep(targets, opts))
    }
}
