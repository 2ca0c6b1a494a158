//! Model ⇄ neutral LDAP entry, both ways, and the layout of the tree (H.1.4).
//!
//! Reading is tolerant of what servers add (operational attributes, `top`,
//! auxiliary classes, vendor attributes and child entries) and keeps everything it
//! does not understand; writing emits the DICOM attributes first, then the kept ones.

use crate::model::*;
use crate::schema::{self, attr, oc};
use crate::{AeTitle, Attribute, Dn, Error, LdapEntry, Result};

/// Where the DICOM configuration lives: `cn=DICOM Configuration,<base>` and its
/// two containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// DN of the `dicomConfigurationRoot` entry.
    pub config_dn: Dn,
}

impl Layout {
    /// The conventional layout under a naming context, e.g. `dc=example,dc=org`.
    pub fn under(base: &Dn) -> Self {
        Layout {
            config_dn: base.child(attr::CN, schema::rdn::CONFIGURATION),
        }
    }

    /// A layout whose configuration root was found at `config_dn`.
    pub fn at(config_dn: Dn) -> Self {
        Layout { config_dn }
    }

    /// `cn=Devices,…`
    pub fn devices_dn(&self) -> Dn {
        self.config_dn.child(attr::CN, schema::rdn::DEVICES)
    }

    /// `cn=Unique AE Titles Registry,…`
    pub fn registry_dn(&self) -> Dn {
        self.config_dn
            .child(attr::CN, schema::rdn::UNIQUE_AE_TITLES_REGISTRY)
    }

    /// `dicomDeviceName=<name>,cn=Devices,…`
    pub fn device_dn(&self, name: &str) -> Dn {
        self.devices_dn().child(attr::DEVICE_NAME, name)
    }

    /// `dicomAETitle=<aet>,cn=Unique AE Titles Registry,…`
    pub fn unique_ae_title_dn(&self, aet: &AeTitle) -> Dn {
        self.registry_dn().child(attr::AE_TITLE, aet.as_str())
    }
}

/// DN of the connection `name` under `device_dn`.
pub fn connection_dn(device_dn: &Dn, name: &str) -> Dn {
    device_dn.child(attr::CN, name)
}

/// DN of the AE `aet` under `device_dn`.
pub fn ae_dn(device_dn: &Dn, aet: &AeTitle) -> Dn {
    device_dn.child(attr::AE_TITLE, aet.as_str())
}

// ---------- writing ----------

fn bool_value(b: bool) -> &'static str {
    if b { "TRUE" } else { "FALSE" }
}

fn start(dn: Dn, class: &str, ext: &Extensions) -> LdapEntry {
    let mut e = LdapEntry::new(dn);
    e.push(attr::OBJECT_CLASS, class);
    e.extend(
        attr::OBJECT_CLASS,
        ext.object_classes.iter().map(String::as_str),
    );
    e
}

fn finish(mut e: LdapEntry, ext: &Extensions) -> LdapEntry {
    for a in &ext.attributes {
        e.extend(&a.name, a.values.iter().cloned());
    }
    e
}

fn opt(e: &mut LdapEntry, name: &str, v: &Option<String>) {
    if let Some(v) = v {
        e.push(name, v.as_str());
    }
}

fn many<T: AsRef<str>>(e: &mut LdapEntry, name: &str, v: &[T]) {
    e.extend(name, v.iter().map(|s| s.as_ref()));
}

fn dns(e: &mut LdapEntry, name: &str, v: &[Dn]) {
    e.extend(name, v.iter().map(|d| d.to_string()));
}

macro_rules! root_mapping {
    ($t:ty, $class:expr) => {
        impl $t {
            /// The entry for this container at `dn`.
            pub fn to_entry(&self, dn: &Dn) -> LdapEntry {
                let mut e = start(dn.clone(), $class, &self.extensions);
                e.push(attr::CN, self.cn.as_str());
                opt(&mut e, attr::DESCRIPTION, &self.description);
                finish(e, &self.extensions)
            }

            /// Reads the container from its entry.
            pub fn from_entry(e: &LdapEntry) -> Result<Self> {
                let r = Reader::new(e, $class)?;
                let cn = r.rdn_cn()?;
                Ok(Self {
                    extensions: r.extensions(Some(&cn))?,
                    description: r.str(attr::DESCRIPTION)?,
                    cn,
                })
            }
        }
    };
}

root_mapping!(ConfigurationRoot, oc::CONFIGURATION_ROOT);
root_mapping!(DevicesRoot, oc::DEVICES_ROOT);
root_mapping!(
    UniqueAeTitlesRegistryRoot,
    oc::UNIQUE_AE_TITLES_REGISTRY_ROOT
);

impl UniqueAeTitle {
    /// The registry entry under `registry_dn`.
    pub fn to_entry(&self, registry_dn: &Dn) -> LdapEntry {
        let mut e = start(
            registry_dn.child(attr::AE_TITLE, self.ae_title.as_str()),
            oc::UNIQUE_AE_TITLE,
            &self.extensions,
        );
        e.push(attr::AE_TITLE, self.ae_title.as_str());
        finish(e, &self.extensions)
    }

    /// Reads a registry entry.
    pub fn from_entry(e: &LdapEntry) -> Result<Self> {
        let r = Reader::new(e, oc::UNIQUE_AE_TITLE)?;
        Ok(UniqueAeTitle {
            ae_title: r.ae_title()?,
            extensions: r.extensions(None)?,
        })
    }
}

