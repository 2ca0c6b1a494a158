//! Live configuration (R.2, H.1.6): after startup, follow this device's
//! entries and its peers' in the directory, and turn what changed into
//! events a device acts on.
//!
//! [`Watch`] rests on [`annexr_ldap::LdapClient::watch`] (RFC 4533
//! refreshAndPersist where the server offers it, polling otherwise). Each
//! time a followed device is reloaded it is compared with the last known
//! version:
//!
//! - this device: [`WatchEvent::DeviceChanged`] with the model's diff (the
//!   same one the startup applies), [`WatchEvent::TitleChanged`] for a
//!   renamed AE, [`WatchEvent::Offline`]/[`WatchEvent::Online`]; the store's
//!   last configuration is updated (the site decides: what the directory
//!   now says is what the device runs with);
//! - a peer AE: [`WatchEvent::PeerMoved`], [`WatchEvent::Offline`]/
//!   [`WatchEvent::Online`], [`WatchEvent::PeerRemoved`];
//! - the connection: [`WatchEvent::Lost`] and [`WatchEvent::Resumed`].
//!
//! Installed state follows the one inheritance rule of the family: a device
//! with `dicomInstalled` FALSE has all its AEs and connections offline; an
//! AE or connection without the attribute inherits the device's value.
//! The client's resolver cache forgets every title a change touched, so a
//! later [`annexr_ldap::LdapClient::resolve_ae_cached`] never serves stale data.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::Arc;

use annexr_ldap::{
    DeviceTypeQuery, DirectoryWatch, LdapClient, ResolvedAe, WatchEvent as DirEvent,
};
use annexr_model::Change;
use annexr_model::{Device, Layout};
use serde::Serialize;

use crate::sequence::{Startup, StartupOutcome};
use crate::store::Store;
pub use annexr_ldap::{Mechanism, WatchMode, WatchOptions};

/// Where a peer AE can be called.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PeerAddress {
    /// `dicomHostname`.
    pub hostname: String,
    /// `dicomPort`.
    pub port: u16,
    /// The connection uses TLS.
    pub tls: bool,
}

impl fmt::Display for PeerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.hostname, self.port)?;
        if self.tls {
            f.write_str(" (TLS)")?;
        }
        Ok(())
    }
}

fn address_of(ae: &ResolvedAe) -> Option<PeerAddress> {
    ae.address().map(|a| PeerAddress {
        hostname: a.host.to_string(),
        port: a.port,
        tls: a.tls,
    })
}

/// What changed in the directory, as a device acts on it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WatchEvent {
    /// The watch is connected and following (first event).
    Following {
        /// The LDAP server.
        server: String,
        /// How it follows.
        mechanism: Mechanism,
    },
    /// This device's configuration changed in the directory.
    DeviceChanged {
        /// The device name.
        device: String,
        /// The changes from the last known configuration to the new one.
        diff: Vec<Change>,
    },
    /// One of this device's AE titles was changed (renamed) in the directory.
    TitleChanged {
        /// The device name.
        device: String,
        /// The title the device had.
        old: String,
        /// The title it has now.
        new: String,
    },
    /// A peer AE's callable address changed (`None`: it has none).
    PeerMoved {
        /// The peer's AE title.
        title: String,
        /// Where it was.
        old: Option<PeerAddress>,
        /// Where it is now.
        new: Option<PeerAddress>,
    },
    /// A followed peer AE is gone from the directory.
    PeerRemoved {
        /// The peer's AE title.
        title: String,
    },
    /// This device's entry is gone from the directory.
    DeviceRemoved {
        /// The device name.
        device: String,
    },
    /// A device (`ae_title` None) or one AE went offline (`dicomInstalled`
    /// FALSE on it, or inherited from its device).
    Offline {
        /// The device.
        device: String,
        /// The AE, or `None` for the whole device.
        ae_title: Option<String>,
    },
    /// A device or AE went back online.
    Online {
        /// The device.
        device: String,
        /// The AE, or `None` for the whole device.
        ae_title: Option<String>,
    },
    /// The connection to the directory was lost; the watch reconnects.
    Lost {
        /// The server.
        server: String,
        /// What failed.
        cause: String,
    },
    /// The connection is back; changes made meanwhile follow.
    Resumed {
        /// The server.
        server: String,
        /// How it follows.
        mechanism: Mechanism,
    },
    /// The non-volatile store could not be updated with a new configuration.
    StoreNotUpdated {
        /// Why.
        cause: String,
    },
}

