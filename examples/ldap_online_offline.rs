//! R.5.2: take a device, one of its AEs or one of its connections offline or
//! back online (`dicomInstalled`), and show what R.3 resolution sees.
//!
//! ```text
//! cargo run --example ldap_online_offline -- offline ARCHIVE-1 [AE-TITLE]
//! cargo run --example ldap_online_offline -- online ARCHIVE-1 --connection dicom
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::settings;

use annexr_ldap::blocking::LdapClient;
use annexr_ldap::{DeviceLookup, Target, UpdateOutcome};
use annexr_model::AeTitle;

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
                    "  {:<16} installed={} address={}",
                    r.ae_title.as_str(),
                    r.installed,
                    r.address()
                        .map_or_else(|| "none".to_string(), |a| a.to_string())
                );
            }
        }
    }
}

fn fail(e: annexr_ldap::Error) -> ! {
    eprintln!("error: {e}");
    std::process::exit(1)
}
