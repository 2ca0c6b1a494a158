//! Targets from `annexr-model` Network AEs and Network Connections.
