//! DICOM configuration over LDAP (PS3.15 Annex H): find, load, register unique AE titles, install, online/offline, export.
//!
//! Part of annexr: DICOM PS3.17 Annex R network self-configuration.
