//! The async client: locate the configuration, load a device, resolve AE
//! titles (R.3), find AEs by device type (R.3.1), the unique AE titles
//! registry (R.1).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use annexr_model::escape_filter_value as esc;
use annexr_model::{AeTitle, Device, Dn, Layout, LdapEntry, UniqueAeTitle};
use annexr_model::{attr, oc};
use ldap3::Scope;
use serde::{Serialize, Serializer};
use tokio::sync::Mutex;

use crate::alloc::Allocator;
use crate::config::ClientConfig;
use crate::conn::{Counted, Inner, Stats, Write};
use crate::error::{Error, Result, is_limit_code, is_refusal_code};
use crate::subschema::Subschema;

/// True for the structural classes of H.1 (and `top`): any other class on a
/// device's entries is a vendor extension.
fn is_annex_h_class(class: &str) -> bool {
    [
        oc::TOP,
        oc::DEVICE,
        oc::NETWORK_AE,
        oc::NETWORK_CONNECTION,
        oc::TRANSFER_CAPABILITY,
    ]
    .iter()
    .any(|k| k.eq_ignore_ascii_case(class))
}

/// The attributes a load asks for by name: the Annex H ones, and the
/// entry's `subschemaSubentry` (operational), where the attributes of
/// vendor extension classes are looked up ([`crate::subschema`]). Never
/// `*`, which would also ask for passwords.
fn load_attributes() -> Vec<String> {
    load_attributes_str()
        .into_iter()
        .map(str::to_string)
        .collect()
}

fn load_attributes_str() -> Vec<&'static str> {
    [
        attr::OBJECT_CLASS,
        attr::CN,
        attr::DESCRIPTION,
        SUBSCHEMA_SUBENTRY,
    ]
    .into_iter()
    .chain(annexr_model::ATTRIBUTE_TYPES.iter().map(|t| t.name))
    .collect()
}

/// The operational attribute that names an entry's subschema (RFC 4512).
const SUBSCHEMA_SUBENTRY: &str = "subschemaSubentry";

/// Attribute types that hold credentials: never asked for, and dropped if a
/// server sends one anyway, so they cannot reach the store, JSON or LDIF.
pub(crate) const SECRET_ATTRIBUTES: &[&str] = &[
    "userPassword",
    "authPassword",
    "userPKCS12",
    "unicodePwd",
    "sambaNTPassword",
    "sambaLMPassword",
];

/// True for a secret attribute, with or without options (`userPassword;x`).
pub(crate) fn is_secret(name: &str) -> bool {
    let base = name.split(';').next().unwrap_or(name);
    SECRET_ATTRIBUTES
        .iter()
        .any(|s| base.eq_ignore_ascii_case(s))
}

fn drop_secrets(entries: &mut [LdapEntry]) {
    for e in entries {
        e.attributes.retain(|a| !is_secret(&a.name));
    }
}

/// Final characters that split one level of entries into smaller searches
/// when a server's size limit is below the level's size (matching on `cn`
/// ignores case, and every child has a `cn`: the "rest" part makes the
/// parts complete). Spaces are insignificant in `cn` matching, so a
/// character is also tried before a space (`"2 scp"`); overlaps are
/// dropped by DN.
const SPLIT_CHARS: &str = "0123456789abcdefghijklmnopqrstuvwxyz-_.";

/// How many trailing characters a split may look at before giving up.
const MAX_SPLIT_DEPTH: usize = 8;

/// A part of one level: the names ending in `suffix` (and, for `rest`,
/// in no character of [`SPLIT_CHARS`] before it).
#[derive(Debug, Clone)]
struct Part {
    base: String,
    suffix: String,
    rest: bool,
}

impl Part {
    fn filter(&self) -> String {
        let suffix = esc(&self.suffix);
        if !self.rest {
            return format!("({}=*{suffix})", attr::CN);
        }
        let known: String = SPLIT_CHARS
            .chars()
            .map(|c| {
                let c = esc(&c.to_string());
                if self.suffix.is_empty() {
                    format!("({}=*{c})", attr::CN)
                } else {
                    format!("({cn}=*{c}{suffix})({cn}=*{c} {suffix})", cn = attr::CN)
                }
            })
            .collect();
        if self.suffix.is_empty() {
            format!("(!(|{known}))")
        } else {
            format!("(&({}=*{suffix})(!(|{known})))", attr::CN)
        }
    }

    /// The parts of this one, one trailing character further.
    fn split(&self) -> Vec<Part> {
        let spaced = !self.suffix.is_empty();
        let mut parts: Vec<Part> = SPLIT_CHARS
            .chars()
            .flat_map(|c| {
                let mut suffixes = vec![format!("{c}{}", self.suffix)];
                if spaced {
                    suffixes.push(format!("{c} {}", self.suffix));
                }
                suffixes
            })
            .map(|suffix| Part {
                base: self.base.clone(),
                suffix,
                rest: false,
            })
            .collect();
        parts.push(Part {
            base: self.base.clone(),
            suffix: self.suffix.clone(),
            rest: true,
        });
        parts
    }
}

/// The filter term that matches an entry by its RDN (`(cn=x)`, or
/// `(&(a=x)(b=y))` for a multi-valued RDN). `None` when an attribute type
/// is not one a filter can carry (a hostile server's DN).
fn rdn_term(entry: &LdapEntry) -> Option<String> {
    let rdn = entry.dn.rdn()?;
    let mut terms = String::new();
    for ava in &rdn.0 {
        let plain = !ava.attr.is_empty()
            && ava
                .attr
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ';'));
        if !plain {
            return None;
        }
        terms.push_str(&format!("({}={})", ava.attr, esc(&ava.value)));
    }
    match rdn.0.len() {
        0 => None,
        1 => Some(terms),
        _ => Some(format!("(&{terms})")),
    }
}

/// True when an entry's RDN attribute holds more values than its RDN value:
/// excluding it by RDN could then exclude a sibling with the same value.
fn has_shared_rdn_values(entry: &LdapEntry) -> bool {
    entry
        .dn
        .rdn()
        .is_some_and(|rdn| rdn.0.iter().any(|ava| entry.values(&ava.attr).len() > 1))
}

/// Loading a device either finds it or finds that it is not configured: the
/// "unconfigured device" of R.1.2.2 step 4, which leads to installation.
#[derive(Debug, Clone, PartialEq, Eq)]
// Returned once per load, never stored in bulk: boxing would only cost.
#[allow(clippy::large_enum_variant)]
// Two states: the device is in the directory or it is not; callers handle both.
#[allow(clippy::exhaustive_enums)]
pub enum DeviceLookup {
    /// The device with all its connections, AEs and transfer capabilities.
    Found(Device),
    /// No device of that name is in the configuration.
    NotConfigured {
        /// The name looked for.
        name: String,
    },
}

impl DeviceLookup {
    /// The device, if found.
    pub fn found(self) -> Option<Device> {
        match self {
            DeviceLookup::Found(d) => Some(d),
            DeviceLookup::NotConfigured { .. } => None,
        }
    }
}

/// A network connection of a resolved AE, ready for an association.
///
/// Serializes with its field names as keys (docs/json.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Endpoint {
    /// The connection's name (`cn`).
    pub name: String,
    /// `dicomHostname`.
    pub hostname: String,
    /// `dicomPort` (absent: initiate-only connection).
    pub port: Option<u16>,
    /// True when the connection lists TLS cipher suites.
    pub tls: bool,
    /// Effective installed state (the device's when the connection has none).
    pub installed: bool,
}

