//! Normal startup (R.4) against the lab, static IP (DHCP skipped): SNTP +
//! DNS SRV + LDAP load of a device with 10 AEs. Timed in-process, side by
//! side in one run with what a vendor would otherwise script from the stock
//! tools: `chronyd -Q` (one-shot measurement), `dig` (SRV), `ldapsearch`
//! (the device subtree).
//!
//! `cargo bench --bench startup` runs on loopback. With
//! `ANNEXR_BENCH_DELAY_MS=20` every server sits behind a lab `DelayRelay`
//! adding 10 ms each way (a 20 ms round trip; the kernels of these machines
//! have no netem qdisc), so the time from "server lists known" to
//! "configured" divided by 20 ms is the number of sequential round trips.
//! A first boot (empty store: SRV answer awaited before LDAP) and a boot of
//! a configured device (the store of the first boot remembers the LDAP
//! server and configuration root) are measured apart. The time settings are
//! the defaults a device ships with.
//!
//! With `ANNEXR_BENCH_OUT` set, the key figures are also written there for
//! `cargo xtask bench` (see support/summary.rs).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::time::{Duration, Instant};

use annexr::{NetworkMode, Startup, StartupConfig, Step};
use annexr_lab::{Chronyd, DelayRelay, Dnsmasq, SITE_DOMAIN, Slapd, SrvRecord, or_skip};
use annexr_model::{Dn, Layout, NetworkConnection};

#[path = "support/summary.rs"]
mod summary;

