//! DICOM association and C-ECHO probes with negotiation and rejection diagnostics.
//!
//! Part of annexr: DICOM PS3.17 Annex R network self-configuration.
