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
pub use schema::{openldap_schema, openldap_schema_ldif};
pub use validate::ValidationError;