impl TransferCapability {
    /// The entry under the AE entry `ae_dn`.
    pub fn to_entry(&self, ae_dn: &Dn) -> LdapEntry {
        let mut e = start(
            ae_dn.child(attr::CN, &self.name),
            oc::TRANSFER_CAPABILITY,
            &self.extensions,
        );
        e.push(attr::CN, self.name.as_str());
        e.push(attr::SOP_CLASS, self.sop_class.as_str());
        e.push(attr::TRANSFER_ROLE, self.role.as_str());
        many(&mut e, attr::TRANSFER_SYNTAX, &self.transfer_syntaxes);
        finish(e, &self.extensions)
    }

    /// Reads a transfer capability entry.
    pub fn from_entry(e: &LdapEntry) -> Result<Self> {
        let r = Reader::new(e, oc::TRANSFER_CAPABILITY)?;
        let role = r.req_str(attr::TRANSFER_ROLE)?;
        let name = r.name()?;
        Ok(TransferCapability {
            extensions: r.extensions(Some(&name))?,
            name,
            sop_class: r.req_str(attr::SOP_CLASS)?,
            role: TransferRole::parse(&role).ok_or_else(|| {
                Error::mapping(
                    &e.dn,
                    attr::TRANSFER_ROLE,
                    format!("{role:?} is neither SCU nor SCP"),
                )
            })?,
            transfer_syntaxes: r.strs(attr::TRANSFER_SYNTAX)?,
        })
    }
}

impl NetworkConnection {
    /// The entry under `device_dn`.
    pub fn to_entry(&self, device_dn: &Dn) -> LdapEntry {
        let mut e = start(
            connection_dn(device_dn, &self.name),
            oc::NETWORK_CONNECTION,
            &self.extensions,
        );
        e.push(attr::CN, self.name.as_str());
        e.push(attr::HOSTNAME, self.hostname.as_str());
        if let Some(p) = self.port {
            e.push(attr::PORT, p.to_string());
        }
        many(&mut e, attr::TLS_CIPHER_SUITE, &self.tls_cipher_suites);
        if let Some(i) = self.installed {
            e.push(attr::INSTALLED, bool_value(i));
        }
        finish(e, &self.extensions)
    }

    /// Reads a connection entry.
    pub fn from_entry(e: &LdapEntry) -> Result<Self> {
        let r = Reader::new(e, oc::NETWORK_CONNECTION)?;
        let port = match r.str(attr::PORT)? {
            None => None,
            Some(p) => Some(p.trim().parse::<u16>().map_err(|_| {
                Error::mapping(
                    &e.dn,
                    attr::PORT,
                    format!("{p:?} is not a port number (0–65535)"),
                )
            })?),
        };
        let name = r.name()?;
        Ok(NetworkConnection {
            extensions: r.extensions(Some(&name))?,
            name,
            hostname: r.req_str(attr::HOSTNAME)?,
            port,
            tls_cipher_suites: r.strs(attr::TLS_CIPHER_SUITE)?,
            installed: r.bool(attr::INSTALLED)?,
        })
    }
}

impl NetworkAe {
    /// The AE entry under `device_dn` (without its transfer capabilities).
    pub fn to_entry(&self, device_dn: &Dn) -> LdapEntry {
        let mut e = start(
            ae_dn(device_dn, &self.ae_title),
            oc::NETWORK_AE,
            &self.extensions,
        );
        e.push(attr::AE_TITLE, self.ae_title.as_str());
        opt(&mut e, attr::DICOM_DESCRIPTION, &self.description);
        e.extend(attr::VENDOR_DATA, self.vendor_data.iter().cloned());
        e.extend(
            attr::NETWORK_CONNECTION_REFERENCE,
            self.connections
                .iter()
                .map(|c| connection_dn(device_dn, c).to_string()),
        );
        many(
            &mut e,
            attr::APPLICATION_CLUSTER,
            &self.application_clusters,
        );
        e.push(
            attr::ASSOCIATION_INITIATOR,
            bool_value(self.association_initiator),
        );
        e.push(
            attr::ASSOCIATION_ACCEPTOR,
            bool_value(self.association_acceptor),
        );
        many(
            &mut e,
            attr::PREFERRED_CALLED_AE_TITLE,
            &self.preferred_called_ae_titles,
        );
        many(
            &mut e,
            attr::PREFERRED_CALLING_AE_TITLE,
            &self.preferred_calling_ae_titles,
        );
        many(
            &mut e,
            attr::SUPPORTED_CHARACTER_SET,
            &self.supported_character_sets,
        );
        if let Some(i) = self.installed {
            e.push(attr::INSTALLED, bool_value(i));
        }
        finish(e, &self.extensions)
    }

    /// The AE entry followed by its transfer capability entries.
    pub fn to_entries(&self, device_dn: &Dn) -> Vec<LdapEntry> {
        let ae = self.to_entry(device_dn);
        let tcs = self
            .transfer_capabilities
            .iter()
            .map(|t| t.to_entry(&ae.dn))
            .collect::<Vec<_>>();
        std::iter::once(ae).chain(tcs).collect()
    }

