//! A small blocking facade for firmware that is not async.

use std::sync::Arc;

use crate::{Clock, Error, Measurement, SamplingConfig};

/// Blocking twin of [`crate::SntpClient`]: owns a current-thread runtime.
#[derive(Debug)]
pub struct SntpClient {
    runtime: tokio::runtime::Runtime,
    inner: crate::SntpClient,
}

impl SntpClient {
    /// See [`crate::SntpClient::new`]; also fails with [`Error::Runtime`]
    /// when the runtime cannot start.
    pub fn new(servers: Vec<std::net::SocketAddr>, config: SamplingConfig) -> Result<Self, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        Ok(SntpClient {
            runtime,
            inner: crate::SntpClient::new(servers, config)?,
        })
    }

    /// See [`crate::SntpClient::measure`].
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn measure(&self, clock: Arc<dyn Clock>) -> Result<Measurement, Error> {
        self.runtime.block_on(self.inner.measure(clock))
    }
}
