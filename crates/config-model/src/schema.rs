//! The facts of the PS3.15 Annex H LDAP schema (H.1.3) in one place: attribute names,
//! OIDs, syntaxes, matching rules and object classes.
//!
//! Every other crate and the lab refer to these tables; [`openldap_schema`] and
//! [`openldap_schema_ldif`] render them for OpenLDAP, [`ds389_schema_ldif`] for
//! 389 Directory Server, so the server's schema and the code can never disagree.

use std::fmt::Write as _;

/// OID arc of the DICOM attribute types (`…3.N`).
pub const ATTRIBUTE_ARC: &str = "1.2.840.10008.15.0.3";
/// OID arc of the DICOM object classes (`…4.N`).
pub const OBJECT_CLASS_ARC: &str = "1.2.840.10008.15.0.4";

/// LDAP attribute syntaxes used by the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// Closed: the syntaxes the PS3.15 H.1.3 schema uses, which this crate's tables fix.
#[allow(clippy::exhaustive_enums)]
pub enum Syntax {
    /// Directory String (UTF-8), 1.3.6.1.4.1.1466.115.121.1.15.
    DirectoryString,
    /// IA5 String (ASCII), …1.26.
    Ia5String,
    /// Boolean (`TRUE`/`FALSE`), …1.7.
    Boolean,
    /// Integer, …1.27.
    Integer,
    /// Distinguished Name, …1.12.
    Dn,
    /// Object identifier, …1.38.
    Oid,
    /// Binary (octets), …1.5.
    Binary,
}

impl Syntax {
    /// The syntax OID.
    pub const fn oid(self) -> &'static str {
        match self {
            Syntax::DirectoryString => "1.3.6.1.4.1.1466.115.121.1.15",
            Syntax::Ia5String => "1.3.6.1.4.1.1466.115.121.1.26",
            Syntax::Boolean => "1.3.6.1.4.1.1466.115.121.1.7",
            Syntax::Integer => "1.3.6.1.4.1.1466.115.121.1.27",
            Syntax::Dn => "1.3.6.1.4.1.1466.115.121.1.12",
            Syntax::Oid => "1.3.6.1.4.1.1466.115.121.1.38",
            Syntax::Binary => "1.3.6.1.4.1.1466.115.121.1.5",
        }
    }
}

/// Equality matching of an attribute type (the SUBSTR rule follows from it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// Closed: the matching rules the PS3.15 H.1.3 schema uses, which this crate's tables fix.
#[allow(clippy::exhaustive_enums)]
pub enum Equality {
    /// caseIgnoreMatch (+ caseIgnoreSubstringsMatch).
    CaseIgnore,
    /// caseExactMatch (+ caseExactSubstringsMatch).
    CaseExact,
    /// caseExactIA5Match (+ caseExactIA5SubstringsMatch).
    CaseExactIa5,
    /// distinguishedNameMatch.
    DistinguishedName,
    /// booleanMatch.
    Boolean,
    /// integerMatch.
    Integer,
    /// objectIdentifierMatch.
    ObjectIdentifier,
    /// No equality rule (binary values).
    None,
}

impl Equality {
    /// The EQUALITY rule name, if any.
    pub const fn rule(self) -> Option<&'static str> {
        match self {
            Equality::CaseIgnore => Some("caseIgnoreMatch"),
            Equality::CaseExact => Some("caseExactMatch"),
            Equality::CaseExactIa5 => Some("caseExactIA5Match"),
            Equality::DistinguishedName => Some("distinguishedNameMatch"),
            Equality::Boolean => Some("booleanMatch"),
            Equality::Integer => Some("integerMatch"),
            Equality::ObjectIdentifier => Some("objectIdentifierMatch"),
            Equality::None => None,
        }
    }

    /// The SUBSTR rule name, if the attribute has one.
    pub const fn substr(self) -> Option<&'static str> {
        match self {
            Equality::CaseIgnore => Some("caseIgnoreSubstringsMatch"),
            Equality::CaseExact => Some("caseExactSubstringsMatch"),
            Equality::CaseExactIa5 => Some("caseExactIA5SubstringsMatch"),
            _ => None,
        }
    }

    /// Whether values compare without regard to case.
    pub const fn ignores_case(self) -> bool {
        matches!(self, Equality::CaseIgnore)
    }
}

