//! SNTP time synchronization for DICOM devices (PS3.15 Annex G, PS3.17 R.6): sampling, filtering, step/slew policy and local time.
//!
//! Part of annexr: DICOM PS3.17 Annex R network self-configuration.
