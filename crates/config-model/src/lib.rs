//! The DICOM Application Configuration data model of PS3.15 Annex H: types, validation, DN and filter escaping, LDIF, LDAP-entry mapping and the local store format. No I/O.
//!
//! Part of annexr: DICOM PS3.17 Annex R network self-configuration.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod schema;

pub use schema::{openldap_schema, openldap_schema_ldif};
