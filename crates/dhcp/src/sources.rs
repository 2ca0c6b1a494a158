//! Lease sources for hosts where the OS already runs DHCP, and static configuration.
