//! A blocking facade for firmware that is not async: [`SntpClient`] is the
//! twin of [`crate::SntpClient`] and owns a current-thread tokio runtime. A
//! measurement has no background work between calls, so a current-thread
//! runtime is enough. (The continuous poll loop, [`crate::spawn_sync`],
//! needs a runtime that keeps running: the `annexr` crate's blocking facade
//! keeps it going for a started device.)

use std::net::SocketAddr;
use std::sync::Arc;

use crate::{Clock, Error, Measurement, SamplingConfig};

/// Blocking twin of [`crate::SntpClient`]: owns a current-thread runtime.
///
/// # Panics
/// [`SntpClient::measure`] panics when called from within a tokio runtime
/// (tokio refuses to block a thread that drives async tasks); use
/// [`crate::SntpClient`] there.
#[derive(Debug)]
pub struct SntpClient {
    runtime: tokio::runtime::Runtime,
    inner: crate::SntpClient,
}

impl SntpClient {
    /// See [`crate::SntpClient::new`].
    ///
    /// # Errors
    /// As [`crate::SntpClient::new`]; [`Error::Runtime`] when the runtime
    /// cannot start.
    pub fn new(servers: Vec<SocketAddr>, config: SamplingConfig) -> Result<Self, Error> {
        let inner = crate::SntpClient::new(servers, config)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        Ok(SntpClient { runtime, inner })
    }

    /// See [`crate::SntpClient::servers`].
    pub fn servers(&self) -> &[SocketAddr] {
        self.inner.servers()
    }

    /// See [`crate::SntpClient::measure`].
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn measure(&self, clock: Arc<dyn Clock>) -> Result<Measurement, Error> {
        self.runtime.block_on(self.inner.measure(clock))
    }
}