const RUNS: usize = 15;
/// First boots, each with a new empty store.
const FIRST_BOOTS: usize = 5;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let delay: Option<u64> = std::env::var("ANNEXR_BENCH_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok());
    let one_way = delay.map(|ms| Duration::from_millis(ms) / 2);
    let rtt = one_way.map(|d| d * 2);
    // Each server behind a delay relay when a link delay is asked for.
    let relay = |upstream: std::net::SocketAddr| -> (std::net::SocketAddr, Option<DelayRelay>) {
        match one_way {
            Some(d) => {
                let r = DelayRelay::start(upstream, d).unwrap();
                (r.addr(), Some(r))
            }
            None => (upstream, None),
        }
    };

    // The device: 10 AEs, 4 connections.
    let mut device = annexr_model::sample_modality("CT-BENCH", "BN", 10).unwrap();
    // The sample carries dcm4che extension classes the lab schema lacks.
    device.extensions = Default::default();
    for ae in &mut device.network_aes {
        ae.extensions = Default::default();
    }
    device
        .connections
        .push(NetworkConnection::new("dicom3", "127.0.0.1", Some(11113)));
    device
        .connections
        .push(NetworkConnection::new("dicom4", "127.0.0.1", Some(11114)));
    let Some(slapd) = or_skip(Slapd::builder().suffix("dc=hospital,dc=example").start()) else {
        return;
    };
    let layout = Layout::at(Dn::parse(&slapd.config_dn()).unwrap());
    slapd
        .ldapadd(&annexr_model::export_device(&device, &layout))
        .unwrap();
    let (ldap_addr, _ldap_relay) = relay(slapd.addr());
    let Some(dns) = or_skip(
        Dnsmasq::builder()
            .srv(SrvRecord::new(
                &format!("_ldap._tcp.{SITE_DOMAIN}"),
                "ldap.hospital.example",
                ldap_addr.port(),
            ))
            .host("ldap.hospital.example", IpAddr::V4(Ipv4Addr::LOCALHOST))
            .ttl(0)
            .start(),
    ) else {
        return;
    };
    let (dns_addr, _dns_relay) = relay(dns.addr());
    let Some(ntp) = or_skip(Chronyd::builder().start()) else {
        return;
    };
    let (ntp_addr, _ntp_relay) = relay(ntp.addr());
    let ldap_url = format!("ldap://{ldap_addr}");

    let mut config = StartupConfig::default();
    config.device.name = Some("CT-BENCH".into());
    config.network.mode = NetworkMode::Static;
    config.network.dns_servers = vec![dns_addr.to_string()];
    config.network.ntp_servers = vec![ntp_addr.to_string()];
    config.network.domain = Some(SITE_DOMAIN.into());
    config.ldap.bind_dn = Some(slapd.device_dn());
    config.ldap.password = Some(slapd.device_password().into());
    config.ldap.ca_file = slapd.ca_cert_path().map(|p| p.to_path_buf());
    config.dns.nearest = false;
    let runtime = tokio::runtime::Runtime::new().unwrap();

    // "Address and server lists known" to "configured": the DNS step's start
    // to the configure step's end (SNTP runs alongside).
    let lists_to_configured = |report: &annexr::StartupReport| {
        let dns_step = report.step(Step::Dns).unwrap();
        let configure = report.step(Step::Configure).unwrap();
        Duration::from_micros(
            configure.started_at_us + configure.duration_us - dns_step.started_at_us,
        )
    };

    // First boots: a new device's empty store each time. The last one's
    // store is kept: the configured device of the timed runs below boots
    // with it.
    let mut first_boot = Vec::new();
    let mut store_dir = tempfile::tempdir().unwrap();
    for _ in 0..FIRST_BOOTS {
        store_dir = tempfile::tempdir().unwrap();
        config.store.path = Some(store_dir.path().join("state.json"));
        let outcome = runtime.block_on(Startup::builder().config(config.clone()).build().run());
        let report = &outcome.report;
        assert_eq!(
            report.configuration_source,
            Some(annexr::Source::Ldap),
            "{report}"
        );
        first_boot.push(lists_to_configured(report));
        runtime.block_on(outcome.shutdown(false));
    }

    // Ours, in-process, as a configured device.
    let mut ours = Vec::new();
    let mut configured_at = Vec::new();
    let mut time_step = Vec::new();
    let mut trips = 0;
    for _ in 0..RUNS {
        let startup = Startup::builder().config(config.clone()).build();
        let t = Instant::now();
        let outcome = runtime.block_on(startup.run());
        ours.push(t.elapsed());
        let report = &outcome.report;
        assert_eq!(
            report.configuration_source,
            Some(annexr::Source::Ldap),
            "{report}"
        );
        assert_eq!(outcome.device.as_ref().unwrap().network_aes.len(), 10);
        configured_at.push(lists_to_configured(report));
        // The startup's time decision: the time step from its start to its end.
        let time = report.step(Step::Time).unwrap();
        assert!(time.outcome == annexr::Outcome::Done, "time step: {report}");
        time_step.push(Duration::from_micros(time.duration_us));
        trips = report.step(Step::Ldap).unwrap().round_trips.unwrap_or(0);
        runtime.block_on(outcome.shutdown(false));
    }
    drop(store_dir);

    // The stock tools, one after another as a shell script would.
    let device_dn = layout.device_dn("CT-BENCH").to_string();
    let mut chrony = Vec::new();
    let mut dig = Vec::new();
    let mut ldapsearch = Vec::new();
    let stock_runs = if rtt.is_some() { 3 } else { 5 };
    for i in 0..stock_runs {
        let t = Instant::now();
        let out = Command::new("chronyd")
            .args(["-Q", "-t", "10"])
            .arg(format!("server 127.0.0.1 port {} iburst", ntp_addr.port()))
            .arg(format!(
                "pidfile {}/annexr-bench-chronyd-{i}.pid",
                std::env::temp_dir().display()
            ))
            .output()
            .expect("chronyd");
        chrony.push(t.elapsed());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("System clock wrong"),
            "{out:?}"
        );
        let t = Instant::now();
        let out = Command::new("dig")
            .args([
                "+short",
                "-p",
                &dns_addr.port().to_string(),
                "@127.0.0.1",
                "SRV",
            ])
            .arg(format!("_ldap._tcp.{SITE_DOMAIN}"))
            .output()
            .expect("dig (apt-get install bind9-dnsutils)");
        dig.push(t.elapsed());
        assert!(String::from_utf8_lossy(&out.stdout).contains("ldap.hospital.example"));
        let t = Instant::now();
        let out = Command::new("ldapsearch")
            .args([
                "-x",
                "-LLL",
                "-H",
                &ldap_url,
                "-D",
                &slapd.device_dn(),
                "-w",
                slapd.device_password(),
            ])
            .args(["-b", &device_dn, "-s", "sub", "(objectClass=*)"])
            .output()
            .expect("ldapsearch");
        ldapsearch.push(t.elapsed());
        assert!(String::from_utf8_lossy(&out.stdout).contains("dicomAETitle: BN10"));
    }
    let script = median(chrony.clone()) + median(dig.clone()) + median(ldapsearch.clone());
    let script_without_ntp = median(dig.clone()) + median(ldapsearch.clone());
    // Against "server lists -> configured": the script without chronyd -Q
    // does no time synchronization either.
    let ratio_without_ntp =
        script_without_ntp.as_secs_f64() / median(configured_at.clone()).as_secs_f64();

    println!(
        "normal startup, static IP, device with 10 AEs and 4 connections{}",
        match rtt {
            Some(r) => format!(", every round trip {}", ms(r)),
            None => " (loopback)".into(),
        }
    );
    println!(
        "  annexr in-process, whole sequence     median {} over {RUNS} runs",
        ms(median(ours.clone()))
    );
    println!(
        "  annexr, server lists -> configured    median {}",
        ms(median(configured_at.clone()))
    );
    println!("  annexr LDAP round trips (counted)     {trips}");
    println!(
        "  annexr time step (startup decision)   median {}",
        ms(median(time_step.clone()))
    );
    println!(
        "  annexr first boot (empty store), server lists -> configured  median {} over {FIRST_BOOTS} runs",
        ms(median(first_boot.clone()))
    );
    println!(
        "  stock: chronyd -Q                     median {}",
        ms(median(chrony))
    );
    println!(
        "  stock: dig SRV                        median {}",
        ms(median(dig))
    );
    println!(
        "  stock: ldapsearch subtree             median {}",
        ms(median(ldapsearch))
    );
    println!(
        "  stock script total                    {} ({} without chronyd -Q)",
        ms(script),
        ms(script_without_ntp)
    );
    println!(
        "  ratio stock script / annexr           {:.1}x ({:.1}x without chronyd -Q)",
        script.as_secs_f64() / median(ours.clone()).as_secs_f64(),
        ratio_without_ntp
    );
    match rtt {
        Some(rtt) => {
            let round_trips = |d: Duration| d.as_secs_f64() / rtt.as_secs_f64();
            let remembered = round_trips(median(configured_at));
            let first = round_trips(median(first_boot));
            println!(
                "  sequential round trips, server lists -> configured: {remembered:.2} remembered (target <= 3), {first:.2} first boot (target <= 5)"
            );
            let link = rtt.as_millis();
            summary::record(
                &format!("startup_round_trips_{link}ms_remembered"),
                remembered,
                "round trips",
            );
            summary::record(
                &format!("startup_round_trips_{link}ms_first_boot"),
                first,
                "round trips",
            );
        }
        None => {
            let ms_of = |d: Duration| d.as_secs_f64() * 1000.0;
            summary::record("startup_whole_ms_loopback", ms_of(median(ours)), "ms");
            summary::record(
                "startup_ratio_vs_stock_without_chronyd",
                ratio_without_ntp,
                "x",
            );
            summary::record("first_sync_ms_loopback", ms_of(median(time_step)), "ms");
        }
    }
}
