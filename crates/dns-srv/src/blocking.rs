//! A blocking facade for firmware that is not async: [`SrvDiscoverer`] is
//! the twin of [`crate::SrvDiscoverer`] and owns a current-thread tokio
//! runtime. Discovery has no background work between calls, so a
//! current-thread runtime is enough.

use crate::{Discovery, DnsConfig, Error, SelectionRng, Service, TxtAnswer};

/// Blocking twin of [`crate::SrvDiscoverer`]: owns a current-thread runtime.
///
/// # Panics
/// The lookups ([`SrvDiscoverer::discover_ldap`], [`SrvDiscoverer::discover`],
/// [`SrvDiscoverer::txt`]) panic when called from within a tokio runtime
/// (tokio refuses to block a thread that drives async tasks); use
/// [`crate::SrvDiscoverer`] there.
#[derive(Debug)]
pub struct SrvDiscoverer {
    // Declared before the runtime: the resolvers are dropped while their
    // runtime is still there.
    inner: crate::SrvDiscoverer,
    runtime: tokio::runtime::Runtime,
}

impl SrvDiscoverer {
    /// See [`crate::SrvDiscoverer::new`].
    ///
    /// # Errors
    /// As [`crate::SrvDiscoverer::new`]; [`Error::Runtime`] when the
    /// runtime cannot start.
    pub fn new(config: DnsConfig) -> Result<Self, Error> {
        Self::build(|| crate::SrvDiscoverer::new(config))
    }

    /// See [`crate::SrvDiscoverer::with_rng`].
    ///
    /// # Errors
    /// As [`SrvDiscoverer::new`].
    pub fn with_rng(config: DnsConfig, rng: Box<dyn SelectionRng + Send>) -> Result<Self, Error> {
        Self::build(|| crate::SrvDiscoverer::with_rng(config, rng))
    }

    fn build(inner: impl FnOnce() -> Result<crate::SrvDiscoverer, Error>) -> Result<Self, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        // The resolvers are made for the runtime they are built in.
        let inner = {
            let _entered = runtime.enter();
            inner()?
        };
        Ok(SrvDiscoverer { inner, runtime })
    }

    /// See [`crate::SrvDiscoverer::config`].
    pub fn config(&self) -> &DnsConfig {
        self.inner.config()
    }

    /// See [`crate::SrvDiscoverer::clear_cache`].
    pub fn clear_cache(&self) {
        self.inner.clear_cache();
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
}
