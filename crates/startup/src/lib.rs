//! The DICOM PS3.17 Annex R startup, install and shutdown sequence with a non-volatile store and a report.
//!
//! Part of annexr: DICOM PS3.17 Annex R network self-configuration.