fn who(device: &str, ae: &Option<String>) -> String {
    match ae {
        Some(t) => format!("{t} ({device})"),
        None => format!("device {device}"),
    }
}

fn opt_addr(a: &Option<PeerAddress>) -> String {
    a.as_ref()
        .map_or_else(|| "(no address)".into(), ToString::to_string)
}

impl fmt::Display for WatchEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WatchEvent::Following { server, mechanism } => {
                write!(f, "following {server} by {mechanism}")
            }
            WatchEvent::DeviceChanged { device, diff } => {
                let changes: Vec<String> = diff.iter().map(ToString::to_string).collect();
                write!(f, "device {device} changed: {}", changes.join("; "))
            }
            WatchEvent::TitleChanged { device, old, new } => {
                write!(f, "title changed on {device}: {old} -> {new}")
            }
            WatchEvent::PeerMoved { title, old, new } => {
                write!(
                    f,
                    "peer {title} moved: {} -> {}",
                    opt_addr(old),
                    opt_addr(new)
                )
            }
            WatchEvent::PeerRemoved { title } => write!(f, "peer {title} removed"),
            WatchEvent::DeviceRemoved { device } => write!(f, "device {device} removed"),
            WatchEvent::Offline { device, ae_title } => {
                write!(f, "offline: {}", who(device, ae_title))
            }
            WatchEvent::Online { device, ae_title } => {
                write!(f, "online: {}", who(device, ae_title))
            }
            WatchEvent::Lost { server, cause } => write!(f, "lost {server}: {cause}"),
            WatchEvent::Resumed { server, mechanism } => {
                write!(f, "resumed {server} by {mechanism}")
            }
            WatchEvent::StoreNotUpdated { cause } => write!(f, "store not updated: {cause}"),
        }
    }
}

impl WatchEvent {
    /// The event as one JSON object (`"event"` names the kind).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            WatchEvent::Following { server, mechanism } => {
                json!({"event": "following", "server": server, "mechanism": mechanism.to_string()})
            }
            WatchEvent::DeviceChanged { device, diff } => json!({
                "event": "device_changed",
                "device": device,
                "diff": diff.iter().map(ToString::to_string).collect::<Vec<_>>(),
            }),
            WatchEvent::TitleChanged { device, old, new } => {
                json!({"event": "title_changed", "device": device, "old": old, "new": new})
            }
            WatchEvent::PeerMoved { title, old, new } => {
                json!({"event": "peer_moved", "title": title, "old": old, "new": new})
            }
            WatchEvent::PeerRemoved { title } => json!({"event": "peer_removed", "title": title}),
            WatchEvent::DeviceRemoved { device } => {
                json!({"event": "device_removed", "device": device})
            }
            WatchEvent::Offline { device, ae_title } => {
                json!({"event": "offline", "device": device, "ae_title": ae_title})
            }
            WatchEvent::Online { device, ae_title } => {
                json!({"event": "online", "device": device, "ae_title": ae_title})
            }
            WatchEvent::Lost { server, cause } => {
                json!({"event": "lost", "server": server, "cause": cause})
            }
            WatchEvent::Resumed { server, mechanism } => {
                json!({"event": "resumed", "server": server, "mechanism": mechanism.to_string()})
            }
            WatchEvent::StoreNotUpdated { cause } => {
                json!({"event": "store_not_updated", "cause": cause})
            }
        }
    }
}