/// Where to call an AE: one connection's host, port and TLS flag
/// ([`ResolvedAe::address`]). Displays as `host:port` (`[v6]:port`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AeAddress<'a> {
    /// `dicomHostname`: a host name or an IP address.
    pub host: &'a str,
    /// `dicomPort`.
    pub port: u16,
    /// True when the connection lists TLS cipher suites.
    pub tls: bool,
}

impl std::fmt::Display for AeAddress<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// An AE resolved to its device and connections (R.3).
///
/// Serializes as the one JSON document the CLI and the C ABI print for an
/// AE (docs/json.md): its fields plus the callable address (`host`,
/// `port`, `tls`, all null when the AE must not be called) and
/// `not_callable`, the reason when it must not.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResolvedAe {
    /// The AE title.
    pub ae_title: AeTitle,
    /// The device's name.
    pub device_name: String,
    /// The device's primary device types.
    pub device_types: Vec<String>,
    /// Effective installed state: the device is installed and the AE is not
    /// marked otherwise.
    pub installed: bool,
    /// `dicomApplicationCluster`.
    pub application_clusters: Vec<String>,
    /// `dicomAssociationAcceptor`.
    pub acceptor: bool,
    /// `dicomAssociationInitiator`.
    pub initiator: bool,
    /// The AE's connections.
    pub connections: Vec<Endpoint>,
}

impl ResolvedAe {
    /// The first installed connection with a port of an installed AE that
    /// accepts associations. `None` when the AE is not callable;
    /// [`ResolvedAe::not_callable`] says why.
    pub fn address(&self) -> Option<AeAddress<'_>> {
        if !self.installed || !self.acceptor {
            return None;
        }
        self.any_address()
    }

    /// Like [`ResolvedAe::address`] but also for an AE that is offline or
    /// does not accept associations (an explicit "include offline" choice).
    pub fn any_address(&self) -> Option<AeAddress<'_>> {
        let usable = |c: &&Endpoint| c.installed || !self.installed;
        self.connections.iter().filter(usable).find_map(|c| {
            c.port.map(|port| AeAddress {
                host: c.hostname.as_str(),
                port,
                tls: c.tls,
            })
        })
    }

    /// Why the AE must not be called, or `None` when it may be: not
    /// installed (`dicomInstalled` FALSE on it or its device), not an
    /// association acceptor, or no installed connection with a port.
    pub fn not_callable(&self) -> Option<String> {
        if !self.installed {
            Some(format!(
                "{} is not installed (dicomInstalled FALSE)",
                self.ae_title
            ))
        } else if !self.acceptor {
            Some(format!(
                "{} does not accept associations (dicomAssociationAcceptor FALSE)",
                self.ae_title
            ))
        } else if self.address().is_none() {
            Some(format!(
                "{} has no installed connection with a port",
                self.ae_title
            ))
        } else {
            None
        }
    }

    /// The AEs of a device, resolved, with the one installed rule of the
    /// model (device FALSE wins; no attribute inherits the device's).
    pub fn from_device(d: &Device) -> Vec<ResolvedAe> {
        d.network_aes
            .iter()
            .map(|ae| ResolvedAe {
                ae_title: ae.ae_title.clone(),
                device_name: d.name.clone(),
                device_types: d.primary_device_types.clone(),
                installed: ae.effective_installed(d),
                application_clusters: ae.application_clusters.clone(),
                acceptor: ae.association_acceptor,
                initiator: ae.association_initiator,
                connections: ae
                    .connections_in(d)
                    .map(|c| Endpoint {
                        name: c.name.clone(),
                        hostname: c.hostname.clone(),
                        port: c.port,
                        tls: c.is_tls(),
                        installed: c.effective_installed(d),
                    })
                    .collect(),
            })
            .collect()
    }
}

/// The JSON shape of a [`ResolvedAe`]: derived, so the keys are the
/// field names, with the address computed once by [`ResolvedAe::address`]
/// (an offline AE or a non-acceptor gets null, never an address).
#[derive(Serialize)]
struct ResolvedAeDocument<'a> {
    ae_title: &'a AeTitle,
    device_name: &'a str,
    device_types: &'a [String],
    installed: bool,
    acceptor: bool,
    initiator: bool,
    application_clusters: &'a [String],
    host: Option<&'a str>,
    port: Option<u16>,
    tls: Option<bool>,
    not_callable: Option<String>,
    connections: &'a [Endpoint],
}

impl Serialize for ResolvedAe {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let address = self.address();
        ResolvedAeDocument {
            ae_title: &self.ae_title,
            device_name: &self.device_name,
            device_types: &self.device_types,
            installed: self.installed,
            acceptor: self.acceptor,
            initiator: self.initiator,
            application_clusters: &self.application_clusters,
            host: address.map(|a| a.host),
            port: address.map(|a| a.port),
            tls: address.map(|a| a.tls),
            not_callable: self.not_callable(),
            connections: &self.connections,
        }
        .serialize(serializer)
    }
}

/// The result of a search for AEs (R.3.1): what was found, and what the
/// search could not use.
///
/// Serializes with its field names as keys; each AE as [`ResolvedAe`] does.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[non_exhaustive]
pub struct FoundAes {
    /// The AEs found.
    pub aes: Vec<ResolvedAe>,
    /// Devices that could not be read (malformed entries), with the reason;
    /// skipped instead of failing the whole search.
    pub skipped: Vec<String>,
    /// Every `dicomPrimaryDeviceType` value present on the site (for a hint
    /// when nothing matched a device type).
    pub device_types_on_site: Vec<String>,
}

/// A title an AE uses without a registry entry, and what `sync` did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyncedTitle {
    /// The AE title.
    pub title: String,
    /// The DN of the device whose AE uses it.
    pub device: String,
    /// The registry's answer to the add; `None` in a dry run.
    pub registration: Option<Registration>,
}

/// R.1: "searches might be by SOP class or device type": AEs with a transfer
/// capability for a SOP class, optionally in one role.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SopClassQuery {
    /// `dicomSOPClass` UID.
    pub sop_class: String,
    /// `dicomTransferRole` (`SCP` or `SCU`), any when `None`.
    pub role: Option<String>,
    /// Only installed devices, AEs and connections.
    pub installed_only: bool,
}

/// R.3.1: which AEs to find.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceTypeQuery {
    /// `dicomPrimaryDeviceType` value, e.g. `ARCHIVE`; matched without
    /// regard to case (users type `archive`).
    pub device_type: String,
    /// Only AEs in this application cluster.
    pub application_cluster: Option<String>,
    /// Only installed devices, AEs and connections.
    pub installed_only: bool,
}

impl DeviceTypeQuery {
    /// All AEs of devices of `device_type`.
    pub fn new(device_type: &str) -> Self {
        DeviceTypeQuery {
            device_type: device_type.into(),
            ..Default::default()
        }
    }
}

/// The outcome of proposing one AE title to the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
// Closed by the LDAP add (RFC 4511): success, entryAlreadyExists, or another result code.
#[allow(clippy::exhaustive_enums)]
pub enum Registration {
    /// The title is now ours.
    Registered,
    /// Someone holds it (entryAlreadyExists, 68).
    Taken,
    /// The server will not take writes from us (50, 53, or an unfollowed
    /// referral): use the LDIF fallback.
    Refused {
        /// The result code.
        rc: u32,
        /// The server's text.
        text: String,
    },
}

/// A title obtained from an allocation policy.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Allocation {
    /// The registered title.
    pub title: AeTitle,
    /// Add attempts made (1 = the first candidate was free).
    pub attempts: usize,
}