    /// Reads an AE entry of the device at `device_dn` (transfer capabilities empty).
    /// Connection references must name connections directly below the device.
    pub fn from_entry(e: &LdapEntry, device_dn: &Dn) -> Result<Self> {
        let r = Reader::new(e, oc::NETWORK_AE)?;
        let mut connections = Vec::new();
        for s in r.strs(attr::NETWORK_CONNECTION_REFERENCE)? {
            let dn = Dn::parse(&s).map_err(|err| {
                Error::mapping(&e.dn, attr::NETWORK_CONNECTION_REFERENCE, err.to_string())
            })?;
            // H.1.1.3: cn "can be used as the RDN"; another RDN is read too
            // (the device's reader maps it to the connection's name).
            match (dn.parent(), dn.rdn()) {
                (Some(p), Some(rdn)) if p.matches(device_dn) => {
                    connections.push(rdn.value().to_string())
                }
                _ => {
                    return Err(Error::mapping(
                        &e.dn,
                        attr::NETWORK_CONNECTION_REFERENCE,
                        format!("{s:?} is not a connection of device {device_dn}"),
                    ));
                }
            }
        }
        let aets = |name| -> Result<Vec<AeTitle>> {
            r.strs(name)?
                .iter()
                .map(|s| {
                    AeTitle::new(s).map_err(|err| Error::mapping(&e.dn, name, err.to_string()))
                })
                .collect()
        };
        Ok(NetworkAe {
            ae_title: r.ae_title()?,
            description: r.str(attr::DICOM_DESCRIPTION)?,
            vendor_data: r.bytes(attr::VENDOR_DATA),
            connections,
            application_clusters: r.strs(attr::APPLICATION_CLUSTER)?,
            association_initiator: r.req_bool(attr::ASSOCIATION_INITIATOR)?,
            association_acceptor: r.req_bool(attr::ASSOCIATION_ACCEPTOR)?,
            preferred_called_ae_titles: aets(attr::PREFERRED_CALLED_AE_TITLE)?,
            preferred_calling_ae_titles: aets(attr::PREFERRED_CALLING_AE_TITLE)?,
            supported_character_sets: r.strs(attr::SUPPORTED_CHARACTER_SET)?,
            installed: r.bool(attr::INSTALLED)?,
            transfer_capabilities: Vec::new(),
            extensions: r.extensions(None)?,
        })
    }
}

impl Device {
    /// The device's DN in `layout`.
    pub fn dn(&self, layout: &Layout) -> Dn {
        layout.device_dn(&self.name)
    }

    /// The device entry alone, at `device_dn`.
    pub fn to_entry(&self, device_dn: &Dn) -> LdapEntry {
        let mut e = start(device_dn.clone(), oc::DEVICE, &self.extensions);
        e.push(attr::DEVICE_NAME, self.name.as_str());
        opt(&mut e, attr::DICOM_DESCRIPTION, &self.description);
        opt(&mut e, attr::MANUFACTURER, &self.manufacturer);
        opt(
            &mut e,
            attr::MANUFACTURER_MODEL_NAME,
            &self.manufacturer_model_name,
        );
        many(&mut e, attr::SOFTWARE_VERSION, &self.software_versions);
        e.extend(attr::VENDOR_DATA, self.vendor_data.iter().cloned());
        many(
            &mut e,
            attr::PRIMARY_DEVICE_TYPE,
            &self.primary_device_types,
        );
        dns(
            &mut e,
            attr::RELATED_DEVICE_REFERENCE,
            &self.related_device_references,
        );
        dns(
            &mut e,
            attr::AUTHORIZED_NODE_CERTIFICATE_REFERENCE,
            &self.authorized_node_certificate_references,
        );
        dns(
            &mut e,
            attr::THIS_NODE_CERTIFICATE_REFERENCE,
            &self.this_node_certificate_references,
        );
        e.push(attr::INSTALLED, bool_value(self.installed));
        opt(&mut e, attr::STATION_NAME, &self.station_name);
        opt(
            &mut e,
            attr::DEVICE_SERIAL_NUMBER,
            &self.device_serial_number,
        );
        many(&mut e, attr::INSTITUTION_NAME, &self.institution_names);
        many(
            &mut e,
            attr::INSTITUTION_ADDRESS,
            &self.institution_addresses,
        );
        many(
            &mut e,
            attr::INSTITUTION_DEPARTMENT_NAME,
            &self.institution_department_names,
        );
        opt(
            &mut e,
            attr::ISSUER_OF_PATIENT_ID,
            &self.issuer_of_patient_id,
        );
        opt(
            &mut e,
            attr::ISSUER_OF_ACCESSION_NUMBER,
            &self.issuer_of_accession_number,
        );
        opt(
            &mut e,
            attr::ORDER_PLACER_IDENTIFIER,
            &self.order_placer_identifier,
        );
        opt(
            &mut e,
            attr::ORDER_FILLER_IDENTIFIER,
            &self.order_filler_identifier,
        );
        opt(
            &mut e,
            attr::ISSUER_OF_ADMISSION_ID,
            &self.issuer_of_admission_id,
        );
        opt(
            &mut e,
            attr::ISSUER_OF_SERVICE_EPISODE_ID,
            &self.issuer_of_service_episode_id,
        );
        opt(
            &mut e,
            attr::ISSUER_OF_CONTAINER_IDENTIFIER,
            &self.issuer_of_container_identifier,
        );
        opt(
            &mut e,
            attr::ISSUER_OF_SPECIMEN_IDENTIFIER,
            &self.issuer_of_specimen_identifier,
        );
        many(&mut e, attr::INSTITUTION_CODE, &self.institution_codes);
        opt(&mut e, attr::DEVICE_UID, &self.device_uid);
        finish(e, &self.extensions)
    }

    /// The device's subtree in dependency order (parents before children,
    /// connections before the AEs that reference them): device, connections,
    /// each AE followed by its transfer capabilities, then kept vendor entries.
    pub fn to_entries(&self, layout: &Layout) -> Vec<LdapEntry> {
        let dn = self.dn(layout);
        let mut out = vec![self.to_entry(&dn)];
        out.extend(self.connections.iter().map(|c| c.to_entry(&dn)));
        for ae in &self.network_aes {
            out.extend(ae.to_entries(&dn));
        }
        out.extend(self.other_entries.iter().map(|o| LdapEntry {
            dn: o.dn.join(&dn),
            ..o.clone()
        }));
        out
    }

