//! The objects of the DICOM Application Configuration data model (PS3.15 Annex H,
//! H.1.1–H.1.3), with every attribute the schema defines.
//!
//! Single-valued optional attributes are `Option`, multi-valued ones `Vec`; vendor
//! data is bytes. Object classes and attributes this crate does not know (vendor
//! extensions such as dcm4che's `dcmNetworkAE`) ride along in [`Extensions`] and
//! are written back unchanged.

use serde::{Deserialize, Serialize};

use crate::{AeTitle, Attribute, Dn, LdapEntry};

/// Object classes and attributes of an entry that the model does not know.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Extensions {
    /// Additional object classes (e.g. `dcmDevice`), `top` excluded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub object_classes: Vec<String>,
    /// Additional attributes, in the order read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
}

impl Extensions {
    /// Whether there is nothing extra.
    pub fn is_empty(&self) -> bool {
        self.object_classes.is_empty() && self.attributes.is_empty()
    }
}

macro_rules! root_object {
    ($(#[$doc:meta])* $name:ident, $cn:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        pub struct $name {
            /// The `cn` (its RDN value).
            pub cn: String,
            /// `description`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub description: Option<String>,
            /// Unknown object classes and attributes.
            #[serde(default, skip_serializing_if = "Extensions::is_empty")]
            pub extensions: Extensions,
        }

        impl Default for $name {
            fn default() -> Self {
                $name { cn: $cn.to_string(), description: None, extensions: Extensions::default() }
            }
        }
    };
}

root_object!(
    /// `dicomConfigurationRoot`, conventionally `cn=DICOM Configuration`.
    ConfigurationRoot,
    crate::schema::rdn::CONFIGURATION
);
root_object!(
    /// `dicomDevicesRoot`, conventionally `cn=Devices`.
    DevicesRoot,
    crate::schema::rdn::DEVICES
);
root_object!(
    /// `dicomUniqueAETitlesRegistryRoot`, conventionally `cn=Unique AE Titles Registry`.
    UniqueAeTitlesRegistryRoot,
    crate::schema::rdn::UNIQUE_AE_TITLES_REGISTRY
);

/// `dicomUniqueAETitle`: one reserved AE title in the registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UniqueAeTitle {
    /// `dicomAETitle`.
    pub ae_title: AeTitle,
    /// Unknown object classes and attributes.
    #[serde(default, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}

impl UniqueAeTitle {
    /// A registry entry for `ae_title`.
    pub fn new(ae_title: AeTitle) -> Self {
        UniqueAeTitle {
            ae_title,
            extensions: Extensions::default(),
        }
    }
}

/// `dicomTransferRole`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
// Closed by PS3.15 H.1.3 (dicomTransferRole is SCU or SCP).
#[allow(clippy::exhaustive_enums)]
pub enum TransferRole {
    /// Service class user.
    #[serde(rename = "SCU")]
    Scu,
    /// Service class provider.
    #[serde(rename = "SCP")]
    Scp,
}

impl TransferRole {
    /// `"SCU"` or `"SCP"`.
    pub fn as_str(self) -> &'static str {
        match self {
            TransferRole::Scu => "SCU",
            TransferRole::Scp => "SCP",
        }
    }

    /// Parses `SCU`/`SCP` ignoring case (the attribute is caseIgnore).
    pub fn parse(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("SCU") {
            Some(TransferRole::Scu)
        } else if s.eq_ignore_ascii_case("SCP") {
            Some(TransferRole::Scp)
        } else {
            None
        }
    }
}

/// `dicomTransferCapability`: one SOP class in one role with its transfer syntaxes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferCapability {
    /// `cn`, the entry's RDN value under its AE.
    pub name: String,
    /// `dicomSOPClass` (a UID).
    pub sop_class: String,
    /// `dicomTransferRole`.
    pub role: TransferRole,
    /// `dicomTransferSyntax` (UIDs, at least one).
    pub transfer_syntaxes: Vec<String>,
    /// Unknown object classes and attributes.
    #[serde(default, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}

