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
    /// See [`crate::SntpClient::new`].
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
    pub fn measure(&self, clock: Arc<dyn Clock>) -> Result<Measurement, Error> {
        self.runtime.block_on(self.inner.measure(clock))
    }
}