    /// The registry entries for the device's AE titles, then [`Device::to_entries`]:
    /// what an export writes so an import reserves the titles first.
    pub fn export_entries(&self, layout: &Layout) -> Vec<LdapEntry> {
        let registry = layout.registry_dn();
        let mut out: Vec<LdapEntry> = self
            .ae_titles()
            .map(|t| UniqueAeTitle::new(t.clone()).to_entry(&registry))
            .collect();
        out.extend(self.to_entries(layout));
        out
    }

    /// Reads one device from the entries of its subtree, in any order (as a subtree
    /// search returns them). Entries outside the device's subtree are an error.
    pub fn from_entries(entries: &[LdapEntry]) -> Result<Self> {
        Self::from_entry_refs(&entries.iter().collect::<Vec<_>>())
    }

    /// [`Device::from_entries`] over borrowed entries.
    pub fn from_entry_refs(entries: &[&LdapEntry]) -> Result<Self> {
        let mut devs = entries
            .iter()
            .copied()
            .filter(|e| e.has_object_class(oc::DEVICE));
        let (Some(dev), None) = (devs.next(), devs.next()) else {
            let dn = entries
                .first()
                .map(|e| e.dn.to_string())
                .unwrap_or_default();
            return Err(Error::mapping(
                dn,
                attr::OBJECT_CLASS,
                "expected exactly one dicomDevice entry",
            ));
        };
        let mut device = Self::from_device_entry(dev)?;
        let mut tcs = Vec::new();
        let mut aes: Vec<(Dn, NetworkAe)> = Vec::new();
        // Connections by DN, whatever their RDN, for the AEs' references.
        let mut connection_names: Vec<(Dn, String)> = Vec::new();
        for &e in entries {
            if std::ptr::eq(e, dev) {
                continue;
            }
            let Some(rel) = e.dn.relative_to(&dev.dn) else {
                return Err(Error::mapping(
                    &e.dn,
                    "dn",
                    format!("not below device {}", dev.dn),
                ));
            };
            if rel.len() == 1 && e.has_object_class(oc::NETWORK_CONNECTION) {
                let connection = NetworkConnection::from_entry(e)?;
                connection_names.push((e.dn.clone(), connection.name.clone()));
                device.connections.push(connection);
            } else if rel.len() == 1 && e.has_object_class(oc::NETWORK_AE) {
                aes.push((e.dn.clone(), NetworkAe::from_entry(e, &dev.dn)?));
            } else if rel.len() == 2 && e.has_object_class(oc::TRANSFER_CAPABILITY) {
                tcs.push(e);
            } else {
                device.other_entries.push(LdapEntry {
                    dn: rel,
                    ..without_operational(e)
                });
            }
        }
        for tc in tcs {
            let parent = tc.dn.parent().unwrap_or_default();
            match aes.iter_mut().find(|(dn, _)| dn.matches(&parent)) {
                Some((_, ae)) => ae
                    .transfer_capabilities
                    .push(TransferCapability::from_entry(tc)?),
                None => {
                    let rel = tc.dn.relative_to(&dev.dn).unwrap_or_default();
                    device.other_entries.push(LdapEntry {
                        dn: rel,
                        ..without_operational(tc)
                    });
                }
            }
        }
        for (ae_dn, ae) in &mut aes {
            let Some(entry) = entries.iter().find(|e| e.dn.matches(ae_dn)) else {
                continue;
            };
            let references = entry.values(attr::NETWORK_CONNECTION_REFERENCE);
            for (name, raw) in ae.connections.iter_mut().zip(references) {
                let found = std::str::from_utf8(raw)
                    .ok()
                    .and_then(|s| Dn::parse(s).ok())
                    .and_then(|dn| connection_names.iter().find(|(c, _)| c.matches(&dn)));
                if let Some((_, connection)) = found {
                    name.clone_from(connection);
                }
            }
        }
        device.network_aes = aes.into_iter().map(|(_, ae)| ae).collect();
        Ok(device)
    }

    /// Reads the device entry alone (no connections or AEs).
    pub fn from_device_entry(e: &LdapEntry) -> Result<Self> {
        let r = Reader::new(e, oc::DEVICE)?;
        let dn_list = |name| -> Result<Vec<Dn>> {
            r.strs(name)?
                .iter()
                .map(|s| Dn::parse(s).map_err(|err| Error::mapping(&e.dn, name, err.to_string())))
                .collect()
        };
        let name = r.req_str(attr::DEVICE_NAME)?;
        if r.rdn_is(attr::DEVICE_NAME)
            && !name.eq_ignore_ascii_case(r.rdn_value(attr::DEVICE_NAME)?)
        {
            return Err(r.err(
                "dn",
                format!("RDN and {} {name:?} differ", attr::DEVICE_NAME),
            ));
        }
        Ok(Device {
            name,
            description: r.str(attr::DICOM_DESCRIPTION)?,
            manufacturer: r.str(attr::MANUFACTURER)?,
            manufacturer_model_name: r.str(attr::MANUFACTURER_MODEL_NAME)?,
            software_versions: r.strs(attr::SOFTWARE_VERSION)?,
            vendor_data: r.bytes(attr::VENDOR_DATA),
            primary_device_types: r.strs(attr::PRIMARY_DEVICE_TYPE)?,
            related_device_references: dn_list(attr::RELATED_DEVICE_REFERENCE)?,
            authorized_node_certificate_references: dn_list(
                attr::AUTHORIZED_NODE_CERTIFICATE_REFERENCE,
            )?,
            this_node_certificate_references: dn_list(attr::THIS_NODE_CERTIFICATE_REFERENCE)?,
            installed: r.req_bool(attr::INSTALLED)?,
            station_name: r.str(attr::STATION_NAME)?,
            device_serial_number: r.str(attr::DEVICE_SERIAL_NUMBER)?,
            institution_names: r.strs(attr::INSTITUTION_NAME)?,
            institution_addresses: r.strs(attr::INSTITUTION_ADDRESS)?,
            institution_department_names: r.strs(attr::INSTITUTION_DEPARTMENT_NAME)?,
            issuer_of_patient_id: r.str(attr::ISSUER_OF_PATIENT_ID)?,
            issuer_of_accession_number: r.str(attr::ISSUER_OF_ACCESSION_NUMBER)?,
            order_placer_identifier: r.str(attr::ORDER_PLACER_IDENTIFIER)?,
            order_filler_identifier: r.str(attr::ORDER_FILLER_IDENTIFIER)?,
            issuer_of_admission_id: r.str(attr::ISSUER_OF_ADMISSION_ID)?,
            issuer_of_service_episode_id: r.str(attr::ISSUER_OF_SERVICE_EPISODE_ID)?,
            issuer_of_container_identifier: r.str(attr::ISSUER_OF_CONTAINER_IDENTIFIER)?,
            issuer_of_specimen_identifier: r.str(attr::ISSUER_OF_SPECIMEN_IDENTIFIER)?,
            institution_codes: r.strs(attr::INSTITUTION_CODE)?,
            device_uid: r.str(attr::DEVICE_UID)?,
            connections: Vec::new(),
            network_aes: Vec::new(),
            extensions: r.extensions(None)?,
            other_entries: Vec::new(),
        })
    }
}