/// One DICOM attribute type of H.1.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttributeType {
    /// N in the OID `1.2.840.10008.15.0.3.N`.
    pub number: u32,
    /// The LDAP name.
    pub name: &'static str,
    /// Value syntax.
    pub syntax: Syntax,
    /// SINGLE-VALUE?
    pub single: bool,
    /// Equality matching.
    pub equality: Equality,
}

impl AttributeType {
    /// The full OID.
    pub fn oid(&self) -> String {
        format!("{ATTRIBUTE_ARC}.{}", self.number)
    }

    /// The RFC 4512 definition, as OpenLDAP reads it.
    pub fn definition(&self) -> String {
        let mut s = format!("( {} NAME '{}'", self.oid(), self.name);
        if let Some(eq) = self.equality.rule() {
            let _ = write!(s, " EQUALITY {eq}");
        }
        if let Some(sub) = self.equality.substr() {
            let _ = write!(s, " SUBSTR {sub}");
        }
        let _ = write!(s, " SYNTAX {}", self.syntax.oid());
        if self.single {
            s.push_str(" SINGLE-VALUE");
        }
        s.push_str(" )");
        s
    }
}

/// Attribute names, as constants so a typo is a compile error.
pub mod attr {
    /// objectClass (RFC 4512).
    pub const OBJECT_CLASS: &str = "objectClass";
    /// cn (RFC 4519).
    pub const CN: &str = "cn";
    /// description (RFC 4519).
    pub const DESCRIPTION: &str = "description";
    /// 1
    pub const DEVICE_NAME: &str = "dicomDeviceName";
    /// 2
    pub const DICOM_DESCRIPTION: &str = "dicomDescription";
    /// 3
    pub const MANUFACTURER: &str = "dicomManufacturer";
    /// 4
    pub const MANUFACTURER_MODEL_NAME: &str = "dicomManufacturerModelName";
    /// 5
    pub const SOFTWARE_VERSION: &str = "dicomSoftwareVersion";
    /// 6
    pub const VENDOR_DATA: &str = "dicomVendorData";
    /// 7
    pub const AE_TITLE: &str = "dicomAETitle";
    /// 8
    pub const NETWORK_CONNECTION_REFERENCE: &str = "dicomNetworkConnectionReference";
    /// 9
    pub const APPLICATION_CLUSTER: &str = "dicomApplicationCluster";
    /// 10
    pub const ASSOCIATION_INITIATOR: &str = "dicomAssociationInitiator";
    /// 11
    pub const ASSOCIATION_ACCEPTOR: &str = "dicomAssociationAcceptor";
    /// 12
    pub const HOSTNAME: &str = "dicomHostname";
    /// 13
    pub const PORT: &str = "dicomPort";
    /// 14
    pub const SOP_CLASS: &str = "dicomSOPClass";
    /// 15
    pub const TRANSFER_ROLE: &str = "dicomTransferRole";
    /// 16
    pub const TRANSFER_SYNTAX: &str = "dicomTransferSyntax";
    /// 17
    pub const PRIMARY_DEVICE_TYPE: &str = "dicomPrimaryDeviceType";
    /// 18
    pub const RELATED_DEVICE_REFERENCE: &str = "dicomRelatedDeviceReference";
    /// 19
    pub const PREFERRED_CALLED_AE_TITLE: &str = "dicomPreferredCalledAETitle";
    /// 20
    pub const TLS_CIPHER_SUITE: &str = "dicomTLSCipherSuite";
    /// 21
    pub const AUTHORIZED_NODE_CERTIFICATE_REFERENCE: &str =
        "dicomAuthorizedNodeCertificateReference";
    /// 22
    pub const THIS_NODE_CERTIFICATE_REFERENCE: &str = "dicomThisNodeCertificateReference";
    /// 23
    pub const INSTALLED: &str = "dicomInstalled";
    /// 24
    pub const STATION_NAME: &str = "dicomStationName";
    /// 25
    pub const DEVICE_SERIAL_NUMBER: &str = "dicomDeviceSerialNumber";
    /// 26
    pub const INSTITUTION_NAME: &str = "dicomInstitutionName";
    /// 27
    pub const INSTITUTION_ADDRESS: &str = "dicomInstitutionAddress";
    /// 28
    pub const INSTITUTION_DEPARTMENT_NAME: &str = "dicomInstitutionDepartmentName";
    /// 29
    pub const ISSUER_OF_PATIENT_ID: &str = "dicomIssuerOfPatientID";
    /// 30
    pub const PREFERRED_CALLING_AE_TITLE: &str = "dicomPreferredCallingAETitle";
    /// 31
    pub const SUPPORTED_CHARACTER_SET: &str = "dicomSupportedCharacterSet";
    /// 32
    pub const ISSUER_OF_ACCESSION_NUMBER: &str = "dicomIssuerOfAccessionNumber";
    /// 33
    pub const ORDER_PLACER_IDENTIFIER: &str = "dicomOrderPlacerIdentifier";
    /// 34
    pub const ORDER_FILLER_IDENTIFIER: &str = "dicomOrderFillerIdentifier";
    /// 35
    pub const ISSUER_OF_ADMISSION_ID: &str = "dicomIssuerOfAdmissionID";
    /// 36
    pub const ISSUER_OF_SERVICE_EPISODE_ID: &str = "dicomIssuerOfServiceEpisodeID";
    /// 37
    pub const ISSUER_OF_CONTAINER_IDENTIFIER: &str = "dicomIssuerOfContainerIdentifier";
    /// 38
    pub const ISSUER_OF_SPECIMEN_IDENTIFIER: &str = "dicomIssuerOfSpecimenIdentifier";
    /// 39
    pub const INSTITUTION_CODE: &str = "dicomInstitutionCode";
    /// 40
    pub const DEVICE_UID: &str = "dicomDeviceUID";
}