/// Sets up a [`Watch`].
pub struct WatchBuilder {
    client: LdapClient,
    device: String,
    baseline: Option<Device>,
    peers: Vec<String>,
    peer_types: Vec<String>,
    store: Option<Arc<dyn Store>>,
    options: WatchOptions,
}

impl fmt::Debug for WatchBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchBuilder")
            .field("device", &self.device)
            .field("peers", &self.peers)
            .field("peer_types", &self.peer_types)
            .field("has_store", &self.store.is_some())
            .field("options", &self.options)
            .finish()
    }
}

impl WatchBuilder {
    /// The configuration the device runs with now (changes are reported
    /// relative to it). Without it, the directory's current one is loaded.
    pub fn baseline(mut self, device: Device) -> Self {
        self.baseline = Some(device);
        self
    }

    /// Follows a peer AE by title.
    pub fn with_peer(mut self, title: impl Into<String>) -> Self {
        self.peers.push(title.into());
        self
    }

    /// Follows every AE of devices of these primary device types (R.3.1).
    pub fn peer_device_types(mut self, types: Vec<String>) -> Self {
        self.peer_types = types;
        self
    }

    /// The store whose last configuration is updated when this device's
    /// configuration changes.
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// Mechanism, interval and backoff.
    pub fn options(mut self, options: WatchOptions) -> Self {
        self.options = options;
        self
    }

    /// Resolves the peers, loads what is not known yet, and starts following.
    pub async fn start(self) -> Result<Watch, crate::Error> {
        let client = self.client;
        let layout = client.locate().await?.value;
        let mut peers: BTreeMap<String, String> = BTreeMap::new();
        for title in &self.peers {
            if let Some(ae) = client.resolve_ae(title).await?.value {
                peers.insert(title.clone(), ae.device_name);
            }
        }
        for device_type in &self.peer_types {
            let query = DeviceTypeQuery::new(device_type);
            for ae in client.find_aes_by_device_type(&query).await?.value {
                peers.insert(ae.ae_title.to_string(), ae.device_name);
            }
        }
        peers.retain(|_, d| *d != self.device);
        let mut known: BTreeMap<String, Option<Device>> = BTreeMap::new();
        let me = match self.baseline {
            Some(d) => Some(d),
            None => client.load_device(&self.device).await?.value.found(),
        };
        known.insert(self.device.clone(), me);
        for device in peers.values() {
            if !known.contains_key(device) {
                let d = client.load_device(device).await?.value.found();
                known.insert(device.clone(), d);
            }
        }
        let directory = client.watch(known.keys().cloned().collect(), self.options);
        Ok(Watch {
            directory,
            tracker: Tracker {
                client,
                layout,
                me: self.device,
                peers,
                known,
                store: self.store,
            },
            pending: VecDeque::new(),
        })
    }
}

/// Follows this device and its peers in the directory; see the module docs.
/// Dropping it stops it.
#[derive(Debug)]
pub struct Watch {
    directory: DirectoryWatch,
    tracker: Tracker,
    pending: VecDeque<WatchEvent>,
}

struct Tracker {
    client: LdapClient,
    layout: Layout,
    me: String,
    /// Followed peer AE title -> its device.
    peers: BTreeMap<String, String>,
    known: BTreeMap<String, Option<Device>>,
    store: Option<Arc<dyn Store>>,
}

impl Watch {
    /// A watch of `device` through `client`.
    pub fn builder(client: LdapClient, device: impl Into<String>) -> WatchBuilder {
        WatchBuilder {
            client,
            device: device.into(),
            baseline: None,
            peers: Vec::new(),
            peer_types: Vec::new(),
            store: None,
            options: WatchOptions::default(),
        }
    }

