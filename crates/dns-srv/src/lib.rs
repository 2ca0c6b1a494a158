//! DNS SRV discovery of LDAP servers with DHCP-given name servers (PS3.15 H.1.4.1, RFC 2782 ordering).
//!
//! Part of annexr: DICOM PS3.17 Annex R network self-configuration.
