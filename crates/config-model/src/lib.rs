//! The DICOM Application Configuration data model of PS3.15 Annex H: types,
//! validation, DN and filter escaping, LDIF, LDAP-entry mapping and the local store
//! format. No I/O.
//!
//! Part of annexr: DICOM PS3.17 Annex R network self-configuration.
//!
//! Everything is at the crate root:
//!
//! | topic | items |
//! |---|---|
//! | the model | [`Device`], [`NetworkAe`], [`NetworkConnection`], [`TransferCapability`], [`UniqueAeTitle`], … |
//! | names | [`AeTitle`] (PS3.5 AE), [`Dn`] (RFC 4514), [`Filter`] (RFC 4515), [`escape_dn_value`], [`escape_filter_value`] |
//! | rules | [`Device::validate`], [`ValidationError`], [`is_valid_hostname`], [`is_valid_uid`] |
//! | LDAP entries | the neutral [`LdapEntry`]; [`Layout`] and [`Configuration`] map the model to and from entries |
//! | LDIF (RFC 2849) | [`parse_ldif`], [`parse_entries`], [`write_ldif`], [`write_entries`], [`export_device`] |
//! | changes | [`diff`] of two device descriptions into [`Change`]s, [`operations`] as LDAP modify records |
//! | schema (H.1.3) | [`attr`], [`oc`] and [`rdn`] name constants, [`ATTRIBUTE_TYPES`], [`OBJECT_CLASSES`], [`openldap_schema`] |
//! | local store | [`device_to_json`] and [`device_from_json`]: the versioned JSON form of a device |
//! | samples | [`sample_modality`]: a device for examples, tests and benches |
//!
//! Getting started: build a device, check it, write it as LDIF and read it back.
//!
//! ```
//! use annexr_model::{
//!     AeTitle, Device, Dn, Layout, NetworkAe, NetworkConnection, TransferCapability, TransferRole,
//! };
//!
//! let device = Device::new("ct-1")
//!     .with_device_type("CT")
//!     .with_connection(NetworkConnection::new("dicom", "ct1.example.org", Some(11112)))
//!     .with_ae(
//!         NetworkAe::new(AeTitle::new("CT1")?)
//!             .with_connection("dicom")
//!             .roles(true, false)
//!             .with_transfer_capability(TransferCapability::verification(TransferRole::Scu)),
//!     );
//! device.validate()?;
//! let layout = Layout::under(&Dn::parse("dc=example,dc=org")?);
//! let ldif = annexr_model::export_device(&device, &layout);
//! let back = Device::from_entries(&annexr_model::parse_entries(&ldif)?[1..])?;
//! assert_eq!(back, device);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod aetitle;
mod bytes_serde;
mod diff;
mod dn;
mod entry;
mod error;
mod filter;
mod ldif;
mod mapping;
mod model;
mod sample;
mod schema;
mod store;
mod validate;

pub use aetitle::{AeTitle, AeTitleError};
pub use diff::{Change, ModifyStyle, ObjectRef, diff, operations};
pub use dn::{Ava, Dn, Rdn, escape_value as escape_dn_value};
pub use entry::{Attribute, LdapEntry};
pub use error::{Error, Result};
pub use filter::{Filter, escape_filter_bytes, escape_filter_value};
pub use ldif::{
    FOLD_WIDTH, LdifRecord, ModOp, Modification, export_device, parse_entries, parse_ldif,
    write_entries, write_ldif, write_record,
};
pub use mapping::{Configuration, Layout, ae_dn, connection_dn};
pub use model::{
    ConfigurationRoot, Device, DevicesRoot, EXPLICIT_VR_LITTLE_ENDIAN, Extensions,
    IMPLICIT_VR_LITTLE_ENDIAN, NetworkAe, NetworkConnection, TransferCapability, TransferRole,
    UniqueAeTitle, UniqueAeTitlesRegistryRoot, VERIFICATION_SOP_CLASS,
};
pub use sample::sample_modality;
pub use schema::{
    ATTRIBUTE_ARC, ATTRIBUTE_TYPES, AttributeType, Equality, OBJECT_CLASS_ARC, OBJECT_CLASSES,
    OPERATIONAL_ATTRIBUTES, ObjectClass, Syntax, attr, attribute_type, ds389_schema_ldif,
    is_operational, object_class, oc, openldap_schema, openldap_schema_ldif, rdn,
};
pub use store::{STORE_FORMAT, STORE_VERSION, device_from_json, device_to_json};
pub use validate::{ValidationError, is_valid_hostname, is_valid_uid};
