//! Loading a large device (an archive: 8 AEs × 140 transfer capabilities,
//! 1,131 entries) under slapd size limits none, 500 and 50: the sequential
//! round trips the load waits for (annexr-ldap's own counter) and its wall
//! time, as the device's own account on a bound connection (the load alone,
//! as annexr-ldap's size-limit test counts it).
//!
//! With `ANNEXR_BENCH_OUT` set, the round trips are also written there for
//! `cargo xtask bench` (see support/summary.rs).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::{Duration, Instant};

use annexr_lab::{Slapd, or_skip};
use annexr_ldap::{ClientConfig, DeviceLookup, blocking::LdapClient};
use annexr_model::export_device;
use annexr_model::{AeTitle, Dn, Layout};
use annexr_model::{Device, NetworkAe, NetworkConnection, TransferCapability, TransferRole};

#[path = "support/summary.rs"]
mod summary;

const AES: usize = 8;
const CAPABILITIES_PER_AE: usize = 140;
const RUNS: usize = 5;

/// The archive of annexr-ldap's size-limit test: names that share long
/// prefixes and suffixes, the hard case for splitting a level by name.
fn archive() -> Device {
    let mut d = Device::new("ARCHIVE-BIG")
        .with_device_type("ARCHIVE")
        .with_connection(NetworkConnection::new("dicom", "127.0.0.1", Some(11112)))
        .with_connection(NetworkConnection::new("dicom2", "127.0.0.1", Some(11113)));
    for a in 1..=AES {
        let mut ae =
            NetworkAe::new(AeTitle::new(&format!("ARCH{a}")).unwrap()).with_connection("dicom");
        for t in 0..CAPABILITIES_PER_AE {
            let role = if t % 2 == 0 {
                TransferRole::Scp
            } else {
                TransferRole::Scu
            };
            ae = ae.with_transfer_capability(TransferCapability::new(
                &format!("Storage {t} {role:?}"),
                &format!("1.2.840.10008.5.1.4.1.1.{}", t / 2 + 1),
                role,
                ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"],
            ));
        }
        d.network_aes.push(ae);
    }
    d
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let big = archive();
    let layout = Layout::at(Dn::parse("cn=DICOM Configuration,dc=example,dc=org").unwrap());
    let ldif = export_device(&big, &layout);
    println!(
        "large device load: {AES} AEs x {CAPABILITIES_PER_AE} transfer capabilities ({} entries), device account, bound connection",
        big.to_entries(&layout).len()
    );
    println!(
        "  {:<20} {:>12} {:>10} {:>14}",
        "slapd sizelimit", "round trips", "requests", "median time"
    );
    for limit in [None, Some(500), Some(50)] {
        // Seeded with slapadd: ldapadd of 1,131 entries through pipes is slow.
        let builder = Slapd::builder().seed_ldif(&ldif);
        let builder = match limit {
            Some(n) => builder.size_limit(n),
            None => builder,
        };
        let Some(slapd) = or_skip(builder.start()) else {
            return;
        };
        let config = ClientConfig::new(slapd.url())
            .simple_bind(slapd.device_dn(), slapd.device_password())
            .ca_file(slapd.ca_cert_path().expect("lab slapd has TLS"))
            .base_dn(slapd.config_dn());
        let mut times = Vec::new();
        let mut stats = None;
        for _ in 0..RUNS {
            let client = LdapClient::new(config.clone()).unwrap();
            client.connect().unwrap();
            let t = Instant::now();
            let r = client.load_device("ARCHIVE-BIG").unwrap();
            times.push(t.elapsed());
            let DeviceLookup::Found(loaded) = r.value else {
                panic!("size limit {limit:?}: ARCHIVE-BIG not found")
            };
            let capabilities: usize = loaded
                .network_aes
                .iter()
                .map(|ae| ae.transfer_capabilities.len())
                .sum();
            assert_eq!(capabilities, AES * CAPABILITIES_PER_AE, "limit {limit:?}");
            stats = Some(r.stats);
        }
        let stats = stats.unwrap();
        let name = limit.map_or("none".to_string(), |n| n.to_string());
        println!(
            "  {name:<20} {:>12} {:>10} {:>11.1} ms",
            stats.round_trips,
            stats.requests,
            median(times).as_secs_f64() * 1e3
        );
        summary::record(
            &format!("large_device_round_trips_sizelimit_{name}"),
            f64::from(stats.round_trips),
            "round trips",
        );
    }
}