/// Object class names.
pub mod oc {
    /// 1: `cn=DICOM Configuration`.
    pub const CONFIGURATION_ROOT: &str = "dicomConfigurationRoot";
    /// 2: `cn=Devices`.
    pub const DEVICES_ROOT: &str = "dicomDevicesRoot";
    /// 3: `cn=Unique AE Titles Registry`.
    pub const UNIQUE_AE_TITLES_REGISTRY_ROOT: &str = "dicomUniqueAETitlesRegistryRoot";
    /// 4
    pub const DEVICE: &str = "dicomDevice";
    /// 5
    pub const NETWORK_AE: &str = "dicomNetworkAE";
    /// 6
    pub const NETWORK_CONNECTION: &str = "dicomNetworkConnection";
    /// 7
    pub const UNIQUE_AE_TITLE: &str = "dicomUniqueAETitle";
    /// 8
    pub const TRANSFER_CAPABILITY: &str = "dicomTransferCapability";
    /// The abstract root class, implied by every structural class.
    pub const TOP: &str = "top";
}

/// Conventional RDN values of the tree of H.1.4.
pub mod rdn {
    /// `cn=DICOM Configuration`
    pub const CONFIGURATION: &str = "DICOM Configuration";
    /// `cn=Devices`
    pub const DEVICES: &str = "Devices";
    /// `cn=Unique AE Titles Registry`
    pub const UNIQUE_AE_TITLES_REGISTRY: &str = "Unique AE Titles Registry";
}

const fn at(
    number: u32,
    name: &'static str,
    syntax: Syntax,
    single: bool,
    equality: Equality,
) -> AttributeType {
    AttributeType {
        number,
        name,
        syntax,
        single,
        equality,
    }
}

use Equality as E;
use Syntax as S;

