//! A blocking facade for callers without an async runtime (modality
//! firmware): each call runs the async probe on a private current-thread
//! tokio runtime.

use crate::report::{Error, ProbeReport};
use crate::sweep::{SweepOptions, SweepReport};
use crate::target::{ProbeOptions, Target};

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Runtime {
            cause: e.to_string(),
        })
}

/// [`crate::probe`], blocking. Must not be called from within a tokio runtime.
pub fn probe(target: &Target, opts: &ProbeOptions) -> Result<ProbeReport, Error> {
    runtime()?.block_on(crate::probe(target, opts))
}

/// [`crate::sweep`], blocking. Must not be called from within a tokio runtime.
pub fn sweep(targets: &[Target], opts: &SweepOptions) -> Result<SweepReport, Error> {
    Ok(runtime()?.block_on(crate::sweep(targets, opts)))
}