/// The whole DICOM configuration tree: the three containers, every device and
/// the unique AE title registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Configuration {
    /// Where the tree lives.
    pub layout: Layout,
    /// `cn=DICOM Configuration`.
    pub root: ConfigurationRoot,
    /// `cn=Devices`.
    pub devices_root: DevicesRoot,
    /// `cn=Unique AE Titles Registry`.
    pub registry_root: UniqueAeTitlesRegistryRoot,
    /// The devices.
    pub devices: Vec<Device>,
    /// The registry's entries.
    pub unique_ae_titles: Vec<UniqueAeTitle>,
}

impl Configuration {
    /// An empty tree under `base`.
    pub fn new(base: &Dn) -> Self {
        Configuration {
            layout: Layout::under(base),
            root: ConfigurationRoot::default(),
            devices_root: DevicesRoot::default(),
            registry_root: UniqueAeTitlesRegistryRoot::default(),
            devices: Vec::new(),
            unique_ae_titles: Vec::new(),
        }
    }

    /// Reads the tree from entries in any order (e.g. a `slapcat` dump or a subtree
    /// search). Entries outside the configuration root are ignored.
    pub fn from_entries(entries: &[LdapEntry]) -> Result<Self> {
        let root = entries
            .iter()
            .find(|e| e.has_object_class(oc::CONFIGURATION_ROOT))
            .ok_or_else(|| {
                Error::mapping("", attr::OBJECT_CLASS, "no dicomConfigurationRoot entry")
            })?;
        let layout = Layout::at(root.dn.clone());
        let mut cfg = Configuration {
            root: ConfigurationRoot::from_entry(root)?,
            devices_root: DevicesRoot::default(),
            registry_root: UniqueAeTitlesRegistryRoot::default(),
            devices: Vec::new(),
            unique_ae_titles: Vec::new(),
            layout,
        };
        let (devices_dn, registry_dn) = (cfg.layout.devices_dn(), cfg.layout.registry_dn());
        // Entries grouped by the device subtree they belong to (keyed by the
        // normalized DN of the subtree's top), in first-seen order.
        let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        let mut subtrees: Vec<(Dn, Vec<&LdapEntry>)> = Vec::new();
        for e in entries {
            if e.dn.matches(&devices_dn) {
                cfg.devices_root = DevicesRoot::from_entry(e)?;
            } else if e.dn.matches(&registry_dn) {
                cfg.registry_root = UniqueAeTitlesRegistryRoot::from_entry(e)?;
            } else if e.dn.parent().is_some_and(|p| p.matches(&registry_dn)) {
                cfg.unique_ae_titles.push(UniqueAeTitle::from_entry(e)?);
            } else if let Some(rel) = e.dn.relative_to(&devices_dn).filter(|r| !r.is_empty()) {
                let top = Dn::from_rdns(rel.rdns()[rel.len() - 1..].to_vec()).join(&devices_dn);
                let i = *index.entry(top.normalized()).or_insert_with(|| {
                    subtrees.push((top, Vec::new()));
                    subtrees.len() - 1
                });
                subtrees[i].1.push(e);
            }
        }
        for (top, entries) in subtrees {
            let device = Device::from_entry_refs(&entries)?;
            // The device entry must be the top of its subtree, since writing puts it there.
            if !entries
                .iter()
                .any(|e| e.dn.matches(&top) && e.has_object_class(oc::DEVICE))
            {
                return Err(Error::mapping(
                    &top,
                    "dn",
                    "entries below cn=Devices outside a device entry",
                ));
            }
            if cfg.device(&device.name).is_some() {
                return Err(Error::mapping(
                    &top,
                    attr::DEVICE_NAME,
                    format!("device {:?} appears twice", device.name),
                ));
            }
            cfg.devices.push(device);
        }
        Ok(cfg)
    }

    /// The tree's entries in dependency order: containers, registry entries, devices.
    pub fn to_entries(&self) -> Vec<LdapEntry> {
        let l = &self.layout;
        let mut out = vec![
            self.root.to_entry(&l.config_dn),
            self.devices_root
                .to_entry(&l.config_dn.child(attr::CN, &self.devices_root.cn)),
            self.registry_root
                .to_entry(&l.config_dn.child(attr::CN, &self.registry_root.cn)),
        ];
        out.extend(
            self.unique_ae_titles
                .iter()
                .map(|u| u.to_entry(&l.registry_dn())),
        );
        for d in &self.devices {
            out.extend(d.to_entries(l));
        }
        out
    }

