//! A blocking facade for firmware code that is not async: [`LdapClient`]
//! is the twin of [`crate::LdapClient`], with the same operations, each run
//! to completion on a runtime the twin owns. Unlike the other crates'
//! twins, that runtime is multi-threaded with one worker: the LDAP
//! connection driver (and a [`LdapClient::watch`]) keeps running between
//! calls, so the connection answers the server and stays usable.

use std::sync::Arc;

use annexr_model::{Device, Layout};

use crate::alloc::Allocator;
use crate::client::{
    Allocation, DeviceLookup, DeviceTypeQuery, FoundAes, Registration, ResolvedAe, SopClassQuery,
    SyncedTitle,
};
use crate::config::ClientConfig;
use crate::conn::Counted;
use crate::error::{Error, Result};
use crate::install::{InstallOutcome, InstallPlan, InstallStep};
use crate::update::{Target, UpdateOutcome};
use crate::watch::{DirectoryWatch, WatchOptions};

/// Blocking twin of [`crate::LdapClient`]: owns a runtime with one worker
/// thread.
///
/// # Panics
/// Every operation that talks to the server panics when called from within
/// a tokio runtime (tokio refuses to block a thread that drives async
/// tasks); use [`crate::LdapClient`] there. [`LdapClient::new`],
/// [`LdapClient::config`], [`LdapClient::clear_cache`],
/// [`LdapClient::as_async`] and [`LdapClient::watch`] do not block.
#[derive(Debug)]
pub struct LdapClient {
    // Declared before the runtime: the connection handle is dropped while
    // the runtime of its driver is still there.
    client: crate::LdapClient,
    rt: tokio::runtime::Runtime,
}

