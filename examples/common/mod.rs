//! Shared by the `ldap_*` examples: connection settings from the command
//! line, or a lab slapd seeded with a small site.

use annexr_lab::{Slapd, or_skip};
use annexr_ldap::ClientConfig;
use annexr_model::{
    AeTitle, Device, Dn, Layout, NetworkAe, NetworkConnection, TransferCapability, TransferRole,
    export_device,
};

/// Connection settings from the command line (`--url`, `--bind-dn`, `--base`,
/// `--ca`, `--starttls`; the password from `ANNEXR_LDAP_PASSWORD`, so it is
/// not visible in the process list), or a lab slapd seeded with a small site
/// when no `--url` is given. Returns the config, the remaining arguments and
/// the lab server (keep it alive).
pub fn settings() -> (ClientConfig, Vec<String>, Option<Slapd>) {
    let mut url = None;
    let mut bind = None;
    let mut base = None;
    let mut ca = None;
    let mut starttls = false;
    let mut rest = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--url" => url = args.next(),
            "--bind-dn" => bind = args.next(),
            "--base" => base = args.next(),
            "--ca" => ca = args.next(),
            "--starttls" => starttls = true,
            _ => rest.push(a),
        }
    }
    let (mut config, lab) = match url {
        Some(url) => (ClientConfig::new(url), None),
        None => {
            let site = [
                ("ARCHIVE-1", "ARCHIVE", "ARCHIVE1", 11112),
                ("ARCHIVE-2", "ARCHIVE", "ARCHIVE2", 11113),
                ("CT-SCANNER-1", "CT", "CT1", 104),
            ];
            let config_dn = Dn::parse("cn=DICOM Configuration,dc=example,dc=org").unwrap();
            let mut ldif = String::from("version: 1\n");
            for (name, kind, title, port) in site {
                let d = Device::new(name)
                    .with_device_type(kind)
                    .with_connection(NetworkConnection::new("dicom", "127.0.0.1", Some(port)))
                    .with_ae(
                        NetworkAe::new(AeTitle::new(title).unwrap())
                            .with_connection("dicom")
                            .roles(true, true)
                            .with_transfer_capability(TransferCapability::verification(
                                TransferRole::Scp,
                            )),
                    );
                let text = export_device(&d, &Layout::at(config_dn.clone()));
                ldif.push_str(text.trim_start_matches("version: 1\n"));
            }
            let Some(slapd) = or_skip(Slapd::builder().seed_ldif(&ldif).start()) else {
                std::process::exit(0);
            };
            eprintln!("(no --url: using a lab slapd at {})", slapd.url());
            // The password goes over StartTLS, verified against the lab CA.
            let mut cfg = ClientConfig::new(slapd.url())
                .simple_bind(slapd.device_dn(), slapd.device_password());
            if let Some(ca) = slapd.ca_cert_path() {
                cfg = cfg.ca_file(ca);
            }
            (cfg, Some(slapd))
        }
    };
    if lab.is_none()
        && let Some(dn) = bind
    {
        let password = std::env::var("ANNEXR_LDAP_PASSWORD").unwrap_or_default();
        config = config.simple_bind(dn, password);
    }
    if let Some(base) = base {
        config = config.base_dn(base);
    }
    if let Some(ca) = ca {
        config = config.ca_file(ca);
    }
    (config.starttls(starttls), rest, lab)
}