/// The 40 attribute types of H.1.3, in OID order.
pub static ATTRIBUTE_TYPES: [AttributeType; 40] = [
    at(
        1,
        attr::DEVICE_NAME,
        S::DirectoryString,
        true,
        E::CaseIgnore,
    ),
    at(
        2,
        attr::DICOM_DESCRIPTION,
        S::DirectoryString,
        true,
        E::CaseIgnore,
    ),
    at(
        3,
        attr::MANUFACTURER,
        S::DirectoryString,
        true,
        E::CaseIgnore,
    ),
    at(
        4,
        attr::MANUFACTURER_MODEL_NAME,
        S::DirectoryString,
        true,
        E::CaseIgnore,
    ),
    at(
        5,
        attr::SOFTWARE_VERSION,
        S::DirectoryString,
        false,
        E::CaseIgnore,
    ),
    at(6, attr::VENDOR_DATA, S::Binary, false, E::None),
    at(7, attr::AE_TITLE, S::Ia5String, true, E::CaseExactIa5),
    at(
        8,
        attr::NETWORK_CONNECTION_REFERENCE,
        S::Dn,
        false,
        E::DistinguishedName,
    ),
    at(
        9,
        attr::APPLICATION_CLUSTER,
        S::DirectoryString,
        false,
        E::CaseIgnore,
    ),
    at(
        10,
        attr::ASSOCIATION_INITIATOR,
        S::Boolean,
        true,
        E::Boolean,
    ),
    at(11, attr::ASSOCIATION_ACCEPTOR, S::Boolean, true, E::Boolean),
    at(12, attr::HOSTNAME, S::DirectoryString, true, E::CaseIgnore),
    at(13, attr::PORT, S::Integer, true, E::Integer),
    at(14, attr::SOP_CLASS, S::Oid, true, E::ObjectIdentifier),
    at(
        15,
        attr::TRANSFER_ROLE,
        S::DirectoryString,
        true,
        E::CaseIgnore,
    ),
    at(
        16,
        attr::TRANSFER_SYNTAX,
        S::Oid,
        false,
        E::ObjectIdentifier,
    ),
    at(
        17,
        attr::PRIMARY_DEVICE_TYPE,
        S::Ia5String,
        false,
        E::CaseExactIa5,
    ),
    at(
        18,
        attr::RELATED_DEVICE_REFERENCE,
        S::Dn,
        false,
        E::DistinguishedName,
    ),
    at(
        19,
        attr::PREFERRED_CALLED_AE_TITLE,
        S::Ia5String,
        false,
        E::CaseExactIa5,
    ),
    at(
        20,
        attr::TLS_CIPHER_SUITE,
        S::Ia5String,
        false,
        E::CaseExactIa5,
    ),
    at(
        21,
        attr::AUTHORIZED_NODE_CERTIFICATE_REFERENCE,
        S::Dn,
        false,
        E::DistinguishedName,
    ),
    at(
        22,
        attr::THIS_NODE_CERTIFICATE_REFERENCE,
        S::Dn,
        false,
        E::DistinguishedName,
    ),
    at(23, attr::INSTALLED, S::Boolean, true, E::Boolean),
    at(
        24,
        attr::STATION_NAME,
        S::DirectoryString,
        true,
        E::CaseIgnore,
    ),
    at(
        25,
        attr::DEVICE_SERIAL_NUMBER,
        S::DirectoryString,
        true,
        E::CaseIgnore,
    ),
    at(
        26,
        attr::INSTITUTION_NAME,
        S::DirectoryString,
        false,
        E::CaseIgnore,
    ),
    at(
        27,
        attr::INSTITUTION_ADDRESS,
        S::DirectoryString,
        false,
        E::CaseIgnore,
    ),
    at(
        28,
        attr::INSTITUTION_DEPARTMENT_NAME,
        S::DirectoryString,
        false,
        E::CaseIgnore,
    ),
    at(
        29,
        attr::ISSUER_OF_PATIENT_ID,
        S::DirectoryString,
        true,
        E::CaseExact,
    ),
    at(
        30,
        attr::PREFERRED_CALLING_AE_TITLE,
        S::Ia5String,
        false,
        E::CaseExactIa5,
    ),
    at(
        31,
        attr::SUPPORTED_CHARACTER_SET,
        S::Ia5String,
        false,
        E::CaseExactIa5,
    ),
    at(
        32,
        attr::ISSUER_OF_ACCESSION_NUMBER,
        S::DirectoryString,
        true,
        E::CaseExact,
    ),
    at(
        33,
        attr::ORDER_PLACER_IDENTIFIER,
        S::DirectoryString,
        true,
        E::CaseExact,
    ),
    at(
        34,
        attr::ORDER_FILLER_IDENTIFIER,
        S::DirectoryString,
        true,
        E::CaseExact,
    ),
    at(
        35,
        attr::ISSUER_OF_ADMISSION_ID,
        S::DirectoryString,
        true,
        E::CaseExact,
    ),
    at(
        36,
        attr::ISSUER_OF_SERVICE_EPISODE_ID,
        S::DirectoryString,
        true,
        E::CaseExact,
    ),
    at(
        37,
        attr::ISSUER_OF_CONTAINER_IDENTIFIER,
        S::DirectoryString,
        true,
        E::CaseExact,
    ),
    at(
        38,
        attr::ISSUER_OF_SPECIMEN_IDENTIFIER,
        S::DirectoryString,
        true,
        E::CaseExact,
    ),
    at(
        39,
        attr::INSTITUTION_CODE,
        S::DirectoryString,
        false,
        E::CaseExact,
    ),
    at(40, attr::DEVICE_UID, S::Oid, true, E::ObjectIdentifier),
];