    /// A watch after `startup` ran: its LDAP servers and settings, the
    /// configuration it settled on as the baseline, the peers of the probe
    /// step's device types, and its store (the configured file store when
    /// the settings name one).
    pub fn for_startup(
        startup: &Startup,
        outcome: &StartupOutcome,
    ) -> Result<WatchBuilder, crate::Error> {
        let config = startup.config();
        let Some(device) = &outcome.device else {
            return Err(crate::Error::NothingToWatch(
                "the startup settled on no configuration".into(),
            ));
        };
        let client = crate::configure::client(config, &outcome.ldap_urls)?;
        let mut builder = Watch::builder(client, device.name.clone())
            .baseline(device.clone())
            .peer_device_types(config.probe.device_types.clone());
        if let Some(path) = &config.store.path {
            builder = builder.store(Arc::new(crate::FileStore::new(path.clone())));
        }
        Ok(builder)
    }

    /// The next event; `None` once the watch has stopped.
    pub async fn next(&mut self) -> Option<WatchEvent> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Some(e);
            }
            let event = self.directory.next().await?;
            self.tracker.absorb(event, &mut self.pending);
        }
    }

    /// The next event, blocking the calling thread; for use outside the
    /// runtime's worker threads (see [`crate::blocking`]).
    pub fn blocking_next(&mut self) -> Option<WatchEvent> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Some(e);
            }
            let event = self.directory.blocking_next()?;
            self.tracker.absorb(event, &mut self.pending);
        }
    }

    /// Follows one more peer AE (e.g. one the device resolved after
    /// startup): resolves it and, when its device is not followed yet,
    /// loads it and follows it too. `false` when no AE has that title.
    pub async fn follow_peer(&mut self, title: &str) -> Result<bool, crate::Error> {
        let t = &mut self.tracker;
        let Some(ae) = t.client.resolve_ae(title).await?.value else {
            return Ok(false);
        };
        let device = ae.device_name;
        if !t.known.contains_key(&device) {
            let d = t.client.load_device(&device).await?.value.found();
            t.known.insert(device.clone(), d);
            self.directory.follow(&device);
        }
        if device != t.me {
            t.peers.insert(ae.ae_title.to_string(), device);
        }
        Ok(true)
    }

    /// The peer AE titles followed, with their devices.
    pub fn peers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.tracker
            .peers
            .iter()
            .map(|(t, d)| (t.as_str(), d.as_str()))
    }

    /// The last known configuration of this device.
    pub fn device(&self) -> Option<&Device> {
        self.tracker
            .known
            .get(&self.tracker.me)
            .and_then(Option::as_ref)
    }
}

impl fmt::Debug for Tracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracker")
            .field("me", &self.me)
            .field("peers", &self.peers)
            .finish()
    }
}

/// Effective installed state per AE title (the inheritance rule).
fn installed_by_title(d: &Device) -> BTreeMap<String, ResolvedAe> {
    ResolvedAe::from_device(d)
        .into_iter()
        .map(|ae| (ae.ae_title.to_string(), ae))
        .collect()
}

impl Tracker {
    fn absorb(&mut self, event: DirEvent, out: &mut VecDeque<WatchEvent>) {
        match event {
            DirEvent::Following { server, mechanism } => {
                out.push_back(WatchEvent::Following { server, mechanism });
            }
            DirEvent::Lost { server, cause } => out.push_back(WatchEvent::Lost { server, cause }),
            DirEvent::Resumed { server, mechanism } => {
                out.push_back(WatchEvent::Resumed { server, mechanism });
            }
            DirEvent::Device { name, lookup } => {
                let new = lookup.found();
                let old = self.known.insert(name.clone(), new.clone()).flatten();
                if name == self.me {
                    self.own_changed(&name, old, new, out);
                } else {
                    self.peer_changed(&name, old.as_ref(), new.as_ref(), out);
                }
            }
            _ => {}
        }
    }

