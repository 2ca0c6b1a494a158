//! DHCPv4 client for DICOM devices (PS3.15 Annex F, PS3.17 R.1.2.2 step 1): sans-I/O state machine, INFORM, OS lease readers, static configuration.
//!
//! Part of annexr: DICOM PS3.17 Annex R network self-configuration.