/// Verification SOP Class UID.
pub const VERIFICATION_SOP_CLASS: &str = "1.2.840.10008.1.1";
/// Implicit VR Little Endian, the default transfer syntax.
pub const IMPLICIT_VR_LITTLE_ENDIAN: &str = "1.2.840.10008.1.2";
/// Explicit VR Little Endian.
pub const EXPLICIT_VR_LITTLE_ENDIAN: &str = "1.2.840.10008.1.2.1";

impl TransferCapability {
    /// A transfer capability named `name`.
    pub fn new<S: Into<String>>(
        name: &str,
        sop_class: &str,
        role: TransferRole,
        transfer_syntaxes: impl IntoIterator<Item = S>,
    ) -> Self {
        TransferCapability {
            name: name.to_string(),
            sop_class: sop_class.to_string(),
            role,
            transfer_syntaxes: transfer_syntaxes.into_iter().map(Into::into).collect(),
            extensions: Extensions::default(),
        }
    }

    /// Verification in `role` with Implicit and Explicit VR Little Endian.
    pub fn verification(role: TransferRole) -> Self {
        let name = match role {
            TransferRole::Scu => "Verification SCU",
            TransferRole::Scp => "Verification SCP",
        };
        Self::new(
            name,
            VERIFICATION_SOP_CLASS,
            role,
            [IMPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN],
        )
    }
}

/// `dicomNetworkConnection`: where an AE listens or from where it calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkConnection {
    /// `cn`, the entry's RDN value under its device; AEs refer to it by this name.
    pub name: String,
    /// `dicomHostname`: host name or IP literal.
    pub hostname: String,
    /// `dicomPort`; absent for a connection that only initiates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// `dicomTLSCipherSuite`; non-empty means the connection uses TLS.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tls_cipher_suites: Vec<String>,
    /// `dicomInstalled`; `None` inherits the device's value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installed: Option<bool>,
    /// Unknown object classes and attributes.
    #[serde(default, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}

impl NetworkConnection {
    /// A connection `name` at `hostname:port`.
    pub fn new(name: &str, hostname: &str, port: Option<u16>) -> Self {
        NetworkConnection {
            name: name.to_string(),
            hostname: hostname.to_string(),
            port,
            tls_cipher_suites: Vec::new(),
            installed: None,
            extensions: Extensions::default(),
        }
    }

    /// Builder: TLS with these cipher suites.
    pub fn tls<S: Into<String>>(mut self, suites: impl IntoIterator<Item = S>) -> Self {
        self.tls_cipher_suites = suites.into_iter().map(Into::into).collect();
        self
    }

    /// Builder: explicit `dicomInstalled`.
    pub fn installed(mut self, installed: bool) -> Self {
        self.installed = Some(installed);
        self
    }

    /// Whether TLS is used (cipher suites are configured).
    pub fn is_tls(&self) -> bool {
        !self.tls_cipher_suites.is_empty()
    }

    /// The one installed rule (PS3.15 H.1.1, R.5.2): a device marked not
    /// installed takes its connections offline whatever they say; a
    /// connection without `dicomInstalled` inherits the device's value.
    pub fn effective_installed(&self, device: &Device) -> bool {
        device.installed && self.installed.unwrap_or(true)
    }
}

/// `dicomNetworkAE`: a Network AE of a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkAe {
    /// `dicomAETitle`, also the entry's RDN value.
    pub ae_title: AeTitle,
    /// `dicomDescription`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `dicomVendorData`.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        with = "crate::bytes_serde::list"
    )]
    pub vendor_data: Vec<Vec<u8>>,
    /// `dicomNetworkConnectionReference`, as names of the device's connections.
    pub connections: Vec<String>,
    /// `dicomApplicationCluster`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub application_clusters: Vec<String>,
    /// `dicomAssociationInitiator`.
    pub association_initiator: bool,
    /// `dicomAssociationAcceptor`.
    pub association_acceptor: bool,
    /// `dicomPreferredCalledAETitle`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preferred_called_ae_titles: Vec<AeTitle>,
    /// `dicomPreferredCallingAETitle`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preferred_calling_ae_titles: Vec<AeTitle>,
    /// `dicomSupportedCharacterSet`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supported_character_sets: Vec<String>,
    /// `dicomInstalled`; `None` inherits the device's value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installed: Option<bool>,
    /// Child `dicomTransferCapability` entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transfer_capabilities: Vec<TransferCapability>,
    /// Unknown object classes and attributes.
    #[serde(default, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}

