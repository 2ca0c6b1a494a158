//! R.3.1: find the archives (devices of primary type ARCHIVE) and the
//! addresses to associate with, in two round trips however many match; then
//! R.3: resolve one AE title, cached.
//!
//! ```text
//! cargo run --example ldap_find_archives                      # against a lab slapd
//! ANNEXR_LDAP_PASSWORD=… cargo run --example ldap_find_archives -- \
//!     --url ldaps://ldap.hospital.example --bind-dn cn=device,dc=hospital,dc=example [TYPE] [CLUSTER]
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::settings;

use annexr_ldap::DeviceTypeQuery;
use annexr_ldap::blocking::LdapClient;

fn main() {
    let (config, args, _lab) = settings();
    let device_type = args.first().cloned().unwrap_or_else(|| "ARCHIVE".into());
    let client = LdapClient::new(config).unwrap_or_else(|e| fail(e));
    let query = DeviceTypeQuery {
        application_cluster: args.get(1).cloned(),
        installed_only: true,
        ..DeviceTypeQuery::new(&device_type)
    };
    let found = client
        .find_aes_by_device_type(&query)
        .unwrap_or_else(|e| fail(e));
    println!(
        "{} installed AE(s) of {device_type} devices ({} round trips, {} requests):",
        found.value.len(),
        found.stats.round_trips,
        found.stats.requests
    );
    for ae in &found.value {
        match ae.address() {
            Some(address) => println!(
                "  {:<16} on {:<16} {address}{}",
                ae.ae_title.as_str(),
                ae.device_name,
                if address.tls { " (TLS)" } else { "" }
            ),
            None => println!(
                "  {:<16} on {:<16} (no listening connection)",
                ae.ae_title.as_str(),
                ae.device_name
            ),
        }
    }
    if let Some(first) = found.value.first() {
        let title = first.ae_title.as_str();
        for _ in 0..2 {
            let r = client.resolve_ae_cached(title).unwrap_or_else(|e| fail(e));
            println!(
                "resolve {title}: {:?} ({} round trips)",
                r.value
                    .and_then(|a| a.address().map(|address| address.to_string())),
                r.stats.round_trips
            );
        }
    }
}

fn fail(e: annexr_ldap::Error) -> ! {
    eprintln!("error: {e}");
    std::process::exit(1)
}