    /// The device named `name` (device names compare without regard to case).
    pub fn device(&self, name: &str) -> Option<&Device> {
        self.devices
            .iter()
            .find(|d| d.name.eq_ignore_ascii_case(name))
    }
}

fn without_operational(e: &LdapEntry) -> LdapEntry {
    LdapEntry {
        dn: e.dn.clone(),
        attributes: e
            .attributes
            .iter()
            .filter(|a| !schema::is_operational(&a.name))
            .cloned()
            .collect(),
    }
}

/// Typed access to one entry's attributes with errors that name the entry.
struct Reader<'a> {
    e: &'a LdapEntry,
    class: &'static str,
    /// The class's MUST and MAY attributes.
    known: [&'static [&'static str]; 2],
}

impl<'a> Reader<'a> {
    fn new(e: &'a LdapEntry, class: &'static str) -> Result<Self> {
        if !e.has_object_class(class) {
            return Err(Error::mapping(
                &e.dn,
                attr::OBJECT_CLASS,
                format!("not a {class}"),
            ));
        }
        let known = schema::object_class(class).map_or([&[][..], &[][..]], |c| [c.must, c.may]);
        Ok(Reader { e, class, known })
    }

    fn err(&self, name: &str, reason: impl Into<String>) -> Error {
        Error::mapping(&self.e.dn, name, reason)
    }

    fn strs(&self, name: &str) -> Result<Vec<String>> {
        self.e
            .values(name)
            .iter()
            .map(|v| String::from_utf8(v.clone()).map_err(|_| self.err(name, "value is not UTF-8")))
            .collect()
    }

    fn str(&self, name: &str) -> Result<Option<String>> {
        let mut v = self.strs(name)?;
        if v.len() > 1 {
            return Err(self.err(name, format!("single-valued but has {} values", v.len())));
        }
        Ok(v.pop())
    }

    fn req_str(&self, name: &str) -> Result<String> {
        self.str(name)?
            .ok_or_else(|| self.err(name, "mandatory attribute missing"))
    }

    fn bytes(&self, name: &str) -> Vec<Vec<u8>> {
        self.e.values(name).to_vec()
    }

    fn bool(&self, name: &str) -> Result<Option<bool>> {
        match self.str(name)? {
            None => Ok(None),
            Some(s) if s.eq_ignore_ascii_case("TRUE") => Ok(Some(true)),
            Some(s) if s.eq_ignore_ascii_case("FALSE") => Ok(Some(false)),
            Some(s) => Err(self.err(name, format!("{s:?} is not TRUE or FALSE"))),
        }
    }

    fn req_bool(&self, name: &str) -> Result<bool> {
        self.bool(name)?
            .ok_or_else(|| self.err(name, "mandatory attribute missing"))
    }

    fn ae_title(&self) -> Result<AeTitle> {
        let s = self.req_str(attr::AE_TITLE)?;
        let aet = AeTitle::new(&s).map_err(|err| self.err(attr::AE_TITLE, err.to_string()))?;
        // Read by object class: an AE named by another RDN (e.g. `cn=`) loads.
        if self.rdn_is(attr::AE_TITLE) && aet != self.rdn_value(attr::AE_TITLE)? {
            return Err(self.err("dn", format!("RDN and {} {aet} differ", attr::AE_TITLE)));
        }
        Ok(aet)
    }

