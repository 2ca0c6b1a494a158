//! Loading one device (10 AEs, 4 connections) with annexr-ldap against the
//! lab slapd, side by side with the stock `ldapsearch` doing the same subtree
//! search on the same server in the same run; and runtime AE resolution,
//! cached and uncached.
//!
//! annexr is timed in-process (connect + bind + one subtree search, and the
//! search alone on a bound connection). `ldapsearch` is timed as a vendor
//! script would run it, one process per load: its process start is part of
//! it, so the ratio is reported against both of our figures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::process::Command;
use std::time::{Duration, Instant};

use annexr_lab::{Slapd, or_skip};
use annexr_ldap::{ClientConfig, blocking::LdapClient};
use annexr_model::{Dn, Layout, NetworkConnection, export_device};
use criterion::{Criterion, criterion_group, criterion_main};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ldapsearch(slapd: &Slapd, base: &str) -> Duration {
    let t = Instant::now();
    let out = Command::new("ldapsearch")
        .args(["-x", "-LLL", "-o", "ldif-wrap=no", "-H", &slapd.url()])
        .args(["-D", &slapd.device_dn(), "-w", slapd.device_password()])
        .args(["-b", base, "-s", "sub", "(objectClass=*)"])
        .output()
        .expect("ldapsearch (apt-get install ldap-utils)");
    let elapsed = t.elapsed();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("dicomAETitle: LD10"));
    elapsed
}

fn bench(c: &mut Criterion) {
    let mut d = annexr_model::sample_modality("CT-BENCH", "LD", 10).unwrap();
    d.extensions = Default::default();
    d.network_aes[0].extensions = Default::default();
    d.connections
        .push(NetworkConnection::new("dicom3", "127.0.0.1", Some(11113)));
    d.connections
        .push(NetworkConnection::new("dicom4", "127.0.0.1", Some(11114)));
    let Some(slapd) = or_skip(Slapd::builder().log_operations(true).start()) else {
        return;
    };
    let layout = Layout::at(Dn::parse(&slapd.config_dn()).unwrap());
    slapd.ldapadd(&export_device(&d, &layout)).unwrap();
    let base = layout.device_dn("CT-BENCH").to_string();
    let config = ClientConfig::new(slapd.url())
        .simple_bind(slapd.device_dn(), slapd.device_password())
        .ca_file(slapd.ca_cert_path().expect("lab slapd has TLS"))
        .base_dn(slapd.config_dn());

    // Round trips, from our counter and from the server's own log.
    let before = slapd.log().len();
    let fresh = LdapClient::new(config.clone()).unwrap();
    let r = fresh.load_device("CT-BENCH").unwrap();
    assert_eq!(r.value.clone().found().unwrap().network_aes.len(), 10);
    let log = slapd.log();
    let ours = &log[before..];
    let binds = ours
        .lines()
        .filter(|l| l.contains(" BIND ") && l.contains(" method="))
        .count();
    let searches = ours.lines().filter(|l| l.contains(" SRCH base=")).count();
    eprintln!(
        "ldap_load: round trips {} (requests {}); server log: {binds} bind, {searches} search; {} entries",
        r.stats.round_trips,
        r.stats.requests,
        d.to_entries(&layout).len()
    );

    let bound = LdapClient::new(config.clone()).unwrap();
    bound.connect().unwrap();
    let mut g = c.benchmark_group("ldap_load");
    g.sample_size(30).measurement_time(Duration::from_secs(4));
    g.bench_function("annexr_connect_bind_search", |b| {
        b.iter(|| {
            let c = LdapClient::new(config.clone()).unwrap();
            c.load_device("CT-BENCH").unwrap()
        })
    });
    g.bench_function("annexr_search_on_bound_connection", |b| {
        b.iter(|| bound.load_device("CT-BENCH").unwrap())
    });
    if Command::new("ldapsearch").arg("-VV").output().is_ok() {
        g.bench_function("ldapsearch_process", |b| {
            b.iter(|| ldapsearch(&slapd, &base))
        });
    }
    g.finish();

    // Side-by-side medians in the same run, for the note.
    let n = 40;
    let ours_fresh = median(
        (0..n)
            .map(|_| {
                let t = Instant::now();
                let c = LdapClient::new(config.clone()).unwrap();
                c.load_device("CT-BENCH").unwrap();
                t.elapsed()
            })
            .collect(),
    );
    let ours_bound = median(
        (0..n)
            .map(|_| {
                let t = Instant::now();
                bound.load_device("CT-BENCH").unwrap();
                t.elapsed()
            })
            .collect(),
    );
    if Command::new("ldapsearch").arg("-VV").output().is_ok() {
        let stock = median((0..n).map(|_| ldapsearch(&slapd, &base)).collect());
        eprintln!(
            "ldap_load medians: annexr connect+bind+search {ours_fresh:?}, search only {ours_bound:?}, ldapsearch process {stock:?}; ratio annexr/ldapsearch {:.2} (fresh), {:.2} (bound)",
            ours_fresh.as_secs_f64() / stock.as_secs_f64(),
            ours_bound.as_secs_f64() / stock.as_secs_f64()
        );
    }

    // Runtime AE resolution: cached and uncached lookups per second.
    let mut g = c.benchmark_group("ldap_resolve");
    g.sample_size(30).measurement_time(Duration::from_secs(3));
    g.bench_function("uncached", |b| b.iter(|| bound.resolve_ae("LD5").unwrap()));
    bound.resolve_ae_cached("LD5").unwrap();
    g.bench_function("cached", |b| {
        b.iter(|| bound.resolve_ae_cached("LD5").unwrap())
    });
    g.finish();
    for (label, cached) in [("uncached", false), ("cached", true)] {
        let t = Instant::now();
        let mut k = 0u32;
        while t.elapsed() < Duration::from_secs(1) {
            if cached {
                bound.resolve_ae_cached("LD5").unwrap();
            } else {
                bound.resolve_ae("LD5").unwrap();
            }
            k += 1;
        }
        eprintln!(
            "ldap_resolve {label}: {:.0} lookups/s",
            f64::from(k) / t.elapsed().as_secs_f64()
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
