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

mod common;
use common::settings;

use annexr_ldap::blocking::LdapClient;
use annexr_ldap::{AllocationPolicy, Allocator, Registration};

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