    /// The entry's RDN value, which must be the single AVA `attr=…` of the Annex H
    /// tree: writing derives the DN from the name, so any other RDN would move the
    /// entry (and what lies below it).
    fn rdn_value(&self, attr: &str) -> Result<&'a str> {
        match self.e.dn.rdn().map(|r| r.0.as_slice()) {
            Some([ava]) if ava.attr.eq_ignore_ascii_case(attr) => Ok(ava.value.as_str()),
            _ => Err(self.err("dn", format!("the RDN must be {attr}=<name>"))),
        }
    }

    /// Whether the RDN is the single AVA `attr=…`.
    fn rdn_is(&self, attr: &str) -> bool {
        matches!(self.e.dn.rdn().map(|r| r.0.as_slice()), Some([ava]) if ava.attr.eq_ignore_ascii_case(attr))
    }

    /// The object's name within its parent (H.1.1.3/H.1.1.4: cn "can be used
    /// as the RDN"): the `cn` RDN value; with another RDN, the entry's `cn`,
    /// else the RDN's first value. Entries are read by object class, not by
    /// RDN shape.
    fn name(&self) -> Result<String> {
        if self.rdn_is(attr::CN) {
            return self.rdn_cn();
        }
        if let Some(cn) = self.strs(attr::CN)?.into_iter().next() {
            return Ok(cn);
        }
        match self.e.dn.rdn().and_then(|r| r.0.first()) {
            Some(ava) => Ok(ava.value.clone()),
            None => Err(self.err("dn", "the entry has no RDN")),
        }
    }

    /// The `cn` RDN value: the object's name within its parent.
    fn rdn_cn(&self) -> Result<String> {
        self.rdn_value(attr::CN).map(str::to_string)
    }

    /// Everything the class does not define: other object classes and attributes.
    /// With `cn_name`, `cn` values other than the object's name are kept too.
    fn extensions(&self, cn_name: Option<&str>) -> Result<Extensions> {
        let is_known = |n: &str| {
            n.eq_ignore_ascii_case(attr::OBJECT_CLASS)
                || schema::is_operational(n)
                || self
                    .known
                    .iter()
                    .copied()
                    .flatten()
                    .any(|k| k.eq_ignore_ascii_case(n))
        };
        let object_classes = self
            .e
            .object_classes()
            .filter(|c| !c.eq_ignore_ascii_case(self.class) && !c.eq_ignore_ascii_case(oc::TOP))
            .map(str::to_string)
            .collect();
        let mut attributes: Vec<Attribute> = self
            .e
            .attributes
            .iter()
            .filter(|a| !is_known(&a.name))
            .cloned()
            .collect();
        if let Some(name) = cn_name {
            let extra: Vec<Vec<u8>> = self
                .e
                .values(attr::CN)
                .iter()
                .filter(|v| !v.eq_ignore_ascii_case(name.as_bytes()))
                .cloned()
                .collect();
            if !extra.is_empty() {
                // Written back merged with the name's `cn`, so the spelling is the model's.
                attributes.push(Attribute {
                    name: attr::CN.to_string(),
                    values: extra,
                });
            }
        }
        Ok(Extensions {
            object_classes,
            attributes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample;

    fn layout() -> Layout {
        Layout::under(&Dn::parse("dc=example,dc=org").unwrap())
    }

    #[test]
    fn device_round_trips_through_entries() {
        let d = sample::sample_modality("ct-1", "CT", 3).unwrap();
        let entries = d.to_entries(&layout());
        assert_eq!(entries.len(), 1 + 2 + 3 * 4 + 1);
        assert_eq!(
            entries[0].dn.to_string(),
            "dicomDeviceName=ct-1,cn=Devices,cn=DICOM Configuration,dc=example,dc=org"
        );
        assert_eq!(
            entries[0].values("objectClass"),
            &[b"dicomDevice".to_vec(), b"dcmDevice".to_vec()]
        );
        let ae = &entries[3];
        assert_eq!(
            ae.strings("dicomNetworkConnectionReference")
                .collect::<Vec<_>>(),
            [
                "cn=dicom,dicomDeviceName=ct-1,cn=Devices,cn=DICOM Configuration,dc=example,dc=org",
                "cn=dicom-tls,dicomDeviceName=ct-1,cn=Devices,cn=DICOM Configuration,dc=example,dc=org"
            ]
        );
        assert_eq!(ae.first("dcmAcceptedCallingAETitle"), Some("PACS"));
        let mut shuffled = entries.clone();
        shuffled.reverse();
        assert_eq!(Device::from_entries(&entries).unwrap(), d, "order kept");
        assert_eq!(
            Device::from_entries(&shuffled).unwrap().canonical(),
            d.clone().canonical()
        );
    }

    #[test]
    fn reading_ignores_case_top_and_operational_attributes() {
        let dn = layout().device_dn("mr");
        let e = LdapEntry::new(dn.clone())
            .with("OBJECTCLASS", "top")
            .with("objectclass", "DICOMDEVICE")
            .with("DicomDeviceName", "mr")
            .with("dicominstalled", "TRUE")
            .with("entryUUID", "0b7f…")
            .with("userCertificate;binary", vec![0x30u8, 0x82]);
        let conn = LdapEntry::new(dn.child("cn", "Dicom"))
            .with("objectClass", "dicomNetworkConnection")
            .with("cn", "Dicom")
            .with("dicomHostname", "mr.example.org")
            .with("createTimestamp", "20260101000000Z");
        let ae = LdapEntry::new(dn.child("dicomAETitle", "MR"))
            .with("objectClass", "dicomNetworkAE")
            .with("dicomAETitle", "MR")
            .with(
                "dicomNetworkConnectionReference",
                "CN=dicom, DICOMDEVICENAME=MR,cn=devices,cn=DICOM Configuration,dc=example,dc=org",
            )
            .with("dicomAssociationInitiator", "TRUE")
            .with("dicomAssociationAcceptor", "FALSE");
        let d = Device::from_entries(&[ae, e, conn]).unwrap();
        assert!(d.installed);
        assert_eq!(d.connections[0].name, "Dicom");
        assert_eq!(d.connections[0].port, None);
        // References resolve to the connection's own name.
        assert_eq!(d.network_aes[0].connections, ["Dicom"]);
        assert!(d.extensions.object_classes.is_empty(), "top is implied");
        assert_eq!(d.extensions.attributes.len(), 1);
        assert!(d.connections[0].extensions.is_empty());
        assert_eq!(
            d.to_entry(&dn).values("userCertificate;binary"),
            &[vec![0x30u8, 0x82]]
        );
    }

    #[test]
    fn mapping_errors_name_entry_and_attribute() {
        let dn = layout().device_dn("x");
        let bad = |attr: &str, v: &str| {
            Device::from_device_entry(
                &LdapEntry::new(dn.clone())
                    .with("objectClass", "dicomDevice")
                    .with("dicomDeviceName", "x")
                    .with(attr, v),
            )
        };
        assert!(bad("dicomInstalled", "TRUE").is_ok());
        let err = bad("dicomInstalled", "yes").unwrap_err();
        assert!(
            matches!(&err, Error::Mapping { attribute, .. } if attribute == "dicomInstalled"),
            "{err}"
        );
        assert!(err.to_string().contains("dicomDeviceName=x"));
        assert!(
            Device::from_device_entry(
                &LdapEntry::new(dn.clone())
                    .with("objectClass", "dicomDevice")
                    .with("dicomDeviceName", "x")
            )
            .is_err()
        );
        let conn = |port: &str| {
            NetworkConnection::from_entry(
                &LdapEntry::new(dn.child("cn", "c"))
                    .with("objectClass", "dicomNetworkConnection")
                    .with("dicomHostname", "h")
                    .with("dicomPort", port),
            )
        };
        assert_eq!(conn("104").unwrap().port, Some(104));
        assert!(conn("70000").is_err());
        assert!(conn("-1").is_err());
        let foreign = LdapEntry::new(dn.child("dicomAETitle", "A"))
            .with("objectClass", "dicomNetworkAE")
            .with("dicomAETitle", "A")
            .with("dicomNetworkConnectionReference", "cn=dicom,dicomDeviceName=other,cn=Devices,cn=DICOM Configuration,dc=example,dc=org")
            .with("dicomAssociationInitiator", "TRUE")
            .with("dicomAssociationAcceptor", "TRUE");
        assert!(NetworkAe::from_entry(&foreign, &dn).is_err());
        let bad_aet = LdapEntry::new(dn.child("dicomAETitle", "A"))
            .with("objectClass", "dicomUniqueAETitle")
            .with("dicomAETitle", "A\\B");
        assert!(UniqueAeTitle::from_entry(&bad_aet).is_err());
        // Fuzz finding: an RDN that disagrees with the naming attribute would move
        // the entry (and its children) on write, so it is refused.
        let moved = LdapEntry::new(dn.child("dicomAETitle", ")T1"))
            .with("objectClass", "dicomNetworkAE")
            .with("dicomAETitle", "CT1")
            .with("dicomAssociationInitiator", "TRUE")
            .with("dicomAssociationAcceptor", "TRUE");
        assert!(NetworkAe::from_entry(&moved, &dn).is_err());
        // Read by object class (H.1.1.3: cn "can be used as the RDN"): a
        // multi-valued RDN loads, named by its first value.
        let multi = LdapEntry::new(Dn::parse("cn=a+sn=b").unwrap())
            .with("objectClass", "dicomNetworkConnection")
            .with("dicomHostname", "h");
        assert_eq!(NetworkConnection::from_entry(&multi).unwrap().name, "a");
    }

    #[test]
    fn entries_with_other_rdns_load_by_object_class() {
        let dn = layout().device_dn("us");
        let device = LdapEntry::new(dn.clone())
            .with("objectClass", "dicomDevice")
            .with("dicomDeviceName", "us")
            .with("dicomInstalled", "TRUE");
        // A connection named by dicomHostname, with its cn as an attribute.
        let conn_dn = dn.child("dicomHostname", "us.example.org");
        let conn = LdapEntry::new(conn_dn.clone())
            .with("objectClass", "dicomNetworkConnection")
            .with("cn", "dicom")
            .with("dicomHostname", "us.example.org")
            .with("dicomPort", "104");
        // One without cn at all: named by its RDN value.
        let bare_dn = dn.child("dicomPort", "2762");
        let bare = LdapEntry::new(bare_dn.clone())
            .with("objectClass", "dicomNetworkConnection")
            .with("dicomHostname", "us.example.org")
            .with("dicomPort", "2762");
        // An AE named by cn, and a TC named by another attribute.
        let ae_dn = dn.child("cn", "US AE");
        let ae = LdapEntry::new(ae_dn.clone())
            .with("objectClass", "dicomNetworkAE")
            .with("dicomAETitle", "US1")
            .with("dicomNetworkConnectionReference", conn_dn.to_string())
            .with("dicomNetworkConnectionReference", bare_dn.to_string())
            .with("dicomAssociationInitiator", "TRUE")
            .with("dicomAssociationAcceptor", "TRUE");
        let tc = LdapEntry::new(ae_dn.child("dicomSOPClass", "1.2.840.10008.1.1"))
            .with("objectClass", "dicomTransferCapability")
            .with("dicomSOPClass", "1.2.840.10008.1.1")
            .with("dicomTransferRole", "SCP")
            .with("dicomTransferSyntax", "1.2.840.10008.1.2");
        let d = Device::from_entries(&[tc, ae, bare, conn, device]).unwrap();
        let mut names: Vec<&str> = d.connections.iter().map(|c| c.name.as_str()).collect();
        names.sort();
        assert_eq!(names, ["2762", "dicom"]);
        assert_eq!(d.network_aes[0].ae_title, "US1");
        let mut refs = d.network_aes[0].connections.clone();
        refs.sort();
        assert_eq!(refs, ["2762", "dicom"]);
        assert_eq!(d.network_aes[0].connections_in(&d).count(), 2);
        assert_eq!(d.network_aes[0].transfer_capabilities.len(), 1);
        assert_eq!(
            d.network_aes[0].transfer_capabilities[0].name,
            "1.2.840.10008.1.1"
        );
    }

    #[test]
    fn configuration_round_trips() {
        let mut cfg = Configuration::new(&Dn::parse("dc=example,dc=org").unwrap());
        for (n, p) in [("ct-1", "CT"), ("mr-1", "MR")] {
            let d = sample::sample_modality(n, p, 2).unwrap();
            cfg.unique_ae_titles
                .extend(d.ae_titles().cloned().map(UniqueAeTitle::new));
            cfg.devices.push(d);
        }
        let mut entries = cfg.to_entries();
        entries.insert(
            0,
            LdapEntry::new(Dn::parse("dc=example,dc=org").unwrap()).with("objectClass", "domain"),
        );
        let back = Configuration::from_entries(&entries).unwrap();
        assert_eq!(back, cfg);
        assert!(back.device("MR-1").is_some());
        // Fuzz finding: a device entry nested deeper below cn=Devices would move on
        // write (and could collide with another device), so it is refused.
        let nested_dn = cfg
            .layout
            .devices_dn()
            .child("cn", "folder")
            .child("dicomDeviceName", "ct-9");
        let nested = LdapEntry::new(nested_dn)
            .with("objectClass", "dicomDevice")
            .with("dicomDeviceName", "ct-9")
            .with("dicomInstalled", "TRUE");
        entries.push(nested);
        assert!(Configuration::from_entries(&entries).is_err());
    }
}
