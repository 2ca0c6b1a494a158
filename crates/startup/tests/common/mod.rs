//! Shared by the startup crate's lab tests.
#![allow(dead_code, clippy::unwrap_used)]

use annexr::{NetworkMode, StartupConfig};
use annexr_lab::{SITE_DOMAIN, SampleSite};
use annexr_model::{
    AeTitle, Device, NetworkAe, NetworkConnection, TransferCapability, TransferRole,
};

/// The settings of a device on the sample site: static network with the
/// site's DNS, NTP and domain; the device account for LDAP.
pub fn site_config(site: &SampleSite, device: &str) -> StartupConfig {
    let mut config = StartupConfig::default();
    config.device.name = Some(device.to_string());
    config.network.mode = NetworkMode::Static;
    config.network.dns_servers = vec![site.dns_addr().to_string()];
    config.network.ntp_servers = vec![site.ntp.addr().to_string()];
    config.network.domain = Some(SITE_DOMAIN.to_string());
    config.ldap.bind_dn = Some(site.slapd.device_dn());
    config.ldap.password = Some(site.slapd.device_password().to_string());
    // The password goes over StartTLS, verified against the lab CA.
    config.ldap.ca_file = site.slapd.ca_cert_path().map(|p| p.to_path_buf());
    config.ldap.timeout_ms = 2_000;
    config
}

/// A new MR modality's local description with one AE and one connection.
pub fn new_modality(name: &str, title: &str) -> Device {
    Device::new(name)
        .with_device_type("MR")
        .installed(true)
        .with_connection(NetworkConnection::new("dicom", "127.0.0.1", Some(11113)))
        .with_ae(
            NetworkAe::new(AeTitle::new(title).unwrap())
                .with_connection("dicom")
                .roles(true, true)
                .with_transfer_capability(TransferCapability::verification(TransferRole::Scp)),
        )
}
