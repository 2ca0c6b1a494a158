//! Start to BOUND: annexr-dhcp against busybox `udhcpc`, the client a vendor
//! would otherwise script, in the same lab namespaces against the same
//! server (dnsmasq, then ISC kea), in the same run.
//!
//! Each run is a fresh client (new socket, new runtime for ours; a new
//! process for udhcpc) with its own client identifier; leases are not
//! released between runs, so the server answers from its lease database
//! (dnsmasq otherwise pings a new address for ~3 s before offering it: the
//! first, "cold" run of each client shows that and is reported apart).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::process::Command;
use std::time::{Duration, Instant};

use annexr_dhcp::Driver;
use annexr_dhcp::ReportOnly;
use annexr_dhcp::{Client, ClientConfig, Mac};
use annexr_lab::{DhcpLab, DhcpServer, or_skip};
use criterion::{Criterion, criterion_group, criterion_main};

const RUNS: usize = 20;

fn mac_of(ifname: &str) -> Mac {
    let out = Command::new("ip")
        .args(["-o", "link", "show", "dev", ifname])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mac = text
        .split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .unwrap();
    mac.parse().unwrap()
}

/// One start-to-BOUND of our client, on the calling (namespaced) thread.
fn ours(ifname: &str, mac: Mac) -> Duration {
    let t = Instant::now();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut d = Driver::new(
            ifname,
            Client::new(ClientConfig::new(mac)),
            ReportOnly::default(),
        )
        .unwrap();
        d.bound(Duration::from_secs(30)).await.unwrap();
    });
    t.elapsed()
}

/// One udhcpc process from start to exit-after-lease (`-q`), configuring
/// nothing (`-s /bin/true`), asking for the same options as ours.
fn udhcpc(lab: &DhcpLab) -> Duration {
    let mut cmd = lab.client_command("busybox");
    cmd.args([
        "udhcpc",
        "-f",
        "-q",
        "-n",
        "-t",
        "5",
        "-T",
        "1",
        "-s",
        "/bin/true",
    ])
    .args(["-i", lab.client_ifname()])
    .args(["-x", "0x3d:ff000000000bb0"]);
    for o in [2, 42, 100, 101, 119, 121] {
        cmd.args(["-O", &o.to_string()]);
    }
    let t = Instant::now();
    let out = cmd.output().unwrap();
    let took = t.elapsed();
    assert!(out.status.success(), "udhcpc: {out:?}");
    took
}

/// The cost of starting a process in the namespace at all (`ip netns exec`
/// plus busybox), to tell udhcpc's protocol time from its start-up.
fn process_floor(lab: &DhcpLab) -> Duration {
    let t = Instant::now();
    let out = lab.client_command("busybox").arg("true").output().unwrap();
    assert!(out.status.success());
    t.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn bench_server(c: &mut Criterion, server: DhcpServer) {
    let Some(lab) = or_skip(DhcpLab::start(server)) else {
        return;
    };
    let ifname = lab.client_ifname().to_owned();
    let mac = lab.in_client_ns(|| mac_of(&ifname)).unwrap();
    // Cold: the first lease of each client (dnsmasq pings the address).
    let ours_cold = lab.in_client_ns(|| ours(&ifname, mac)).unwrap();
    let udhcpc_cold = udhcpc(&lab);

    let name = format!("dhcp_bound_{server:?}").to_lowercase();
    let mut g = c.benchmark_group(&name);
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.bench_function("annexr", |b| {
        b.iter_custom(|iters| {
            lab.in_client_ns(|| (0..iters).map(|_| ours(&ifname, mac)).sum())
                .unwrap()
        })
    });
    g.bench_function("udhcpc_process", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| udhcpc(&lab)).sum())
    });
    g.finish();

    let ours_warm: Vec<_> = lab
        .in_client_ns(|| (0..RUNS).map(|_| ours(&ifname, mac)).collect())
        .unwrap();
    let udhcpc_warm: Vec<_> = (0..RUNS).map(|_| udhcpc(&lab)).collect();
    let floor: Vec<_> = (0..RUNS).map(|_| process_floor(&lab)).collect();
    let (o, u, f) = (median(ours_warm), median(udhcpc_warm), median(floor));
    println!(
        "{name}: start->BOUND median of {RUNS}: annexr {:.2} ms, udhcpc {:.2} ms (ratio {:.3}; \
         `ip netns exec busybox true` alone {:.2} ms); first lease: annexr {:.0} ms, udhcpc {:.0} ms",
        ms(o),
        ms(u),
        ms(o) / ms(u),
        ms(f),
        ms(ours_cold),
        ms(udhcpc_cold)
    );
}

fn bench(c: &mut Criterion) {
    if Command::new("busybox")
        .arg("udhcpc")
        .arg("--help")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: busybox is not installed (apt-get install busybox)");
        return;
    }
    bench_server(c, DhcpServer::Dnsmasq);
    bench_server(c, DhcpServer::Kea);
}

criterion_group!(benches, bench);
criterion_main!(benches);
