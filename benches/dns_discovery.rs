//! Cold and cached SRV discovery with annexr-dns against the lab dnsmasq, side
//! by side with `dig` on the same query in the same run.
//!
//! `dig` is timed as a vendor script would use it: one process per lookup. Its
//! own "Query time" (network only, ms resolution) is printed as well, so the
//! process start cost can be told apart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::time::{Duration, Instant};

use annexr_dns::{DnsConfig, Nearest, blocking::SrvDiscoverer};
use annexr_lab::{Dnsmasq, SrvRecord, or_skip};
use criterion::{Criterion, criterion_group, criterion_main};

const OWNER: &str = "_ldap._tcp.hospital.example";

fn dig(port: u16) -> (Duration, Option<u32>) {
    let t = Instant::now();
    let out = Command::new("dig")
        .args([
            "-p",
            &port.to_string(),
            "@127.0.0.1",
            OWNER,
            "SRV",
            "+tries=1",
            "+time=2",
        ])
        .output()
        .expect("dig (apt-get install bind9-dnsutils)");
    let elapsed = t.elapsed();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ldap1.hospital.example"), "{text}");
    let query_ms = text
        .lines()
        .find_map(|l| l.strip_prefix(";; Query time: "))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok());
    (elapsed, query_ms)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn bench(c: &mut Criterion) {
    if Command::new("dig").arg("-v").output().is_err() {
        eprintln!("SKIPPED: dig is not installed (apt-get install bind9-dnsutils)");
        return;
    }
    let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let Some(dns) = or_skip(
        Dnsmasq::builder()
            .srv(SrvRecord::new(OWNER, "ldap1.hospital.example", 389).weight(70))
            .srv(SrvRecord::new(OWNER, "ldap2.hospital.example", 389).weight(30))
            .host("ldap1.hospital.example", local)
            .host("ldap2.hospital.example", local)
            .ttl(3600)
            .start(),
    ) else {
        return;
    };
    let port = dns.addr().port();
    let d = SrvDiscoverer::new(
        DnsConfig::new(&[dns.addr().to_string()], &["hospital.example"])
            .unwrap()
            .nearest(Nearest::Off),
    )
    .unwrap();

    let mut g = c.benchmark_group("dns_discovery");
    g.sample_size(30).measurement_time(Duration::from_secs(3));
    g.bench_function("annexr_cold", |b| {
        b.iter(|| {
            d.clear_cache();
            d.discover_ldap().unwrap()
        })
    });
    g.bench_function("annexr_cached", |b| b.iter(|| d.discover_ldap().unwrap()));
    g.bench_function("dig_process", |b| b.iter(|| dig(port)));
    g.finish();

    // Medians side by side, one run, same server and query.
    const N: usize = 100;
    let cold: Vec<_> = (0..N)
        .map(|_| {
            d.clear_cache();
            let t = Instant::now();
            d.discover_ldap().unwrap();
            t.elapsed()
        })
        .collect();
    let cached: Vec<_> = (0..N)
        .map(|_| {
            let t = Instant::now();
            d.discover_ldap().unwrap();
            t.elapsed()
        })
        .collect();
    let digs: Vec<_> = (0..N).map(|_| dig(port)).collect();
    let dig_query_ms: Vec<u32> = digs.iter().filter_map(|d| d.1).collect();
    let (cold, cached, dig_wall) = (
        median(cold),
        median(cached),
        median(digs.iter().map(|d| d.0).collect()),
    );
    println!(
        "\n{OWNER} SRV against dnsmasq {} (median of {N}):",
        dns.addr()
    );
    println!("  annexr cold (SRV query, addresses from additional section): {cold:?}");
    println!("  annexr cached:                                              {cached:?}");
    println!(
        "  dig (one process per lookup):                               {dig_wall:?}  (dig's own query time: median {} ms)",
        {
            let mut q = dig_query_ms.clone();
            q.sort();
            q.get(q.len() / 2).copied().unwrap_or(0)
        }
    );
    println!(
        "  ratios: dig/cold {:.1}x, cold/cached {:.1}x",
        dig_wall.as_secs_f64() / cold.as_secs_f64(),
        cold.as_secs_f64() / cached.as_secs_f64()
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