type CacheMap = HashMap<String, (Instant, Option<ResolvedAe>)>;

fn retain_installed(aes: &mut Vec<ResolvedAe>) {
    aes.retain(|a| a.installed);
    for a in aes {
        a.connections.retain(|c| c.installed);
    }
}

/// An async client for the DICOM configuration on LDAP. Cheap to clone;
/// clones share one connection, which multiplexes concurrent operations.
#[derive(Clone)]
pub struct LdapClient {
    pub(crate) inner: Arc<Inner>,
    roots: Arc<Mutex<Option<Layout>>>,
    /// The configured base DN, verified on first use.
    base: Option<Dn>,
    cache: Arc<std::sync::Mutex<CacheMap>>,
    /// The server's schema, read on the first load of an extension entry.
    subschema: Arc<std::sync::Mutex<Option<Arc<Subschema>>>>,
}

impl std::fmt::Debug for LdapClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapClient")
            .field("config", &self.inner.config)
            .finish()
    }
}

pub(crate) fn check(server: &str, step: &str, r: &ldap3::LdapResult) -> Result<()> {
    if r.rc == 0 {
        Ok(())
    } else {
        Err(Error::ldap(server, step, r))
    }
}

impl LdapClient {
    /// A client for `config`. Nothing is sent until the first operation.
    pub fn new(config: ClientConfig) -> Result<Self> {
        let base = match config.base_dn.as_deref() {
            Some(dn) => Some(Dn::parse(dn)?),
            None => None,
        };
        Ok(LdapClient {
            inner: Arc::new(Inner::new(config)?),
            roots: Arc::new(Mutex::new(None)),
            base,
            cache: Arc::new(std::sync::Mutex::new(HashMap::new())),
            subschema: Arc::new(std::sync::Mutex::new(None)),
        })
    }

    /// The configuration this client was made with.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// Connects (with failover) and binds now, rather than on first use.
    pub async fn connect(&self) -> Result<Counted<String>> {
        let mut stats = Stats::default();
        let ((), server) = self
            .inner
            .run("connect", 0, &mut stats, |_ldap| async { Ok(()) })
            .await?;
        // The no-op "run" counted a round trip it did not make.
        stats.round_trips -= 1;
        Ok(Counted {
            value: server,
            stats,
        })
    }

    /// Finds the configuration root: the configured base DN when it holds
    /// `cn=Devices` and the registry (else the root is searched below it),
    /// or the entry of class `dicomConfigurationRoot` in one of the root
    /// DSE's naming contexts, with its devices root and registry. A server
    /// without one is passed over for the next server of the list
    /// (H.1.4.1 note 2). Remembered for the client's lifetime.
    pub async fn locate(&self) -> Result<Counted<Layout>> {
        let mut stats = Stats::default();
        let roots = self.roots_with(&mut stats).await?;
        Ok(Counted {
            value: roots,
            stats,
        })
    }