/// One DICOM object class of H.1.3 (all STRUCTURAL, SUP top).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectClass {
    /// N in the OID `1.2.840.10008.15.0.4.N`.
    pub number: u32,
    /// The LDAP name.
    pub name: &'static str,
    /// Mandatory attributes.
    pub must: &'static [&'static str],
    /// Optional attributes.
    pub may: &'static [&'static str],
}

impl ObjectClass {
    /// The full OID.
    pub fn oid(&self) -> String {
        format!("{OBJECT_CLASS_ARC}.{}", self.number)
    }

    /// The RFC 4512 definition, as OpenLDAP reads it.
    pub fn definition(&self) -> String {
        fn list(names: &[&str]) -> String {
            match names {
                [one] => (*one).to_string(),
                many => format!("( {} )", many.join(" $ ")),
            }
        }
        let mut s = format!("( {} NAME '{}' SUP top STRUCTURAL", self.oid(), self.name);
        if !self.must.is_empty() {
            let _ = write!(s, " MUST {}", list(self.must));
        }
        if !self.may.is_empty() {
            let _ = write!(s, " MAY {}", list(self.may));
        }
        s.push_str(" )");
        s
    }
}

use attr as a;

/// The 8 object classes of H.1.3, in OID order.
pub static OBJECT_CLASSES: [ObjectClass; 8] = [
    ObjectClass {
        number: 1,
        name: oc::CONFIGURATION_ROOT,
        must: &[a::CN],
        may: &[a::DESCRIPTION],
    },
    ObjectClass {
        number: 2,
        name: oc::DEVICES_ROOT,
        must: &[a::CN],
        may: &[a::DESCRIPTION],
    },
    ObjectClass {
        number: 3,
        name: oc::UNIQUE_AE_TITLES_REGISTRY_ROOT,
        must: &[a::CN],
        may: &[a::DESCRIPTION],
    },
    ObjectClass {
        number: 4,
        name: oc::DEVICE,
        must: &[a::DEVICE_NAME, a::INSTALLED],
        may: &[
            a::DICOM_DESCRIPTION,
            a::MANUFACTURER,
            a::MANUFACTURER_MODEL_NAME,
            a::SOFTWARE_VERSION,
            a::VENDOR_DATA,
            a::PRIMARY_DEVICE_TYPE,
            a::RELATED_DEVICE_REFERENCE,
            a::AUTHORIZED_NODE_CERTIFICATE_REFERENCE,
            a::THIS_NODE_CERTIFICATE_REFERENCE,
            a::STATION_NAME,
            a::DEVICE_SERIAL_NUMBER,
            a::INSTITUTION_NAME,
            a::INSTITUTION_ADDRESS,
            a::INSTITUTION_DEPARTMENT_NAME,
            a::ISSUER_OF_PATIENT_ID,
            a::ISSUER_OF_ACCESSION_NUMBER,
            a::ORDER_PLACER_IDENTIFIER,
            a::ORDER_FILLER_IDENTIFIER,
            a::ISSUER_OF_ADMISSION_ID,
            a::ISSUER_OF_SERVICE_EPISODE_ID,
            a::ISSUER_OF_CONTAINER_IDENTIFIER,
            a::ISSUER_OF_SPECIMEN_IDENTIFIER,
            a::INSTITUTION_CODE,
            a::DEVICE_UID,
        ],
    },
    ObjectClass {
        number: 5,
        name: oc::NETWORK_AE,
        must: &[
            a::AE_TITLE,
            a::NETWORK_CONNECTION_REFERENCE,
            a::ASSOCIATION_INITIATOR,
            a::ASSOCIATION_ACCEPTOR,
        ],
        may: &[
            a::DICOM_DESCRIPTION,
            a::VENDOR_DATA,
            a::APPLICATION_CLUSTER,
            a::PREFERRED_CALLED_AE_TITLE,
            a::PREFERRED_CALLING_AE_TITLE,
            a::SUPPORTED_CHARACTER_SET,
            a::INSTALLED,
        ],
    },
    ObjectClass {
        number: 6,
        name: oc::NETWORK_CONNECTION,
        must: &[a::HOSTNAME],
        may: &[a::CN, a::PORT, a::TLS_CIPHER_SUITE, a::INSTALLED],
    },
    ObjectClass {
        number: 7,
        name: oc::UNIQUE_AE_TITLE,
        must: &[a::AE_TITLE],
        may: &[],
    },
    ObjectClass {
        number: 8,
        name: oc::TRANSFER_CAPABILITY,
        must: &[a::SOP_CLASS, a::TRANSFER_ROLE, a::TRANSFER_SYNTAX],
        may: &[a::CN],
    },
];

