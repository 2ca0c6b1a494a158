//! R.1 unique AE titles: assisted manual allocation (check proposed titles,
//! list those in use under a prefix, register the first free one) or fully
//! automatic allocation with a structured rule (prefix + counter + check digit).
//!
//! ```text
//! cargo run --example ldap_register_title -- CT1 CT2 CT3      # propose titles
//! cargo run --example ldap_register_title -- --auto CT         # CT + 4 digits + Luhn digit
//! cargo run --example ldap_register_title -- --release CT2     # unregister
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use annexr_lab::{Slapd, or_skip};
use annexr_ldap::blocking::LdapClient;
use annexr_ldap::{AllocationPolicy, Allocator, ClientConfig, Registration};
use annexr_model::ldif::export_device;
use annexr_model::model::{TransferCapability, TransferRole};
use annexr_model::{AeTitle, Device, Dn, Layout, NetworkAe, NetworkConnection};

fn main() {
    let (config, args, _lab) = settings();
    let client = LdapClient::new(config).unwrap_or_else(|e| fail(e));
    match args.first().map(String::as_str) {
        Some("--release") => {
            for t in &args[1..] {
                let r = client.unregister_title(t).unwrap_or_else(|e| fail(e));
                println!(
                    "{t}: {}",
                    if r.value {
                        "released"
                    } else {
                        "was not registered"
                    }
                );
            }
        }
        Some("--auto") => {
            let prefix = args.get(1).cloned().unwrap_or_else(|| "AE".into());
            let in_use = client
                .titles_in_use(&prefix)
                .unwrap_or_else(|e| fail(e))
                .value;
            println!("in use under {prefix:?}: {in_use:?}");
            let mut allocator = Allocator::new(vec![
                AllocationPolicy::Structured {
                    prefix,
                    start: 1,
                    digits: 4,
                    check_digit: true,
                },
                AllocationPolicy::random_ae(),
            ])
            .unwrap_or_else(|e| fail(e));
            let r = client
                .allocate_title(&mut allocator)
                .unwrap_or_else(|e| fail(e));
            println!(
                "registered {} after {} attempt(s), {} round trips",
                r.value.title, r.value.attempts, r.stats.round_trips
            );
        }
        _ => {
            let proposed: Vec<&str> = if args.is_empty() {
                vec!["CT1", "CT2", "CT3"]
            } else {
                args.iter().map(String::as_str).collect()
            };
            let checked = client.check_titles(&proposed).unwrap_or_else(|e| fail(e));
            for (t, free) in &checked.value {
                println!("  {t:<16} {}", if *free { "free" } else { "taken" });
            }
            // The check is advisory: the add is the atomic test (68 = taken).
            for (t, free) in &checked.value {
                if !free {
                    continue;
                }
                match client.register_title(t).unwrap_or_else(|e| fail(e)).value {
                    Registration::Registered => {
                        println!("registered {t}");
                        return;
                    }
                    Registration::Taken => println!("{t} was taken meanwhile"),
                    Registration::Refused { rc, text } => {
                        println!("the server refuses writes ({rc} {text}): ask the administrator");
                        return;
                    }
                }
            }
            println!("none of the proposed titles is free");
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