impl NetworkAe {
    /// An AE that neither initiates nor accepts yet and has no connections.
    pub fn new(ae_title: AeTitle) -> Self {
        NetworkAe {
            ae_title,
            description: None,
            vendor_data: Vec::new(),
            connections: Vec::new(),
            application_clusters: Vec::new(),
            association_initiator: false,
            association_acceptor: false,
            preferred_called_ae_titles: Vec::new(),
            preferred_calling_ae_titles: Vec::new(),
            supported_character_sets: Vec::new(),
            installed: None,
            transfer_capabilities: Vec::new(),
            extensions: Extensions::default(),
        }
    }

    /// Builder: reference the device's connection `name`.
    pub fn with_connection(mut self, name: &str) -> Self {
        self.connections.push(name.to_string());
        self
    }

    /// Builder: association roles.
    pub fn roles(mut self, initiator: bool, acceptor: bool) -> Self {
        self.association_initiator = initiator;
        self.association_acceptor = acceptor;
        self
    }

    /// Builder: add a transfer capability.
    pub fn with_transfer_capability(mut self, tc: TransferCapability) -> Self {
        self.transfer_capabilities.push(tc);
        self
    }

    /// Builder: `dicomDescription`.
    pub fn description(mut self, d: &str) -> Self {
        self.description = Some(d.to_string());
        self
    }

    /// Builder: explicit `dicomInstalled`.
    pub fn installed(mut self, installed: bool) -> Self {
        self.installed = Some(installed);
        self
    }

    /// The one installed rule (PS3.15 H.1.1, R.5.2): a device marked not
    /// installed takes its AEs offline whatever they say; an AE without
    /// `dicomInstalled` inherits the device's value.
    pub fn effective_installed(&self, device: &Device) -> bool {
        device.installed && self.installed.unwrap_or(true)
    }

    /// The device's connections this AE references (unknown names skipped).
    pub fn connections_in<'d>(
        &'d self,
        device: &'d Device,
    ) -> impl Iterator<Item = &'d NetworkConnection> {
        self.connections.iter().filter_map(|n| device.connection(n))
    }
}

/// `dicomDevice`: a device with its connections and Network AEs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// `dicomDeviceName`, also the entry's RDN value.
    pub name: String,
    /// `dicomDescription`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `dicomManufacturer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    /// `dicomManufacturerModelName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer_model_name: Option<String>,
    /// `dicomSoftwareVersion`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub software_versions: Vec<String>,
    /// `dicomVendorData`.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        with = "crate::bytes_serde::list"
    )]
    pub vendor_data: Vec<Vec<u8>>,
    /// `dicomPrimaryDeviceType` (PS3.16 CID 29/30 codes or local values).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub primary_device_types: Vec<String>,
    /// `dicomRelatedDeviceReference`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub related_device_references: Vec<Dn>,
    /// `dicomAuthorizedNodeCertificateReference`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorized_node_certificate_references: Vec<Dn>,
    /// `dicomThisNodeCertificateReference`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub this_node_certificate_references: Vec<Dn>,
    /// `dicomInstalled` (mandatory on the device).
    pub installed: bool,
    /// `dicomStationName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub station_name: Option<String>,
    /// `dicomDeviceSerialNumber`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_serial_number: Option<String>,
    /// `dicomInstitutionName`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub institution_names: Vec<String>,
    /// `dicomInstitutionAddress`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub institution_addresses: Vec<String>,
    /// `dicomInstitutionDepartmentName`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub institution_department_names: Vec<String>,
    /// `dicomIssuerOfPatientID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_of_patient_id: Option<String>,
    /// `dicomIssuerOfAccessionNumber`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_of_accession_number: Option<String>,
    /// `dicomOrderPlacerIdentifier`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_placer_identifier: Option<String>,
    /// `dicomOrderFillerIdentifier`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_filler_identifier: Option<String>,
    /// `dicomIssuerOfAdmissionID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_of_admission_id: Option<String>,
    /// `dicomIssuerOfServiceEpisodeID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_of_service_episode_id: Option<String>,
    /// `dicomIssuerOfContainerIdentifier`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_of_container_identifier: Option<String>,
    /// `dicomIssuerOfSpecimenIdentifier`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_of_specimen_identifier: Option<String>,
    /// `dicomInstitutionCode`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub institution_codes: Vec<String>,
    /// `dicomDeviceUID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_uid: Option<String>,
    /// Child `dicomNetworkConnection` entries.
    #[serde(default)]
    pub connections: Vec<NetworkConnection>,
    /// Child `dicomNetworkAE` entries.
    #[serde(default)]
    pub network_aes: Vec<NetworkAe>,
    /// Unknown object classes and attributes of the device entry.
    #[serde(default, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
    /// Entries below the device that the model does not know (vendor objects),
    /// with DNs relative to the device entry; written back unchanged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_entries: Vec<LdapEntry>,
}