impl LdapClient {
    /// See [`crate::LdapClient::new`]: nothing is sent until the first
    /// operation.
    ///
    /// # Errors
    /// As [`crate::LdapClient::new`]; [`Error::Runtime`] when the runtime
    /// cannot start.
    pub fn new(config: ClientConfig) -> Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("annexr-ldap")
            .enable_all()
            .build()
            .map_err(|e| Error::Runtime(Arc::new(e)))?;
        // ldap3 spawns its connection driver: enter the runtime for that.
        let client = {
            let _guard = rt.enter();
            crate::LdapClient::new(config)?
        };
        Ok(LdapClient { client, rt })
    }

    /// See [`crate::LdapClient::config`].
    pub fn config(&self) -> &ClientConfig {
        self.client.config()
    }

    /// See [`crate::LdapClient::clear_cache`].
    pub fn clear_cache(&self) {
        self.client.clear_cache();
    }

    /// See [`crate::LdapClient::watch`]: the watch runs on this client's
    /// runtime; read its events with [`DirectoryWatch::blocking_next`].
    pub fn watch(&self, devices: Vec<String>, options: WatchOptions) -> DirectoryWatch {
        let _guard = self.rt.enter();
        self.client.watch(devices, options)
    }

    /// The async client inside (shares the connection).
    pub fn as_async(&self) -> &crate::LdapClient {
        &self.client
    }

    /// See [`crate::LdapClient::connect`].
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn connect(&self) -> Result<Counted<String>> {
        self.rt.block_on(self.client.connect())
    }

    /// See [`crate::LdapClient::locate`].
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn locate(&self) -> Result<Counted<Layout>> {
        self.rt.block_on(self.client.locate())
    }

    /// See [`crate::LdapClient::load_device`].
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn load_device(&self, name: &str) -> Result<Counted<DeviceLookup>> {
        self.rt.block_on(self.client.load_device(name))
    }

    /// See [`crate::LdapClient::resolve_ae`].
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn resolve_ae(&self, ae_title: &str) -> Result<Counted<Option<ResolvedAe>>> {
        self.rt.block_on(self.client.resolve_ae(ae_title))
    }

    /// See [`crate::LdapClient::resolve_ae_cached`].
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn resolve_ae_cached(&self, ae_title: &str) -> Result<Counted<Option<ResolvedAe>>> {
        self.rt.block_on(self.client.resolve_ae_cached(ae_title))
    }

    /// See [`crate::LdapClient::find_aes_by_device_type`].
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn find_aes_by_device_type(
        &self,
        query: &DeviceTypeQuery,
    ) -> Result<Counted<Vec<ResolvedAe>>> {
        self.rt.block_on(self.client.find_aes_by_device_type(query))
    }

    /// See [`crate::LdapClient::find_aes`].
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn find_aes(&self, query: &DeviceTypeQuery) -> Result<Counted<FoundAes>> {
        self.rt.block_on(self.client.find_aes(query))
    }

    /// See [`crate::LdapClient::find_aes_by_sop_class`].
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn find_aes_by_sop_class(&self, query: &SopClassQuery) -> Result<Counted<FoundAes>> {
        self.rt.block_on(self.client.find_aes_by_sop_class(query))
    }

    /// See [`crate::LdapClient::find_devices_by_serial`].
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn find_devices_by_serial(&self, serial: &str) -> Result<Counted<Vec<String>>> {
        self.rt.block_on(self.client.find_devices_by_serial(serial))
    }

    /// See [`crate::LdapClient::unregistered_titles`].
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn unregistered_titles(&self) -> Result<Counted<Vec<(String, String)>>> {
        self.rt.block_on(self.client.unregistered_titles())
    }

    /// See [`crate::LdapClient::sync_registry`].
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn sync_registry(&self, apply: bool) -> Result<Counted<Vec<SyncedTitle>>> {
        self.rt.block_on(self.client.sync_registry(apply))
    }

    /// See [`crate::LdapClient::register_title`].
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn register_title(&self, title: &str) -> Result<Counted<Registration>> {
        self.rt.block_on(self.client.register_title(title))
    }

    /// See [`crate::LdapClient::unregister_title`].
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn unregister_title(&self, title: &str) -> Result<Counted<bool>> {
        self.rt.block_on(self.client.unregister_title(title))
    }

    /// See [`crate::LdapClient::check_titles`].
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn check_titles(&self, titles: &[&str]) -> Result<Counted<Vec<(String, bool)>>> {
        self.rt.block_on(self.client.check_titles(titles))
    }

    /// See [`crate::LdapClient::titles_in_use`].
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn titles_in_use(&self, prefix: &str) -> Result<Counted<Vec<String>>> {
        self.rt.block_on(self.client.titles_in_use(prefix))
    }

    /// See [`crate::LdapClient::allocate_title`].
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn allocate_title(&self, allocator: &mut Allocator) -> Result<Counted<Allocation>> {
        self.rt.block_on(self.client.allocate_title(allocator))
    }

    /// See [`crate::LdapClient::install`].
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn install(&self, plan: &InstallPlan) -> Result<Counted<InstallOutcome>> {
        self.rt.block_on(self.client.install(plan))
    }

    /// See [`crate::LdapClient::install_with`].
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn install_with(
        &self,
        plan: &InstallPlan,
        observer: impl FnMut(&InstallStep),
    ) -> Result<Counted<InstallOutcome>> {
        self.rt.block_on(self.client.install_with(plan, observer))
    }

    /// See [`crate::LdapClient::merge_device`].
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn merge_device(&self, local: &Device) -> Result<Counted<UpdateOutcome>> {
        self.rt.block_on(self.client.merge_device(local))
    }

    /// See [`crate::LdapClient::update_device`].
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn update_device(
        &self,
        stored: &Device,
        desired: &Device,
    ) -> Result<Counted<UpdateOutcome>> {
        self.rt.block_on(self.client.update_device(stored, desired))
    }

    /// See [`crate::LdapClient::set_installed`].
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn set_installed(
        &self,
        target: &Target,
        installed: bool,
    ) -> Result<Counted<UpdateOutcome>> {
        self.rt
            .block_on(self.client.set_installed(target, installed))
    }
}
