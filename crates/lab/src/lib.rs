//! Real-server test lab for annexr: slapd, dnsmasq, chronyd and DCMTK peers on loopback.
//!
//! Part of annexr: DICOM PS3.17 Annex R network self-configuration.
