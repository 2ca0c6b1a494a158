//! R.4 step 3–4: find the LDAP servers with DNS SRV and print them in the order
//! to try them, with where each value came from.
//!
//! ```text
//! cargo run --example find_ldap_servers -- --ns 192.168.1.1 --domain hospital.example [--ldaps] [--strict]
//! cargo run --example find_ldap_servers            # against a lab dnsmasq on 127.0.0.1
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use annexr_dns::{DnsConfig, Nearest, Service, blocking::SrvDiscoverer};
use annexr_lab::{Dnsmasq, SrvRecord, or_skip};

fn main() {
    let mut ns = Vec::new();
    let mut domains = Vec::new();
    let mut ldaps = false;
    let mut strict = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--ns" => ns.extend(args.next()),
            "--domain" => domains.extend(args.next()),
            "--ldaps" => ldaps = true,
            "--strict" => strict = true,
            other => {
                eprintln!("unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    // Without a name server, demonstrate against a lab dnsmasq with two priorities.
    let _lab = if ns.is_empty() {
        let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let Some(dns) = or_skip(
            Dnsmasq::builder()
                .srv(
                    SrvRecord::new("_ldap._tcp.hospital.example", "ldap1.hospital.example", 389)
                        .weight(70),
                )
                .srv(
                    SrvRecord::new("_ldap._tcp.hospital.example", "ldap2.hospital.example", 389)
                        .weight(30),
                )
                .srv(
                    SrvRecord::new(
                        "_ldap._tcp.hospital.example",
                        "ldap-dr.hospital.example",
                        389,
                    )
                    .priority(10),
                )
                .host("ldap1.hospital.example", local)
                .host("ldap2.hospital.example", local)
                .host("ldap-dr.hospital.example", local)
                .ttl(300)
                .start(),
        ) else {
            return;
        };
        ns.push(dns.addr().to_string());
        domains.push("hospital.example".to_string());
        Some(dns)
    } else {
        None
    };
    let mut config = DnsConfig::new(&ns, &domains)
        .unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(2)
        })
        .timeout(Duration::from_secs(2));
    if ldaps {
        config = config.ldap_services(vec![Service::Ldaps, Service::Ldap]);
    }
    if strict {
        config = config.nearest(Nearest::Off);
    }
    let discoverer = SrvDiscoverer::new(config).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    match discoverer.discover_ldap() {
        Ok(found) => {
            println!(
                "{} in {} ({}, TTL {:?})",
                found.service, found.domain, found.source, found.ttl
            );
            for w in &found.walked {
                println!("  searched {}: {}", w.owner, w.result);
            }
            for f in &found.server_failures {
                println!("  name server {} failed: {}", f.server, f.failure);
            }
            println!("  nearest: {:?}", found.nearest);
            for (i, (t, url)) in found.targets.iter().zip(found.urls()).enumerate() {
                let how = t.addr_source;
                println!(
                    "{}. {url}  priority {} weight {}  -> {:?} ({how}, TTL {:?}){}",
                    i + 1,
                    t.record.priority,
                    t.record.weight,
                    t.addrs,
                    t.addr_ttl,
                    t.note
                        .as_deref()
                        .map(|n| format!("  [{n}]"))
                        .unwrap_or_default()
                );
            }
        }
        Err(e) => {
            eprintln!("no LDAP server found: {e}");
            std::process::exit(1);
        }
    }
}