impl Device {
    /// A device `name`, installed, with nothing else.
    pub fn new(name: &str) -> Self {
        Device {
            name: name.to_string(),
            description: None,
            manufacturer: None,
            manufacturer_model_name: None,
            software_versions: Vec::new(),
            vendor_data: Vec::new(),
            primary_device_types: Vec::new(),
            related_device_references: Vec::new(),
            authorized_node_certificate_references: Vec::new(),
            this_node_certificate_references: Vec::new(),
            installed: true,
            station_name: None,
            device_serial_number: None,
            institution_names: Vec::new(),
            institution_addresses: Vec::new(),
            institution_department_names: Vec::new(),
            issuer_of_patient_id: None,
            issuer_of_accession_number: None,
            order_placer_identifier: None,
            order_filler_identifier: None,
            issuer_of_admission_id: None,
            issuer_of_service_episode_id: None,
            issuer_of_container_identifier: None,
            issuer_of_specimen_identifier: None,
            institution_codes: Vec::new(),
            device_uid: None,
            connections: Vec::new(),
            network_aes: Vec::new(),
            extensions: Extensions::default(),
            other_entries: Vec::new(),
        }
    }

    /// Builder: add a connection.
    pub fn with_connection(mut self, c: NetworkConnection) -> Self {
        self.connections.push(c);
        self
    }

    /// Builder: add a Network AE.
    pub fn with_ae(mut self, ae: NetworkAe) -> Self {
        self.network_aes.push(ae);
        self
    }

    /// Builder: add a primary device type (e.g. `CT`, `ARCHIVE`).
    pub fn with_device_type(mut self, t: &str) -> Self {
        self.primary_device_types.push(t.to_string());
        self
    }

    /// Builder: `dicomInstalled`.
    pub fn installed(mut self, installed: bool) -> Self {
        self.installed = installed;
        self
    }

    /// The connection named `name` (cn compares without regard to case).
    pub fn connection(&self, name: &str) -> Option<&NetworkConnection> {
        self.connections
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// The AE titled `aet`.
    pub fn ae(&self, aet: &AeTitle) -> Option<&NetworkAe> {
        self.network_aes.iter().find(|a| &a.ae_title == aet)
    }

    /// The same description with children in a canonical order (connections by
    /// name, AEs by title, transfer capabilities by name): LDAP does not order
    /// entries, so compare canonical forms when the source may reorder them.
    pub fn canonical(mut self) -> Self {
        self.connections.sort_by_key(|c| c.name.to_lowercase());
        self.network_aes.sort_by(|a, b| a.ae_title.cmp(&b.ae_title));
        for ae in &mut self.network_aes {
            ae.transfer_capabilities
                .sort_by_key(|t| t.name.to_lowercase());
        }
        self.other_entries.sort_by_key(|e| e.dn.normalized());
        self
    }

    /// The AE titles of the device, for the unique AE title registry.
    pub fn ae_titles(&self) -> impl Iterator<Item = &AeTitle> {
        self.network_aes.iter().map(|a| &a.ae_title)
    }
}