    fn own_changed(
        &mut self,
        name: &str,
        old: Option<Device>,
        new: Option<Device>,
        out: &mut VecDeque<WatchEvent>,
    ) {
        let (old, new) = match (old, new) {
            (None, None) => return,
            (Some(_), None) => {
                self.forget();
                out.push_back(WatchEvent::DeviceRemoved {
                    device: name.to_string(),
                });
                return;
            }
            (None, Some(new)) => (Device::new(name), new),
            (Some(old), Some(new)) => (old, new),
        };
        let diff = annexr_model::diff(&old, &new, &self.layout);
        if diff.is_empty() {
            return;
        }
        self.forget();
        out.push_back(WatchEvent::DeviceChanged {
            device: name.to_string(),
            diff,
        });
        let (was, is) = (installed_by_title(&old), installed_by_title(&new));
        let gone: Vec<&String> = was.keys().filter(|t| !is.contains_key(*t)).collect();
        let came: Vec<&String> = is.keys().filter(|t| !was.contains_key(*t)).collect();
        if let ([o], [n]) = (gone.as_slice(), came.as_slice()) {
            out.push_back(WatchEvent::TitleChanged {
                device: name.to_string(),
                old: (*o).clone(),
                new: (*n).clone(),
            });
        }
        if old.installed != new.installed {
            out.push_back(flip(name, None, new.installed));
        }
        for (title, ae) in &is {
            if let Some(before) = was.get(title)
                && before.installed != ae.installed
                // The device's own flip already said it for inheriting AEs.
                && old.installed == new.installed
            {
                out.push_back(flip(name, Some(title.clone()), ae.installed));
            }
        }
        if let Some(store) = &self.store {
            let saved = store.load().and_then(|(mut state, _)| {
                state.device_name = Some(new.name.clone());
                state.last_configuration = Some(new.clone());
                store.save(&state)
            });
            if let Err(e) = saved {
                out.push_back(WatchEvent::StoreNotUpdated {
                    cause: e.to_string(),
                });
            }
        }
    }

    fn peer_changed(
        &mut self,
        device: &str,
        old: Option<&Device>,
        new: Option<&Device>,
        out: &mut VecDeque<WatchEvent>,
    ) {
        let was = old.map(installed_by_title).unwrap_or_default();
        let is = new.map(installed_by_title).unwrap_or_default();
        if old != new {
            self.forget();
        }
        for (title, _) in self.peers.iter().filter(|(_, d)| d.as_str() == device) {
            match (was.get(title), is.get(title)) {
                (Some(_), None) => out.push_back(WatchEvent::PeerRemoved {
                    title: title.clone(),
                }),
                (None, Some(n)) => {
                    out.push_back(WatchEvent::PeerMoved {
                        title: title.clone(),
                        old: None,
                        new: address_of(n),
                    });
                }
                (Some(o), Some(n)) => {
                    let (oa, na) = (address_of(o), address_of(n));
                    if o.installed != n.installed {
                        out.push_back(flip(device, Some(title.clone()), n.installed));
                    }
                    // An AE going offline loses its callable address: the
                    // Offline event says it; a move is a move of an online AE.
                    if oa != na && o.installed == n.installed {
                        out.push_back(WatchEvent::PeerMoved {
                            title: title.clone(),
                            old: oa,
                            new: na,
                        });
                    }
                }
                (None, None) => {}
            }
        }
    }

    /// The resolver cache must not serve what changed (H.1.6); changes are
    /// rare, so the whole cache goes.
    fn forget(&self) {
        self.client.clear_cache();
    }
}

