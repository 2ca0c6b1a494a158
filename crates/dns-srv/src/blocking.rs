//! A small blocking facade for firmware that is not async.

use crate::{Discovery, DnsConfig, Error, Service, TxtAnswer};

/// Blocking twin of [`crate::SrvDiscoverer`]: owns a current-thread runtime.
#[derive(Debug)]
pub struct SrvDiscoverer {
    runtime: tokio::runtime::Runtime,
    inner: crate::SrvDiscoverer,
}

impl SrvDiscoverer {
    /// See [`crate::SrvDiscoverer::new`].
    pub fn new(config: DnsConfig) -> Result<Self, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        let inner = {
            let _guard = runtime.enter();
            crate::SrvDiscoverer::new(config)?
        };
        Ok(SrvDiscoverer { runtime, inner })
    }

    /// See [`crate::SrvDiscoverer::discover_ldap`].
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn discover_ldap(&self) -> Result<Discovery, Error> {
        self.runtime.block_on(self.inner.discover_ldap())
    }

    /// See [`crate::SrvDiscoverer::discover`].
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn discover(&self, service: &Service) -> Result<Discovery, Error> {
        self.runtime.block_on(self.inner.discover(service))
    }

    /// See [`crate::SrvDiscoverer::txt`].
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn txt(&self, name: &str) -> Result<TxtAnswer, Error> {
        self.runtime.block_on(self.inner.txt(name))
    }

    /// See [`crate::SrvDiscoverer::clear_cache`].
    pub fn clear_cache(&self) {
        self.inner.clear_cache();
    }
}