/// Looks up a DICOM attribute type by name, ignoring case as LDAP does.
pub fn attribute_type(name: &str) -> Option<&'static AttributeType> {
    ATTRIBUTE_TYPES
        .iter()
        .find(|t| t.name.eq_ignore_ascii_case(name))
}

/// Looks up a DICOM object class by name, ignoring case.
pub fn object_class(name: &str) -> Option<&'static ObjectClass> {
    OBJECT_CLASSES
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case(name))
}

/// Operational attributes a server adds (slapcat, `ldapsearch +`): never part of a model.
pub const OPERATIONAL_ATTRIBUTES: &[&str] = &[
    "structuralObjectClass",
    "entryUUID",
    "entryCSN",
    "entryDN",
    "creatorsName",
    "createTimestamp",
    "modifiersName",
    "modifyTimestamp",
    "contextCSN",
    "subschemaSubentry",
    "hasSubordinates",
    "numSubordinates",
    "pwdChangedTime",
];

/// Whether `name` is a server-maintained operational attribute.
pub fn is_operational(name: &str) -> bool {
    OPERATIONAL_ATTRIBUTES
        .iter()
        .any(|o| o.eq_ignore_ascii_case(name))
}

/// The schema as an OpenLDAP `.schema` file (for `include` in slapd.conf).
pub fn openldap_schema() -> String {
    let mut s = String::from(
        "# DICOM Application Configuration schema, PS3.15 Annex H (H.1.3).\n\
         # OIDs: attribute types 1.2.840.10008.15.0.3.N, object classes 1.2.840.10008.15.0.4.N.\n\
         # Generated from the tables of the standard; load into OpenLDAP with `include`.\n\n",
    );
    for t in &ATTRIBUTE_TYPES {
        let _ = write!(s, "attributetype {}\n\n", t.definition());
    }
    for c in &OBJECT_CLASSES {
        let _ = write!(s, "objectclass {}\n\n", c.definition());
    }
    s
}