fn flip(device: &str, ae_title: Option<String>, installed: bool) -> WatchEvent {
    let device = device.to_string();
    if installed {
        WatchEvent::Online { device, ae_title }
    } else {
        WatchEvent::Offline { device, ae_title }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use annexr_ldap::{ClientConfig, DeviceLookup};
    use annexr_model::{AeTitle, Dn, NetworkAe, NetworkConnection};

    fn device(name: &str, title: &str, port: u16) -> Device {
        Device::new(name)
            .installed(true)
            .with_connection(NetworkConnection::new("dicom", "127.0.0.1", Some(port)))
            .with_ae(
                NetworkAe::new(AeTitle::new(title).unwrap())
                    .with_connection("dicom")
                    .roles(true, true),
            )
    }

    fn tracker() -> Tracker {
        let mut known = BTreeMap::new();
        known.insert("ME".to_string(), Some(device("ME", "ME1", 104)));
        known.insert("PACS".to_string(), Some(device("PACS", "PACS1", 11112)));
        Tracker {
            client: LdapClient::new(ClientConfig::new("ldap://127.0.0.1:1")).unwrap(),
            layout: Layout::at(Dn::parse("cn=DICOM Configuration,dc=x").unwrap()),
            me: "ME".into(),
            peers: [("PACS1".to_string(), "PACS".to_string())].into(),
            known,
            store: None,
        }
    }

    fn absorb(t: &mut Tracker, name: &str, d: Option<Device>) -> Vec<WatchEvent> {
        let lookup = match d {
            Some(d) => DeviceLookup::Found(d),
            None => DeviceLookup::NotConfigured { name: name.into() },
        };
        let mut out = VecDeque::new();
        t.absorb(
            DirEvent::Device {
                name: name.into(),
                lookup,
            },
            &mut out,
        );
        out.into()
    }

    #[test]
    fn an_unchanged_reload_says_nothing() {
        let mut t = tracker();
        assert_eq!(
            absorb(&mut t, "PACS", Some(device("PACS", "PACS1", 11112))),
            vec![]
        );
        assert_eq!(absorb(&mut t, "ME", Some(device("ME", "ME1", 104))), vec![]);
    }

    #[test]
    fn a_peer_port_is_a_move_and_its_installed_flag_is_offline() {
        let mut t = tracker();
        let events = absorb(&mut t, "PACS", Some(device("PACS", "PACS1", 11113)));
        let addr = |port| {
            Some(PeerAddress {
                hostname: "127.0.0.1".into(),
                port,
                tls: false,
            })
        };
        assert_eq!(
            events,
            vec![WatchEvent::PeerMoved {
                title: "PACS1".into(),
                old: addr(11112),
                new: addr(11113)
            }]
        );
        // The device FALSE: its AE inherits it; offline, not "moved".
        let events = absorb(
            &mut t,
            "PACS",
            Some(device("PACS", "PACS1", 11113).installed(false)),
        );
        assert_eq!(
            events,
            vec![WatchEvent::Offline {
                device: "PACS".into(),
                ae_title: Some("PACS1".into())
            }]
        );
        let events = absorb(&mut t, "PACS", None);
        assert_eq!(
            events,
            vec![WatchEvent::PeerRemoved {
                title: "PACS1".into()
            }]
        );
    }

    #[test]
    fn own_changes_carry_the_diff_a_rename_and_the_installed_flag() {
        let mut t = tracker();
        let events = absorb(&mut t, "ME", Some(device("ME", "ME2", 104)));
        assert!(
            matches!(&events[0], WatchEvent::DeviceChanged { device, diff } if device == "ME" && !diff.is_empty()),
            "{events:?}"
        );
        assert_eq!(
            events[1],
            WatchEvent::TitleChanged {
                device: "ME".into(),
                old: "ME1".into(),
                new: "ME2".into()
            }
        );
        assert_eq!(events.len(), 2, "{events:?}");
        let events = absorb(
            &mut t,
            "ME",
            Some(device("ME", "ME2", 104).installed(false)),
        );
        assert_eq!(
            events.last(),
            Some(&WatchEvent::Offline {
                device: "ME".into(),
                ae_title: None
            })
        );
        assert_eq!(
            absorb(&mut t, "ME", None),
            vec![WatchEvent::DeviceRemoved {
                device: "ME".into()
            }]
        );
    }
}
