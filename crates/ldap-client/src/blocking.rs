//! A blocking facade for firmware code that is not async: the same
//! operations as [`crate::LdapClient`], each run to completion on a small
//! private tokio runtime (one worker thread, which also keeps the LDAP
//! connection driven between calls).

use annexr_model::{Device, Layout};

use crate::alloc::Allocator;
use crate::client::{
    Allocation, DeviceLookup, DeviceTypeQuery, FoundAes, Registration, ResolvedAe, SopClassQuery,
    SyncedTitle,
};
use crate::config::ClientConfig;
use crate::conn::Counted;
use crate::error::{Error, Result};
use crate::install::{InstallOutcome, InstallPlan};
use crate::update::{Target, UpdateOutcome};

/// Blocking twin of [`crate::LdapClient`].
#[derive(Debug)]
pub struct LdapClient {
    rt: tokio::runtime::Runtime,
    client: crate::LdapClient,
}

impl LdapClient {
    /// A client for `config`; nothing is sent until the first operation.
    pub fn new(config: ClientConfig) -> Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| Error::Config(format!("cannot start the runtime: {e}")))?;
        // ldap3 spawns its connection driver: enter the runtime for that.
        let client = {
            let _guard = rt.enter();
            crate::LdapClient::new(config)?
        };
        Ok(LdapClient { rt, client })
    }

    /// The async client inside (shares the connection).
    pub fn as_async(&self) -> &crate::LdapClient {
        &self.client
    }

    /// See [`crate::LdapClient::connect`].
    pub fn connect(&self) -> Result<Counted<String>> {
        self.rt.block_on(self.client.connect())
    }

    /// See [`crate::LdapClient::locate`].
    pub fn locate(&self) -> Result<Counted<Layout>> {
        self.rt.block_on(self.client.locate())
    }

    /// See [`crate::LdapClient::load_device`].
    pub fn load_device(&self, name: &str) -> Result<Counted<DeviceLookup>> {
        self.rt.block_on(self.client.load_device(name))
    }

    /// See [`crate::LdapClient::resolve_ae`].
    pub fn resolve_ae(&self, ae_title: &str) -> Result<Counted<Option<ResolvedAe>>> {
        self.rt.block_on(self.client.resolve_ae(ae_title))
    }

    /// See [`crate::LdapClient::resolve_ae_cached`].
    pub fn resolve_ae_cached(&self, ae_title: &str) -> Result<Counted<Option<ResolvedAe>>> {
        self.rt.block_on(self.client.resolve_ae_cached(ae_title))
    }

    /// See [`crate::LdapClient::find_aes_by_device_type`].
    pub fn find_aes_by_device_type(
        &self,
        query: &DeviceTypeQuery,
    ) -> Result<Counted<Vec<ResolvedAe>>> {
        self.rt.block_on(self.client.find_aes_by_device_type(query))
    }

    /// See [`crate::LdapClient::find_aes`].
    pub fn find_aes(&self, query: &DeviceTypeQuery) -> Result<Counted<FoundAes>> {
        self.rt.block_on(self.client.find_aes(query))
    }

    /// See [`crate::LdapClient::find_aes_by_sop_class`].
    pub fn find_aes_by_sop_class(&self, query: &SopClassQuery) -> Result<Counted<FoundAes>> {
        self.rt.block_on(self.client.find_aes_by_sop_class(query))
    }

    /// See [`crate::LdapClient::find_devices_by_serial`].
    pub fn find_devices_by_serial(&self, serial: &str) -> Result<Counted<Vec<String>>> {
        self.rt.block_on(self.client.find_devices_by_serial(serial))
    }

    /// See [`crate::LdapClient::unregistered_titles`].
    pub fn unregistered_titles(&self) -> Result<Counted<Vec<(String, String)>>> {
        self.rt.block_on(self.client.unregistered_titles())
    }

    /// See [`crate::LdapClient::sync_registry`].
    pub fn sync_registry(&self, apply: bool) -> Result<Counted<Vec<SyncedTitle>>> {
        self.rt.block_on(self.client.sync_registry(apply))
    }

    /// See [`crate::LdapClient::register_title`].
    pub fn register_title(&self, title: &str) -> Result<Counted<Registration>> {
        self.rt.block_on(self.client.register_title(title))
    }

    /// See [`crate::LdapClient::unregister_title`].
    pub fn unregister_title(&self, title: &str) -> Result<Counted<bool>> {
        self.rt.block_on(self.client.unregister_title(title))
    }

    /// See [`crate::LdapClient::check_titles`].
    pub fn check_titles(&self, titles: &[&str]) -> Result<Counted<Vec<(String, bool)>>> {
        self.rt.block_on(self.client.check_titles(titles))
    }

    /// See [`crate::LdapClient::titles_in_use`].
    pub fn titles_in_use(&self, prefix: &str) -> Result<Counted<Vec<String>>> {
        self.rt.block_on(self.client.titles_in_use(prefix))
    }

    /// See [`crate::LdapClient::allocate_title`].
    pub fn allocate_title(&self, allocator: &mut Allocator) -> Result<Counted<Allocation>> {
        self.rt.block_on(self.client.allocate_title(allocator))
    }

    /// See [`crate::LdapClient::install`].
    pub fn install(&self, plan: &InstallPlan) -> Result<Counted<InstallOutcome>> {
        self.rt.block_on(self.client.install(plan))
    }

    /// See [`crate::LdapClient::merge_device`].
    pub fn merge_device(&self, local: &Device) -> Result<Counted<UpdateOutcome>> {
        self.rt.block_on(self.client.merge_device(local))
    }

    /// See [`crate::LdapClient::update_device`].
    pub fn update_device(
        &self,
        stored: &Device,
        desired: &Device,
    ) -> Result<Counted<UpdateOutcome>> {
        self.rt.block_on(self.client.update_device(stored, desired))
    }

    /// See [`crate::LdapClient::set_installed`].
    pub fn set_installed(
        &self,
        target: &Target,
        installed: bool,
    ) -> Result<Counted<UpdateOutcome>> {
        self.rt
            .block_on(self.client.set_installed(target, installed))
    }
}