/// The schema as a cn=config LDIF entry (`cn=dicom,cn=schema,cn=config`).
pub fn openldap_schema_ldif() -> String {
    let mut s = String::from(
        "# DICOM Application Configuration schema, PS3.15 Annex H, for OpenLDAP cn=config.\n\
         # Load with: ldapadd -Y EXTERNAL -H ldapi:/// -f dicom.ldif\n\
         dn: cn=dicom,cn=schema,cn=config\n\
         objectClass: olcSchemaConfig\n\
         cn: dicom\n",
    );
    for t in &ATTRIBUTE_TYPES {
        let _ = writeln!(s, "olcAttributeTypes: {}", t.definition());
    }
    for c in &OBJECT_CLASSES {
        let _ = writeln!(s, "olcObjectClasses: {}", c.definition());
    }
    s
}

/// `X-ORIGIN` of the definitions in [`ds389_schema_ldif`]: 389 Directory
/// Server shows it to administrators as where a definition came from.
const DS389_ORIGIN: &str = "DICOM PS3.15 Annex H";

/// The schema as a 389 Directory Server schema file (`dn: cn=schema` with
/// `attributeTypes`/`objectClasses` values): dropped into an instance's
/// schema directory (e.g. `/etc/dirsrv/slapd-NAME/schema/98dicom.ldif`)
/// before start, or its values added to `cn=schema` over LDAP.
pub fn ds389_schema_ldif() -> String {
    fn with_origin(definition: &str) -> String {
        let body = definition.strip_suffix(" )").unwrap_or(definition);
        format!("{body} X-ORIGIN '{DS389_ORIGIN}' )")
    }
    let mut s = String::from(
        "# DICOM Application Configuration schema, PS3.15 Annex H, for 389 Directory Server.\n\
         # Install as <instance>/schema/98dicom.ldif and restart, or add the values to cn=schema.\n\
         dn: cn=schema\n\
         objectClass: top\n\
         objectClass: ldapSubentry\n\
         objectClass: subschema\n\
         cn: schema\n",
    );
    for t in &ATTRIBUTE_TYPES {
        let _ = writeln!(s, "attributeTypes: {}", with_origin(&t.definition()));
    }
    for c in &OBJECT_CLASSES {
        let _ = writeln!(s, "objectClasses: {}", with_origin(&c.definition()));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_in_oid_order_and_complete() {
        for (i, t) in ATTRIBUTE_TYPES.iter().enumerate() {
            assert_eq!(t.number as usize, i + 1, "{}", t.name);
        }
        for (i, c) in OBJECT_CLASSES.iter().enumerate() {
            assert_eq!(c.number as usize, i + 1, "{}", c.name);
            for name in c.must.iter().chain(c.may) {
                assert!(
                    attribute_type(name).is_some() || ["cn", "description"].contains(name),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn renders_spec_rules() {
        let s = openldap_schema();
        assert!(s.contains("attributetype ( 1.2.840.10008.15.0.3.6 NAME 'dicomVendorData' SYNTAX 1.3.6.1.4.1.1466.115.121.1.5 )\n"));
        assert!(s.contains(
            "NAME 'dicomIssuerOfPatientID' EQUALITY caseExactMatch SUBSTR caseExactSubstringsMatch"
        ));
        assert!(s.contains("objectclass ( 1.2.840.10008.15.0.4.7 NAME 'dicomUniqueAETitle' SUP top STRUCTURAL MUST dicomAETitle )\n"));
        let l = openldap_schema_ldif();
        assert_eq!(l.matches("olcAttributeTypes:").count(), 40);
        assert_eq!(l.matches("olcObjectClasses:").count(), 8);
        let ds = ds389_schema_ldif();
        assert!(ds.contains("\ndn: cn=schema\n"));
        assert_eq!(ds.matches("\nattributeTypes: ( ").count(), 40);
        assert_eq!(ds.matches("\nobjectClasses: ( ").count(), 8);
        assert!(ds.contains("\nobjectClasses: ( 1.2.840.10008.15.0.4.7 NAME 'dicomUniqueAETitle' SUP top STRUCTURAL MUST dicomAETitle X-ORIGIN 'DICOM PS3.15 Annex H' )\n"));
        assert!(attribute_type("DICOMAETITLE").is_some());
    }
}
