//! The DICOM Application Configuration data model of PS3.15 Annex H: types,
//! validation, DN and filter escaping, LDIF, LDAP-entry mapping and the local store
//! format. No I/O.
//!
//! Part of annexr: DICOM PS3.17 Annex R network self-configuration.
//!
//! | module | what |
//! |---|---|
//! | [`schema`] | attribute/object-class tables of H.1.3, OpenLDAP schema rendering |
//! | [`model`] | [`Device`], [`NetworkAe`], [`NetworkConnection`], [`TransferCapability`], … |
//! | [`aetitle`] | [`AeTitle`] (PS3.5 AE) |
//! | [`validate`] | rules: ports, host names, UIDs, references |
//! | [`dn`], [`filter`] | RFC 4514 DNs, RFC 4515 filters, escaping |
//! | [`entry`], [`mapping`] | the neutral [`LdapEntry`] and model ⇄ entry |
//! | [`ldif`] | RFC 2849 reader and writer, device export |
//! | [`diff`] | typed differences between two device descriptions, LDAP modify operations |
//! | [`store`] | the versioned JSON form of a device |
//! | [`sample`] | sample devices for examples, tests and benches |
//!
//! ```
//! use annexr_model::{AeTitle, Device, Dn, Layout, NetworkAe, NetworkConnection};
//! use annexr_model::model::{TransferCapability, TransferRole};
//!
//! let device = Device::new("ct-1")
//!     .with_device_type("CT")
//!     .with_connection(NetworkConnection::new("dicom", "ct1.example.org", Some(11112)))
//!     .with_ae(
//!         NetworkAe::new(AeTitle::new("CT1")?)
//!             .connection("dicom")
//!             .roles(true, false)
//!             .transfer_capability(TransferCapability::verification(TransferRole::Scu)),
//!     );
//! device.validate()?;
//! let layout = Layout::under(&Dn::parse("dc=example,dc=org")?);
//! let ldif = annexr_model::ldif::export_device(&device, &layout);
//! let back = Device::from_entries(&annexr_model::parse_entries(&ldif)?[1..])?;
//! assert_eq!(back, device);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod aetitle;
mod bytes_serde;
pub mod diff;
pub mod dn;
pub mod entry;
mod error;
pub mod filter;
pub mod ldif;
pub mod mapping;
pub mod model;
pub mod sample;
pub mod schema;
pub mod store;
pub mod validate;

pub use aetitle::{AeTitle, AeTitleError};
pub use dn::{Ava, Dn, Rdn, escape_value as escape_dn_value};
pub use entry::{Attribute, LdapEntry};
pub use error::{Error, Result};
pub use filter::{Filter, escape_filter_value};
pub use ldif::{
    LdifRecord, ModOp, Modification, parse_entries, parse_ldif, write_entries, write_ldif,
};
pub use mapping::{Configuration, Layout};
pub use model::{
    ConfigurationRoot, Device, DevicesRoot, Extensions, NetworkAe, NetworkConnection,
    TransferCapability, TransferRole, UniqueAeTitle, UniqueAeTitlesRegistryRoot,
};
pub use schema::{ds389_schema_ldif, openldap_schema, openldap_schema_ldif};
pub use validate::ValidationError;
