//! R.5.2: take a device, one of its AEs or one of its connections offline or
//! back online (`dicomInstalled`), and show what R.3 resolution sees.
//!
//! ```text
//! cargo run --example ldap_online_offline -- offline ARCHIVE-1 [AE-TITLE]
//! cargo run --example ldap_online_offline -- online ARCHIVE-1 --connection dicom
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use annexr_lab::{Slapd, or_skip};
use annexr_ldap::blocking::LdapClient;
use annexr_ldap::{ClientConfig, DeviceLookup, Target, UpdateOutcome};
use annexr_model::ldif::export_device;
use annexr_model::model::{TransferCapability, TransferRole};
use annexr_model::{AeTitle, Device, Dn, Layout, NetworkAe, NetworkConnection};

fn main() {
    let (config, args, _lab) = settings();
    let online = match args.first().map(String::as_str) {
        Some("online") => true,
        Some("offline") | None => false,
        Some(other) => {
            eprintln!("usage: online|offline DEVICE [AE-TITLE | --connection NAME] (got {other})");
            std::process::exit(2)
        }
    };
    let device = args.get(1).cloned().unwrap_or_else(|| "ARCHIVE-1".into());
    let target = match (args.get(2).map(String::as_str), args.get(3)) {
        (Some("--connection"), Some(name)) => Target::Connection {
            device: device.clone(),
            name: name.clone(),
        },
        (Some(title), _) => Target::Ae {
            device: device.clone(),
            ae_title: AeTitle::new(title).unwrap_or_else(|e| {
                eprintln!("{e}");
                std::process::exit(2)
            }),
        },
        (None, _) => Target::Device(device.clone()),
    };
    let client = LdapClient::new(config).unwrap_or_else(|e| fail(e));
    let r = client
        .set_installed(&target, online)
        .unwrap_or_else(|e| fail(e));
    match r.value {
        UpdateOutcome::LdifFallback { ldif, rc, .. } => {
            println!("the server refused the write ({rc}); LDIF for the administrator:\n{ldif}");
            return;
        }
        other => println!(
            "{target:?} -> {} : {other:?}",
            if online { "online" } else { "offline" }
        ),
    }
    if let DeviceLookup::Found(d) = client
        .load_device(&device)
        .unwrap_or_else(|e| fail(e))
        .value
    {
        for ae in &d.network_aes {
            let resolved = client
                .resolve_ae(ae.ae_title.as_str())
                .unwrap_or_else(|e| fail(e))
                .value;
            if let Some(r) = resolved {
                println!(
                    "  {:<16} installed={} address={:?}",
                    r.ae_title.as_str(),
                    r.installed,
                    r.address()
                );
            }
        }
    }
}

fn fail(e: annexr_ldap::Error) -> ! {
    eprintln!("error: {e}");
    std::process::exit(1)
}

/// Connection settings from the command line (`--url`, `--bind-dn`, `--base`,
/// `--ca`, `--starttls`; the password from `ANNEXR_LDAP_PASSWORD`, so it is
/// not visible in the process list), or a lab slapd seeded with a small site
/// when no `--url` is given. Returns the config, the remaining arguments and
/// the lab server (keep it alive).
fn settings() -> (ClientConfig, Vec<String>, Option<Slapd>) {
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
                            .connection("dicom")
                            .roles(true, true)
                            .transfer_capability(TransferCapability::verification(
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
            let cfg = ClientConfig::new(slapd.url())
                .simple_bind(slapd.device_dn(), slapd.device_password());
            (cfg, Some(slapd))
        }
    };
    if lab.is_none() {
        if let Some(dn) = bind {
            let password = std::env::var("ANNEXR_LDAP_PASSWORD").unwrap_or_default();
            config = config.simple_bind(dn, password);
        }
    }
    if let Some(base) = base {
        config = config.base_dn(base);
    }
    if let Some(ca) = ca {
        config = config.ca_file(ca);
    }
    (config.starttls(starttls), rest, lab)
}