    pub(crate) async fn roots_with(&self, stats: &mut Stats) -> Result<Layout> {
        let mut guard = self.roots.lock().await;
        if let Some(r) = guard.as_ref() {
            return Ok(r.clone());
        }
        let servers = self.inner.config.servers.len();
        let mut searched = Vec::new();
        let mut last = String::new();
        for attempt in 0..servers {
            match self.discover_here(stats).await {
                Ok(layout) => {
                    *guard = Some(layout.clone());
                    return Ok(layout);
                }
                Err(Error::NoConfigurationRoot {
                    server,
                    searched: s,
                }) => {
                    tracing::info!(server = %server, "no DICOM configuration root here");
                    searched.extend(s.into_iter().map(|b| format!("{server} {b}")));
                    last = server;
                    if attempt + 1 < servers {
                        self.inner.next_server(stats).await?;
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::NoConfigurationRoot {
            server: last,
            searched,
        })
    }

    /// Root discovery on the server connected now.
    async fn discover_here(&self, stats: &mut Stats) -> Result<Layout> {
        let (contexts, server) = match &self.base {
            Some(base) => {
                let layout = Layout::at(base.clone());
                let probe = |dn: Dn, class: &str| {
                    (
                        dn.to_string(),
                        Scope::Base,
                        format!("(objectClass={class})"),
                        vec!["1.1".to_string()],
                    )
                };
                let (found, server) = self
                    .inner
                    .search_many(
                        stats,
                        "verify the configured base DN",
                        vec![
                            probe(layout.devices_dn(), oc::DEVICES_ROOT),
                            probe(layout.registry_dn(), oc::UNIQUE_AE_TITLES_REGISTRY_ROOT),
                        ],
                    )
                    .await?;
                if found.len() == 2 && found.iter().all(|(e, r)| r.rc == 0 && !e.is_empty()) {
                    return Ok(layout);
                }
                tracing::info!(server = %server, "base DN {base} holds no cn=Devices: searching below it");
                (vec![base.to_string()], server)
            }
            None => {
                let (dse, _res, server) = self
                    .inner
                    .search(
                        stats,
                        "",
                        Scope::Base,
                        "(objectClass=*)",
                        &["namingContexts"],
                    )
                    .await?;
                let contexts: Vec<String> = dse
                    .first()
                    .map(|e| e.strings("namingContexts").map(str::to_string).collect())
                    .unwrap_or_default();
                (contexts, server)
            }
        };
        let filter = format!(
            "(|(objectClass={})(objectClass={})(objectClass={}))",
            oc::CONFIGURATION_ROOT,
            oc::DEVICES_ROOT,
            oc::UNIQUE_AE_TITLES_REGISTRY_ROOT
        );
        let requests = contexts
            .iter()
            .map(|c| {
                (
                    c.clone(),
                    Scope::Subtree,
                    filter.clone(),
                    vec!["objectClass".to_string()],
                )
            })
            .collect();
        let (results, server) = match self
            .inner
            .search_many(
                stats,
                "search naming contexts for dicomConfigurationRoot",
                requests,
            )
            .await
        {
            Ok(r) => r,
            // Nothing to search on this server.
            Err(_) if contexts.is_empty() => (Vec::new(), server),
            Err(e) => return Err(e),
        };
        let entries: Vec<LdapEntry> = results.into_iter().flat_map(|(e, _)| e).collect();
        // The model's layout names the two containers conventionally (H.1.4);
        // a root counts only when both are there under those names.
        for root in entries
            .iter()
            .filter(|e| e.has_object_class(oc::CONFIGURATION_ROOT))
        {
            let layout = Layout::at(root.dn.clone());
            let present = |class: &str, dn: Dn| {
                entries
                    .iter()
                    .any(|e| e.has_object_class(class) && e.dn.matches(&dn))
            };
            if present(oc::DEVICES_ROOT, layout.devices_dn())
                && present(oc::UNIQUE_AE_TITLES_REGISTRY_ROOT, layout.registry_dn())
            {
                return Ok(layout);
            }
        }
        Err(Error::NoConfigurationRoot {
            server,
            searched: contexts,
        })
    }

    /// Loads one device with all its connections, AEs and transfer
    /// capabilities in one subtree search (R.1.2.1, R.4). A device that is
    /// not there is [`DeviceLookup::NotConfigured`], not an error.
    pub async fn load_device(&self, name: &str) -> Result<Counted<DeviceLookup>> {
        let mut stats = Stats::default();
        let roots = self.roots_with(&mut stats).await?;
        let value = self.load_device_in(&mut stats, &roots, name).await?;
        Ok(Counted { value, stats })
    }

    /// Loads one device under a configuration root known from an earlier
    /// boot, without verifying the root first (one round trip less): a
    /// device found there proves the root, which the client then keeps as
    /// its own. [`DeviceLookup::NotConfigured`] here only means "not under
    /// this root": locate the root anew (a client without a remembered
    /// root) before taking the device for unconfigured.
    pub async fn load_device_at(&self, root: &Dn, name: &str) -> Result<Counted<DeviceLookup>> {
        let mut stats = Stats::default();
        let layout = Layout::at(root.clone());
        let value = self.load_device_in(&mut stats, &layout, name).await?;
        if matches!(value, DeviceLookup::Found(_)) {
            let mut roots = self.roots.lock().await;
            if roots.is_none() {
                *roots = Some(layout);
            }
        }
        Ok(Counted { value, stats })
    }

    pub(crate) async fn load_device_in(
        &self,
        stats: &mut Stats,
        roots: &Layout,
        name: &str,
    ) -> Result<DeviceLookup> {
        let ddn = roots.device_dn(name).to_string();
        let step = format!("load device {ddn}");
        let (mut entries, res, server) = self
            .inner
            .search_paged(stats, &ddn, "(objectClass=*)", &load_attributes_str())
            .await?;
        match res.rc {
            0 => {}
            32 => return Ok(DeviceLookup::NotConfigured { name: name.into() }),
            rc if is_limit_code(rc) => {
                tracing::info!(server = %server, "{step}: the server limited the read ({}); reading level by level", crate::error::rc_name(rc));
                match self.load_levels(stats, &ddn, &step).await? {
                    Some(all) => entries = all,
                    None => return Ok(DeviceLookup::NotConfigured { name: name.into() }),
                }
            }
            _ => return Err(Error::ldap(&server, step, &res)),
        }
        if entries.is_empty() {
            return Ok(DeviceLookup::NotConfigured { name: name.into() });
        }
        self.read_extensions(stats, &step, &mut entries).await?;
        drop_secrets(&mut entries);
        Ok(DeviceLookup::Found(Device::from_entries(&entries)?))
    }

    /// Entries of vendor extension classes (kept, H.1.1) read again for the
    /// attributes those classes allow on this server: one round trip for
    /// the server's schema (once per client) and one for the entries,
    /// pipelined. Nothing more when the device has no extension.
    async fn read_extensions(
        &self,
        stats: &mut Stats,
        step: &str,
        entries: &mut [LdapEntry],
    ) -> Result<()> {
        let subentry = entries
            .iter()
            .find_map(|e| e.first(SUBSCHEMA_SUBENTRY).map(str::to_string));
        for e in entries.iter_mut() {
            e.remove(SUBSCHEMA_SUBENTRY);
        }
        let extended: Vec<usize> = (0..entries.len())
            .filter(|&i| entries[i].object_classes().any(|c| !is_annex_h_class(c)))
            .collect();
        if extended.is_empty() {
            return Ok(());
        }
        let schema = self.subschema(stats, step, subentry.as_deref()).await?;
        let asked = load_attributes();
        let mut requests = Vec::new();
        let mut targets = Vec::new();
        for i in extended {
            let e = &entries[i];
            let attrs: Vec<String> = if schema.is_empty() {
                // No schema to name them from: all user attributes, the
                // secrets among them dropped on receipt below.
                tracing::warn!(dn = %e.dn, "{step}: the server's schema is not readable; asking for all user attributes of this extension entry");
                vec!["*".to_string()]
            } else {
                schema
                    .wanted(e.object_classes().filter(|c| !is_annex_h_class(c)))
                    .into_iter()
                    .filter(|a| {
                        e.get(a).is_none() && !asked.iter().any(|k| k.eq_ignore_ascii_case(a))
                    })
                    .collect()
            };
            if attrs.is_empty() {
                continue;
            }
            requests.push((
                e.dn.to_string(),
                Scope::Base,
                "(objectClass=*)".to_string(),
                attrs,
            ));
            targets.push(i);
        }
        let (results, server) = self.inner.search_many(stats, step, requests).await?;
        for ((found, res), i) in results.into_iter().zip(targets) {
            check(&server, step, &res)?;
            let entry = &mut entries[i];
            for extra in found.into_iter().flat_map(|f| f.attributes) {
                if entry.get(&extra.name).is_none() {
                    entry.attributes.push(extra);
                }
            }
        }
        Ok(())
    }

    /// The server's schema, read from `subentry` (else from the one the root
    /// DSE names) once per client. Empty when the server does not let this
    /// bind read it.
    async fn subschema(
        &self,
        stats: &mut Stats,
        step: &str,
        subentry: Option<&str>,
    ) -> Result<Arc<Subschema>> {
        if let Some(known) = self.lock_subschema().clone() {
            return Ok(known);
        }
        let subentry = match subentry {
            Some(dn) => Some(dn.to_string()),
            None => {
                let (root, res, _) = self
                    .inner
                    .search(
                        stats,
                        "",
                        Scope::Base,
                        "(objectClass=*)",
                        &[SUBSCHEMA_SUBENTRY],
                    )
                    .await?;
                if res.rc == 0 {
                    root.iter()
                        .find_map(|e| e.first(SUBSCHEMA_SUBENTRY).map(str::to_string))
                } else {
                    None
                }
            }
        };
        let schema = match subentry {
            Some(dn) => {
                let (found, res, server) = self
                    .inner
                    .search(
                        stats,
                        &dn,
                        Scope::Base,
                        "(objectClass=subschema)",
                        &["objectClasses", "attributeTypes"],
                    )
                    .await?;
                if res.rc != 0 {
                    tracing::warn!(server = %server, "{step}: schema {dn} not readable: {}", crate::error::result_text(res.rc, &res.text));
                }
                found
                    .first()
                    .map(|e| {
                        Subschema::from_values(
                            e.strings("objectClasses"),
                            e.strings("attributeTypes"),
                        )
                    })
                    .unwrap_or_default()
            }
            None => Subschema::default(),
        };
        let schema = Arc::new(schema);
        *self.lock_subschema() = Some(schema.clone());
        Ok(schema)
    }

    fn lock_subschema(&self) -> std::sync::MutexGuard<'_, Option<Arc<Subschema>>> {
        // A poisoned lock only means another task panicked while holding a
        // cache value: the value is still a whole Arc.
        self.subschema
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The device read level by level, for servers whose size limit is
    /// below the device's size: the device entry and its children in one
    /// round trip, then the children of every AE (transfer capabilities)
    /// pipelined; a level still over the limit is split by name.
    /// `None` when the device is not there.
    async fn load_levels(
        &self,
        stats: &mut Stats,
        ddn: &str,
        step: &str,
    ) -> Result<Option<Vec<LdapEntry>>> {
        let all = |base: &str, scope: Scope| {
            (
                base.to_string(),
                scope,
                "(objectClass=*)".to_string(),
                load_attributes(),
            )
        };
        let (first, server) = self
            .inner
            .search_many(
                stats,
                step,
                vec![all(ddn, Scope::Base), all(ddn, Scope::OneLevel)],
            )
            .await?;
        let mut first = first.into_iter();
        let (Some((device, device_res)), Some((children, children_res))) =
            (first.next(), first.next())
        else {
            return Err(Error::Config("pipelined read lost a result".into()));
        };
        if device_res.rc == 32 {
            return Ok(None);
        }
        crate::client::check(&server, step, &device_res)?;
        let mut out = device;
        let children = if is_limit_code(children_res.rc) {
            self.read_rest(stats, step, vec![(ddn.to_string(), children)])
                .await?
        } else {
            crate::client::check(&server, step, &children_res)?;
            children
        };
        let ae_dns: Vec<String> = children
            .iter()
            .filter(|e| e.has_object_class(oc::NETWORK_AE))
            .map(|e| e.dn.to_string())
            .collect();
        out.extend(children);
        let requests = ae_dns.iter().map(|d| all(d, Scope::OneLevel)).collect();
        let (levels, server) = self.inner.search_many(stats, step, requests).await?;
        let mut cut_short = Vec::new();
        for ((entries, res), dn) in levels.into_iter().zip(&ae_dns) {
            if is_limit_code(res.rc) {
                cut_short.push((dn.clone(), entries));
            } else {
                crate::client::check(&server, step, &res)?;
                out.extend(entries);
            }
        }
        if !cut_short.is_empty() {
            out.extend(self.read_rest(stats, step, cut_short).await?);
        }
        Ok(Some(out))
    }

    /// The rest of levels the server cut short at its size limit, given
    /// the entries it sent: each level asked again for the children it
    /// has not sent yet (excluded by their RDNs), all levels pipelined,
    /// until every level is complete; about ⌈level size ÷ limit⌉ round
    /// trips. A level that makes no progress (a server that sends nothing
    /// before its limit error) is read in parts by name instead.
    ///
    /// An RDN value excludes every sibling holding that value, not only the
    /// entry it names. Sibling RDNs are distinct, and in the Annex H tree a
    /// child's `cn` is its RDN alone, so nothing is lost there; a child that
    /// shares a second `cn` value with a sibling's RDN would be. As a guard,
    /// a level whose entries carry several values of their RDN attribute is
    /// read in parts by name instead.
    async fn read_rest(
        &self,
        stats: &mut Stats,
        step: &str,
        levels: Vec<(String, Vec<LdapEntry>)>,
    ) -> Result<Vec<LdapEntry>> {
        let attrs = load_attributes();
        let mut out: Vec<LdapEntry> = Vec::new();
        let mut todo: Vec<(String, Vec<String>)> = Vec::new();
        let mut by_name: Vec<String> = Vec::new();
        let add = |base: String,
                   mut excluded: Vec<String>,
                   entries: Vec<LdapEntry>,
                   out: &mut Vec<LdapEntry>,
                   todo: &mut Vec<(String, Vec<String>)>,
                   by_name: &mut Vec<String>| {
            let terms: Option<Vec<String>> = entries.iter().map(rdn_term).collect();
            let ambiguous = entries.iter().any(has_shared_rdn_values);
            out.extend(entries);
            match terms {
                Some(terms) if !terms.is_empty() && !ambiguous => {
                    excluded.extend(terms);
                    todo.push((base, excluded));
                }
                _ => by_name.push(base),
            }
        };
        for (base, entries) in levels {
            add(base, Vec::new(), entries, &mut out, &mut todo, &mut by_name);
        }
        while !todo.is_empty() {
            let requests = todo
                .iter()
                .map(|(base, excluded)| {
                    (
                        base.clone(),
                        Scope::OneLevel,
                        format!("(!(|{}))", excluded.concat()),
                        attrs.clone(),
                    )
                })
                .collect();
            let (results, server) = self.inner.search_many(stats, step, requests).await?;
            let mut next = Vec::new();
            for ((entries, res), (base, excluded)) in
                results.into_iter().zip(std::mem::take(&mut todo))
            {
                if is_limit_code(res.rc) {
                    add(base, excluded, entries, &mut out, &mut next, &mut by_name);
                } else {
                    check(&server, step, &res)?;
                    out.extend(entries);
                }
            }
            todo = next;
        }
        if !by_name.is_empty() {
            out.extend(self.read_split(stats, step, by_name).await?);
        }
        let mut seen = HashSet::new();
        out.retain(|e| seen.insert(e.dn.to_string()));
        Ok(out)
    }

    /// The children of each base, in disjoint parts by their names' last
    /// characters (one more character for each part still over the
    /// server's limit), each round of parts pipelined.
    async fn read_split(
        &self,
        stats: &mut Stats,
        step: &str,
        bases: Vec<String>,
    ) -> Result<Vec<LdapEntry>> {
        let attrs = load_attributes();
        let mut todo: Vec<Part> = bases
            .into_iter()
            .flat_map(|base| {
                Part {
                    base,
                    suffix: String::new(),
                    rest: false,
                }
                .split()
            })
            .collect();
        let mut out: Vec<LdapEntry> = Vec::new();
        let mut seen = HashSet::new();
        for depth in 1..=MAX_SPLIT_DEPTH {
            let requests = todo
                .iter()
                .map(|p| (p.base.clone(), Scope::OneLevel, p.filter(), attrs.clone()))
                .collect();
            let (results, server) = self.inner.search_many(stats, step, requests).await?;
            let mut next = Vec::new();
            for ((entries, res), part) in results.into_iter().zip(&todo) {
                if is_limit_code(res.rc) && !part.rest && depth < MAX_SPLIT_DEPTH {
                    next.extend(part.split());
                } else {
                    // A part that cannot be split further: say so by name.
                    crate::client::check(&server, step, &res)?;
                    out.extend(
                        entries
                            .into_iter()
                            .filter(|e| seen.insert(e.dn.to_string())),
                    );
                }
            }
            if next.is_empty() {
                break;
            }
            todo = next;
        }
        Ok(out)
    }

    /// R.3: resolves an AE title to its device, connections and installed
    /// state, in two round trips. `None` when no AE has that title. Several
    /// AEs with the title are [`Error::DuplicateAeTitle`], never the first.
    /// The answer may be offline or not accept associations: use
    /// [`ResolvedAe::address`], which then gives no address.
    pub async fn resolve_ae(&self, ae_title: &str) -> Result<Counted<Option<ResolvedAe>>> {
        let mut stats = Stats::default();
        let title = AeTitle::new(ae_title)?;
        let roots = self.roots_with(&mut stats).await?;
        let holders = self
            .title_holders_in(&mut stats, &roots, std::slice::from_ref(&title))
            .await?;
        let mut device_dns: Vec<Dn> = holders.into_iter().map(|(_, d)| d).collect();
        match device_dns.len() {
            0 => return Ok(Counted { value: None, stats }),
            1 => {}
            _ => {
                return Err(Error::DuplicateAeTitle {
                    title: title.to_string(),
                    devices: device_dns.iter().map(ToString::to_string).collect(),
                });
            }
        }
        let (found, skipped) = self
            .device_summaries(&mut stats, vec![device_dns.remove(0)], None)
            .await?;
        if let Some(why) = skipped.into_iter().next() {
            return Err(Error::Invalid(why));
        }
        let mut matching: Vec<ResolvedAe> =
            found.into_iter().filter(|r| r.ae_title == title).collect();
        if matching.len() > 1 {
            return Err(Error::DuplicateAeTitle {
                title: title.to_string(),
                devices: matching.iter().map(|r| r.device_name.clone()).collect(),
            });
        }
        Ok(Counted {
            value: matching.pop(),
            stats,
        })
    }

    /// The AEs in the Devices tree holding any of `titles`: `(title, device DN)`
    /// per AE entry (one search). Titles compare case-exact, as AE titles do.
    pub(crate) async fn title_holders_in(
        &self,
        stats: &mut Stats,
        roots: &Layout,
        titles: &[AeTitle],
    ) -> Result<Vec<(AeTitle, Dn)>> {
        if titles.is_empty() {
            return Ok(Vec::new());
        }
        let any: String = titles
            .iter()
            .map(|t| format!("({}={})", attr::AE_TITLE, esc(t.as_str())))
            .collect();
        let filter = format!("(&(objectClass={})(|{any}))", oc::NETWORK_AE);
        self.ae_titles_in_tree(stats, roots, &filter)
            .await
            .map(|all| {
                all.into_iter()
                    .filter(|(t, _)| titles.contains(t))
                    .collect()
            })
    }

    /// `(title, device DN)` of every AE entry matching `filter` in the Devices tree.
    async fn ae_titles_in_tree(
        &self,
        stats: &mut Stats,
        roots: &Layout,
        filter: &str,
    ) -> Result<Vec<(AeTitle, Dn)>> {
        let (aes, res, server) = self
            .inner
            .search(
                stats,
                &roots.devices_dn().to_string(),
                Scope::Subtree,
                filter,
                &[attr::AE_TITLE],
            )
            .await?;
        check(&server, "find AEs by title", &res)?;
        Ok(aes
            .iter()
            .filter_map(|e| {
                let title = AeTitle::new(e.first(attr::AE_TITLE)?).ok()?;
                Some((title, e.dn.parent()?))
            })
            .collect())
    }

    /// Reads, pipelined in one round trip, the device entry, connections and
    /// AEs of each device DN (transfer capabilities are not read). A device
    /// that does not read as a device is skipped, with the reason in the
    /// second list (R.3.1: one malformed device must not fail the search).
    async fn device_summaries(
        &self,
        stats: &mut Stats,
        device_dns: Vec<Dn>,
        cluster: Option<&str>,
    ) -> Result<(Vec<ResolvedAe>, Vec<String>)> {
        let ae_filter = match cluster {
            Some(c) => format!(
                "(&(objectClass={})({}={}))",
                oc::NETWORK_AE,
                attr::APPLICATION_CLUSTER,
                esc(c)
            ),
            None => format!("(objectClass={})", oc::NETWORK_AE),
        };
        let filter = format!(
            "(|(objectClass={})(objectClass={}){ae_filter})",
            oc::DEVICE,
            oc::NETWORK_CONNECTION
        );
        let attrs: Vec<String> = [
            attr::OBJECT_CLASS,
            attr::DEVICE_NAME,
            attr::PRIMARY_DEVICE_TYPE,
            attr::INSTALLED,
            attr::CN,
            attr::HOSTNAME,
            attr::PORT,
            attr::TLS_CIPHER_SUITE,
            attr::AE_TITLE,
            attr::NETWORK_CONNECTION_REFERENCE,
            attr::APPLICATION_CLUSTER,
            attr::ASSOCIATION_ACCEPTOR,
            attr::ASSOCIATION_INITIATOR,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let requests = device_dns
            .iter()
            .map(|d| (d.to_string(), Scope::Subtree, filter.clone(), attrs.clone()))
            .collect();
        let (results, _server) = self
            .inner
            .search_many(stats, "read devices", requests)
            .await?;
        let mut out = Vec::new();
        let mut skipped = Vec::new();
        for ((entries, res), dn) in results.into_iter().zip(&device_dns) {
            if res.rc != 0 || entries.is_empty() {
                // Deleted between the two steps: skip it.
                continue;
            }
            match Device::from_entries(&entries) {
                Ok(d) => out.extend(ResolvedAe::from_device(&d)),
                Err(e) => {
                    tracing::warn!("skipping malformed device {dn}: {e}");
                    skipped.push(format!("device {dn} skipped: {e}"));
                }
            }
        }
        Ok((out, skipped))
    }

    /// R.3.1: the AEs of devices of a primary device type, optionally only
    /// those of an application cluster and only installed ones. See
    /// [`LdapClient::find_aes`] for the skipped devices and the hint.
    pub async fn find_aes_by_device_type(
        &self,
        query: &DeviceTypeQuery,
    ) -> Result<Counted<Vec<ResolvedAe>>> {
        let found = self.find_aes(query).await?;
        Ok(Counted {
            value: found.value.aes,
            stats: found.stats,
        })
    }

    /// R.3.1: the AEs of devices of a primary device type (matched without
    /// regard to case), optionally of one application cluster and only
    /// installed ones; malformed devices are skipped and named. Two round
    /// trips however many devices match: one search for the devices, then
    /// their reads pipelined on the one connection.
    pub async fn find_aes(&self, query: &DeviceTypeQuery) -> Result<Counted<FoundAes>> {
        let mut stats = Stats::default();
        let roots = self.roots_with(&mut stats).await?;
        // The attribute matches case-exact on the server; the defined terms
        // are upper case but sites and users vary, so compare here.
        let filter = format!("(objectClass={})", oc::DEVICE);
        let (devices, res, server) = self
            .inner
            .search(
                &mut stats,
                &roots.devices_dn().to_string(),
                Scope::Subtree,
                &filter,
                &[attr::PRIMARY_DEVICE_TYPE, attr::INSTALLED],
            )
            .await?;
        check(&server, "find devices by type", &res)?;
        let mut on_site: Vec<String> = devices
            .iter()
            .flat_map(|e| e.strings(attr::PRIMARY_DEVICE_TYPE).map(str::to_string))
            .collect();
        on_site.sort();
        on_site.dedup();
        let wanted = query.device_type.trim();
        let dns: Vec<Dn> = devices
            .into_iter()
            .filter(|e| {
                e.strings(attr::PRIMARY_DEVICE_TYPE)
                    .any(|t| t.eq_ignore_ascii_case(wanted))
            })
            .filter(|e| !query.installed_only || e.first(attr::INSTALLED) != Some("FALSE"))
            .map(|e| e.dn)
            .collect();
        let (mut aes, skipped) = if dns.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            self.device_summaries(&mut stats, dns, query.application_cluster.as_deref())
                .await?
        };
        if query.installed_only {
            retain_installed(&mut aes);
        }
        Ok(Counted {
            value: FoundAes {
                aes,
                skipped,
                device_types_on_site: on_site,
            },
            stats,
        })
    }

    /// R.1: the AEs with a transfer capability for a SOP class (in a role
    /// when asked). Three round trips: the transfer capabilities, the AEs'
    /// titles, the devices.
    pub async fn find_aes_by_sop_class(&self, query: &SopClassQuery) -> Result<Counted<FoundAes>> {
        let mut stats = Stats::default();
        let roots = self.roots_with(&mut stats).await?;
        let role = match query.role.as_deref().map(str::to_ascii_uppercase) {
            None => String::new(),
            Some(r) if r == "SCP" || r == "SCU" => format!("({}={r})", attr::TRANSFER_ROLE),
            Some(r) => {
                return Err(Error::Invalid(format!(
                    "transfer role \"{}\": expected SCP or SCU",
                    r.escape_debug()
                )));
            }
        };
        let filter = format!(
            "(&(objectClass={})({}={}){role})",
            oc::TRANSFER_CAPABILITY,
            attr::SOP_CLASS,
            esc(query.sop_class.trim())
        );
        let (tcs, res, server) = self
            .inner
            .search(
                &mut stats,
                &roots.devices_dn().to_string(),
                Scope::Subtree,
                &filter,
                &["1.1"],
            )
            .await?;
        check(&server, "find transfer capabilities by SOP class", &res)?;
        let mut ae_dns: Vec<Dn> = tcs.iter().filter_map(|e| e.dn.parent()).collect();
        ae_dns.sort_by_key(Dn::normalized);
        ae_dns.dedup_by(|a, b| a.matches(b));
        if ae_dns.is_empty() {
            return Ok(Counted {
                value: FoundAes::default(),
                stats,
            });
        }
        let requests = ae_dns
            .iter()
            .map(|d| {
                (
                    d.to_string(),
                    Scope::Base,
                    format!("(objectClass={})", oc::NETWORK_AE),
                    vec![attr::AE_TITLE.to_string()],
                )
            })
            .collect();
        let (results, _) = self
            .inner
            .search_many(&mut stats, "read AEs", requests)
            .await?;
        let mut wanted: Vec<(Dn, AeTitle)> = Vec::new();
        for (entries, _) in results {
            for e in entries {
                if let (Some(device), Some(Ok(title))) =
                    (e.dn.parent(), e.first(attr::AE_TITLE).map(AeTitle::new))
                {
                    wanted.push((device, title));
                }
            }
        }
        let mut device_dns: Vec<Dn> = wanted.iter().map(|(d, _)| d.clone()).collect();
        device_dns.sort_by_key(Dn::normalized);
        device_dns.dedup_by(|a, b| a.matches(b));
        let (aes, skipped) = self.device_summaries(&mut stats, device_dns, None).await?;
        let mut aes: Vec<ResolvedAe> = aes
            .into_iter()
            .filter(|a| wanted.iter().any(|(_, t)| *t == a.ae_title))
            .collect();
        if query.installed_only {
            retain_installed(&mut aes);
        }
        Ok(Counted {
            value: FoundAes {
                aes,
                skipped,
                device_types_on_site: Vec::new(),
            },
            stats,
        })
    }

    /// [`LdapClient::resolve_ae`] through the client's cache: answers are
    /// kept for `cache_ttl`, "not found" only for `negative_cache_ttl`.
    pub async fn resolve_ae_cached(&self, ae_title: &str) -> Result<Counted<Option<ResolvedAe>>> {
        let now = Instant::now();
        let cfg = &self.inner.config;
        if let Ok(map) = self.cache.lock()
            && let Some((at, v)) = map.get(ae_title)
        {
            let ttl = if v.is_some() {
                cfg.cache_ttl
            } else {
                cfg.negative_cache_ttl
            };
            if now.duration_since(*at) < ttl {
                return Ok(Counted {
                    value: v.clone(),
                    stats: Stats::default(),
                });
            }
        }
        let r = self.resolve_ae(ae_title).await?;
        if let Ok(mut map) = self.cache.lock() {
            map.insert(ae_title.to_string(), (Instant::now(), r.value.clone()));
        }
        Ok(r)
    }

    /// Forgets every cached resolution.
    pub fn clear_cache(&self) {
        if let Ok(mut map) = self.cache.lock() {
            map.clear();
        }
    }

    pub(crate) fn forget_cached(&self, ae_title: &str) {
        if let Ok(mut map) = self.cache.lock() {
            map.remove(ae_title);
        }
    }

    /// Proposes one AE title: adds its registry entry (R.1.2.2 step 6). A
    /// title an AE in the Devices tree already holds is [`Registration::Taken`]
    /// even when the registry lacks it (pre-configured trees often do).
    pub async fn register_title(&self, title: &str) -> Result<Counted<Registration>> {
        let mut stats = Stats::default();
        let title = AeTitle::new(title)?;
        let roots = self.roots_with(&mut stats).await?;
        let held = self
            .title_holders_in(&mut stats, &roots, std::slice::from_ref(&title))
            .await?;
        let value = if held.is_empty() {
            self.register_in(&mut stats, &roots, &title).await?
        } else {
            Registration::Taken
        };
        Ok(Counted { value, stats })
    }

    /// Proposes `title` for an AE of the device at `own_device`: taken when an
    /// AE of another device holds it, else its registry entry is added.
    pub(crate) async fn register_for(
        &self,
        stats: &mut Stats,
        roots: &Layout,
        title: &AeTitle,
        own_device: &Dn,
    ) -> Result<Registration> {
        let held = self
            .title_holders_in(stats, roots, std::slice::from_ref(title))
            .await?;
        if held.iter().any(|(_, d)| !d.matches(own_device)) {
            return Ok(Registration::Taken);
        }
        self.register_in(stats, roots, title).await
    }

    /// H.1.6: the names of the devices whose `dicomDeviceSerialNumber` is
    /// `serial` (one search); how a device renamed by the site finds its
    /// own entry again.
    pub async fn find_devices_by_serial(&self, serial: &str) -> Result<Counted<Vec<String>>> {
        let mut stats = Stats::default();
        let roots = self.roots_with(&mut stats).await?;
        let filter = format!(
            "(&(objectClass={})({}={}))",
            oc::DEVICE,
            attr::DEVICE_SERIAL_NUMBER,
            esc(serial)
        );
        let value = self
            .attribute_values(
                &mut stats,
                &roots.devices_dn().to_string(),
                Scope::Subtree,
                &filter,
                attr::DEVICE_NAME,
                "find devices by serial number",
            )
            .await?;
        Ok(Counted { value, stats })
    }

    /// Titles AEs in the Devices tree use that have no registry entry:
    /// `(title, device DN)`, sorted by title (two searches).
    pub async fn unregistered_titles(&self) -> Result<Counted<Vec<(String, String)>>> {
        let mut stats = Stats::default();
        let roots = self.roots_with(&mut stats).await?;
        let value = self.unregistered_in(&mut stats, &roots).await?;
        Ok(Counted { value, stats })
    }

    async fn unregistered_in(
        &self,
        stats: &mut Stats,
        roots: &Layout,
    ) -> Result<Vec<(String, String)>> {
        let registered: HashSet<String> = self
            .titles_in_use_in(stats, roots, "")
            .await?
            .into_iter()
            .collect();
        let filter = format!("(objectClass={})", oc::NETWORK_AE);
        let mut missing: Vec<(String, String)> = self
            .ae_titles_in_tree(stats, roots, &filter)
            .await?
            .into_iter()
            .filter(|(t, _)| !registered.contains(t.as_str()))
            .map(|(t, d)| (t.to_string(), d.to_string()))
            .collect();
        missing.sort();
        Ok(missing)
    }

    /// `annexr registry sync`: adds a registry entry for every title an AE
    /// uses without one. With `apply` false nothing is written (dry run).
    pub async fn sync_registry(&self, apply: bool) -> Result<Counted<Vec<SyncedTitle>>> {
        let mut stats = Stats::default();
        let roots = self.roots_with(&mut stats).await?;
        let missing = self.unregistered_in(&mut stats, &roots).await?;
        let mut value = Vec::new();
        for (title, device) in missing {
            let outcome = if apply {
                let t = AeTitle::new(&title)?;
                Some(self.register_in(&mut stats, &roots, &t).await?)
            } else {
                None
            };
            value.push(SyncedTitle {
                title,
                device,
                registration: outcome,
            });
        }
        Ok(Counted { value, stats })
    }

    pub(crate) async fn register_in(
        &self,
        stats: &mut Stats,
        roots: &Layout,
        title: &AeTitle,
    ) -> Result<Registration> {
        let e = UniqueAeTitle::new(title.clone()).to_entry(&roots.registry_dn());
        let (res, server) = self.inner.write(stats, &Write::Add(e)).await?;
        match res.rc {
            0 => Ok(Registration::Registered),
            68 => Ok(Registration::Taken),
            rc if is_refusal_code(rc) => Ok(Registration::Refused { rc, text: res.text }),
            _ => Err(Error::ldap(
                &server,
                format!("register AE title {title}"),
                &res,
            )),
        }
    }

    /// Removes a title from the registry. `false` when it was not registered.
    pub async fn unregister_title(&self, title: &str) -> Result<Counted<bool>> {
        let mut stats = Stats::default();
        let title = AeTitle::new(title)?;
        let roots = self.roots_with(&mut stats).await?;
        let value = self.unregister_in(&mut stats, &roots, &title).await?;
        Ok(Counted { value, stats })
    }

    pub(crate) async fn unregister_in(
        &self,
        stats: &mut Stats,
        roots: &Layout,
        title: &AeTitle,
    ) -> Result<bool> {
        let dn = roots.unique_ae_title_dn(title).to_string();
        let (res, server) = self.inner.write(stats, &Write::Delete(dn)).await?;
        match res.rc {
            0 => Ok(true),
            32 => Ok(false),
            _ => Err(Error::ldap(
                &server,
                format!("unregister AE title {title}"),
                &res,
            )),
        }
    }

    /// Assisted manual allocation: which of the proposed titles are free:
    /// neither registered nor used by an AE in the Devices tree (two searches). Returns `(title, free)` in the given order.
    pub async fn check_titles(&self, titles: &[&str]) -> Result<Counted<Vec<(String, bool)>>> {
        let mut stats = Stats::default();
        let mut clean = Vec::new();
        for t in titles {
            clean.push(AeTitle::new(t)?.to_string());
        }
        if clean.is_empty() {
            return Ok(Counted {
                value: Vec::new(),
                stats,
            });
        }
        let roots = self.roots_with(&mut stats).await?;
        let filter: String = clean
            .iter()
            .map(|t| format!("({}={})", attr::AE_TITLE, esc(t)))
            .collect();
        let registered = self
            .attribute_values(
                &mut stats,
                &roots.registry_dn().to_string(),
                Scope::OneLevel,
                &format!("(|{filter})"),
                attr::AE_TITLE,
                "check AE titles",
            )
            .await?;
        let mut taken: HashSet<&str> = registered.iter().map(String::as_str).collect();
        // A title an AE holds is taken even without a registry entry.
        let asked: Vec<AeTitle> = clean.iter().filter_map(|t| AeTitle::new(t).ok()).collect();
        let held = self.title_holders_in(&mut stats, &roots, &asked).await?;
        let held: Vec<String> = held.into_iter().map(|(t, _)| t.to_string()).collect();
        taken.extend(held.iter().map(String::as_str));
        let value = clean
            .into_iter()
            .map(|t| {
                let free = !taken.contains(t.as_str());
                (t, free)
            })
            .collect();
        Ok(Counted { value, stats })
    }

    /// The registered titles that start with `prefix` (all when empty), sorted.
    pub async fn titles_in_use(&self, prefix: &str) -> Result<Counted<Vec<String>>> {
        let mut stats = Stats::default();
        let roots = self.roots_with(&mut stats).await?;
        let value = self.titles_in_use_in(&mut stats, &roots, prefix).await?;
        Ok(Counted { value, stats })
    }

    pub(crate) async fn titles_in_use_in(
        &self,
        stats: &mut Stats,
        roots: &Layout,
        prefix: &str,
    ) -> Result<Vec<String>> {
        let filter = if prefix.is_empty() {
            format!("(objectClass={})", oc::UNIQUE_AE_TITLE)
        } else {
            format!("({}={}*)", attr::AE_TITLE, esc(prefix))
        };
        self.attribute_values(
            stats,
            &roots.registry_dn().to_string(),
            Scope::OneLevel,
            &filter,
            attr::AE_TITLE,
            "list AE titles",
        )
        .await
    }

    /// One search that asks for one attribute: its first value in each
    /// entry, sorted. `step` names the search in errors.
    async fn attribute_values(
        &self,
        stats: &mut Stats,
        base: &str,
        scope: Scope,
        filter: &str,
        attribute: &str,
        step: &str,
    ) -> Result<Vec<String>> {
        let (entries, res, server) = self
            .inner
            .search(stats, base, scope, filter, &[attribute])
            .await?;
        check(&server, step, &res)?;
        let mut values: Vec<String> = entries
            .iter()
            .filter_map(|e| e.first(attribute).map(str::to_string))
            .collect();
        values.sort();
        Ok(values)
    }

    /// Registers the first free title the allocator proposes (fully
    /// automatic allocation, R.1). Each "taken" answer moves to the next
    /// candidate.
    pub async fn allocate_title(&self, allocator: &mut Allocator) -> Result<Counted<Allocation>> {
        let mut stats = Stats::default();
        let roots = self.roots_with(&mut stats).await?;
        let value = self.allocate_in(&mut stats, &roots, allocator).await?;
        Ok(Counted { value, stats })
    }

    pub(crate) async fn allocate_in(
        &self,
        stats: &mut Stats,
        roots: &Layout,
        allocator: &mut Allocator,
    ) -> Result<Allocation> {
        let mut attempts = 0;
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::from_os_rng();
        while let Some(candidate) = allocator.next_candidate(&mut rng) {
            attempts += 1;
            let held = self
                .title_holders_in(stats, roots, std::slice::from_ref(&candidate))
                .await?;
            let answer = if held.is_empty() {
                self.register_in(stats, roots, &candidate).await?
            } else {
                Registration::Taken
            };
            match answer {
                Registration::Registered => {
                    return Ok(Allocation {
                        title: candidate,
                        attempts,
                    });
                }
                Registration::Taken => allocator.taken(&candidate),
                Registration::Refused { rc, text } => {
                    return Err(Error::Ldap {
                        server: self.inner.server().await,
                        step: format!("register AE title {candidate}"),
                        rc,
                        text,
                    });
                }
            }
        }
        Err(Error::TitlesExhausted {
            server: self.inner.server().await,
            tried: attempts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(installed: bool) -> ResolvedAe {
        ResolvedAe {
            ae_title: AeTitle::new("ARCHIVE").unwrap(),
            device_name: "pacs".into(),
            device_types: vec!["ARCHIVE".into()],
            installed,
            application_clusters: vec!["RAD".into()],
            acceptor: true,
            initiator: false,
            connections: vec![Endpoint {
                name: "dicom".into(),
                hostname: "pacs.example".into(),
                port: Some(104),
                tls: true,
                installed,
            }],
        }
    }

    #[test]
    fn a_callable_ae_serializes_with_its_address() {
        let value = serde_json::to_value(archive(true)).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "ae_title": "ARCHIVE",
                "device_name": "pacs",
                "device_types": ["ARCHIVE"],
                "installed": true,
                "acceptor": true,
                "initiator": false,
                "application_clusters": ["RAD"],
                "host": "pacs.example",
                "port": 104,
                "tls": true,
                "not_callable": null,
                "connections": [{
                    "name": "dicom",
                    "hostname": "pacs.example",
                    "port": 104,
                    "tls": true,
                    "installed": true,
                }],
            })
        );
    }

    #[test]
    fn an_offline_ae_serializes_without_an_address_and_says_why() {
        let value = serde_json::to_value(archive(false)).unwrap();
        assert_eq!(value["host"], serde_json::Value::Null);
        assert_eq!(value["port"], serde_json::Value::Null);
        assert_eq!(value["tls"], serde_json::Value::Null);
        assert_eq!(
            value["not_callable"],
            "ARCHIVE is not installed (dicomInstalled FALSE)"
        );
        // The connection itself is still listed, marked not installed.
        assert_eq!(value["connections"][0]["installed"], false);
        assert_eq!(value["connections"][0]["port"], 104);
    }
}
