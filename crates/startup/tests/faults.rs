//! The fault matrix of the startup issue: each server down, too slow, or
//! answering garbage; a dead primary LDAP server with a live second SRV
//! target; a damaged store. Every case must end in its documented fallback,
//! with a report that says so and an action, within a bounded time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::{IpAddr, Ipv4Addr, TcpListener, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use annexr::{FileStore, NetworkMode, Outcome, Source, Startup, StartupConfig, Step, Store};
use annexr_lab::{Dnsmasq, SITE_DOMAIN, SampleSite, SrvRecord, or_skip};

mod common;
use common::{new_modality, site_config};

/// Every case finishes well within this (timeouts are 300–500 ms).
const BOUND: Duration = Duration::from_secs(8);

fn fast(mut config: StartupConfig) -> StartupConfig {
    config.dns.timeout_ms = 300;
    config.ldap.timeout_ms = 500;
    config.time.timeout_ms = 300;
    config.time.samples = 2;
    config
}

/// A UDP port that never answers (bound, never read).
fn silent_udp() -> (UdpSocket, String) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap().to_string();
    (socket, addr)
}

/// A TCP port that accepts connections (kernel backlog) but never answers.
fn silent_tcp() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ldap://{}", listener.local_addr().unwrap());
    (listener, url)
}

/// A TCP port with nothing listening.
fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ldap://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

async fn run(
    config: StartupConfig,
    local: Option<annexr_model::Device>,
) -> (annexr::StartupOutcome, Duration) {
    let started = Instant::now();
    let mut builder = Startup::builder().config(config);
    if let Some(local) = local {
        builder = builder.local_description(local);
    }
    let outcome = builder.build().run().await;
    let took = started.elapsed();
    println!("{}", outcome.report);
    assert!(took < BOUND, "took {took:?}");
    (outcome, took)
}

fn has_action(outcome: &annexr::StartupOutcome, step: Step) -> bool {
    outcome
        .report
        .warnings
        .iter()
        .any(|w| w.step == step && !w.action.is_empty())
}

#[tokio::test]
async fn dns_down_or_silent_falls_back_to_the_configured_ldap_url() {
    let Some(site) = or_skip(SampleSite::start(0)) else {
        return;
    };
    let (_silent, silent_addr) = silent_udp();
    let mut config = fast(site_config(&site, "CT-SCANNER-1"));
    config.network.dns_servers = vec![silent_addr];
    config.ldap.urls = vec![site.slapd.url()];
    // Ask DNS first (the default prefers configured URLs, H.1.4.1).
    config.ldap.prefer_configured = false;
    let (outcome, _) = run(config, None).await;
    assert_eq!(
        outcome.report.step(Step::Dns).unwrap().outcome,
        Outcome::Fallback
    );
    assert_eq!(outcome.report.configuration_source, Some(Source::Ldap));
    assert!(has_action(&outcome, Step::Dns));
}

#[tokio::test]
async fn dns_answering_for_another_domain_only_falls_back() {
    let Some(site) = or_skip(SampleSite::start(0)) else {
        return;
    };
    // A real name server with records for another site only: NXDOMAIN here.
    let Some(dns) = or_skip(
        Dnsmasq::builder()
            .srv(SrvRecord::new(
                "_ldap._tcp.other.example",
                "ldap.other.example",
                389,
            ))
            .start(),
    ) else {
        return;
    };
    let mut config = fast(site_config(&site, "CT-SCANNER-1"));
    config.network.dns_servers = vec![dns.addr().to_string()];
    config.ldap.urls = vec![site.slapd.url()];
    config.ldap.prefer_configured = false;
    let (outcome, _) = run(config, None).await;
    assert_eq!(
        outcome.report.step(Step::Dns).unwrap().outcome,
        Outcome::Fallback
    );
    assert_eq!(outcome.report.configuration_source, Some(Source::Ldap));
}

#[tokio::test]
async fn dead_primary_ldap_server_fails_over_to_the_second_srv_target() {
    let Some(site) = or_skip(SampleSite::start(0)) else {
        return;
    };
    let dead = closed_port_url();
    let dead_port: u16 = dead.rsplit(':').next().unwrap().parse().unwrap();
    let Some(dns) = or_skip(
        Dnsmasq::builder()
            .srv(
                SrvRecord::new(
                    &format!("_ldap._tcp.{SITE_DOMAIN}"),
                    "ldap1.hospital.example",
                    dead_port,
                )
                .priority(0),
            )
            .srv(
                SrvRecord::new(
                    &format!("_ldap._tcp.{SITE_DOMAIN}"),
                    "ldap2.hospital.example",
                    site.slapd.port(),
                )
                .priority(10),
            )
            .host("ldap1.hospital.example", IpAddr::V4(Ipv4Addr::LOCALHOST))
            .host("ldap2.hospital.example", IpAddr::V4(Ipv4Addr::LOCALHOST))
            .start(),
    ) else {
        return;
    };
    let mut config = fast(site_config(&site, "CT-SCANNER-1"));
    config.network.dns_servers = vec![dns.addr().to_string()];
    config.dns.nearest = false;
    let (outcome, _) = run(config, None).await;
    assert_eq!(outcome.ldap_urls.len(), 2, "{:?}", outcome.ldap_urls);
    // By name: StartTLS verifies it.
    assert_eq!(
        outcome.ldap_urls[1],
        format!("ldap://ldap2.hospital.example:{}", site.slapd.port())
    );
    assert_eq!(
        outcome.report.step(Step::Ldap).unwrap().outcome,
        Outcome::Done
    );
    assert_eq!(outcome.report.configuration_source, Some(Source::Ldap));
}

#[tokio::test]
async fn ldap_down_slow_or_garbage_ends_on_the_local_description() {
    let Some(site) = or_skip(SampleSite::start(0)) else {
        return;
    };
    let (_silent, silent_url) = silent_tcp();
    // storescp speaks DICOM: an LDAP bind is garbage to it and back.
    let garbage_url = format!("ldap://{}", site.archive.addr());
    for (case, url) in [
        ("down", closed_port_url()),
        ("slow", silent_url),
        ("garbage", garbage_url),
    ] {
        let mut config = fast(site_config(&site, "MR-FAULT-1"));
        config.time.enabled = false;
        config.ldap.urls = vec![url];
        config.ldap.prefer_configured = true;
        let (outcome, _) = run(config, Some(new_modality("MR-FAULT-1", "MRF1"))).await;
        assert_eq!(
            outcome.report.step(Step::Ldap).unwrap().outcome,
            Outcome::Fallback,
            "{case}"
        );
        assert_eq!(
            outcome.report.configuration_source,
            Some(Source::Local),
            "{case}"
        );
        assert!(has_action(&outcome, Step::Ldap), "{case}");
    }
}

#[tokio::test]
async fn ntp_down_or_garbage_keeps_the_local_clock_and_says_so() {
    let Some(site) = or_skip(SampleSite::start(0)) else {
        return;
    };
    let (_silent, silent_addr) = silent_udp();
    // dnsmasq answers an NTP request as a malformed DNS query: garbage for SNTP.
    for (case, server) in [
        ("down", silent_addr),
        ("garbage", site.dns_addr().to_string()),
    ] {
        let mut config = fast(site_config(&site, "CT-SCANNER-1"));
        config.network.ntp_servers = vec![server];
        let (outcome, _) = run(config, None).await;
        let time = outcome.report.step(Step::Time).unwrap();
        assert_eq!(time.outcome, Outcome::Fallback, "{case}");
        assert!(
            time.values.iter().any(|v| v.source == Source::LocalClock),
            "{case}"
        );
        assert!(has_action(&outcome, Step::Time), "{case}");
        // The rest of the sequence did not wait for the clock.
        assert_eq!(
            outcome.report.configuration_source,
            Some(Source::Ldap),
            "{case}"
        );
    }
}

#[tokio::test]
async fn a_damaged_store_is_reported_and_rewritten() {
    let Some(site) = or_skip(SampleSite::start(0)) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let mut config = fast(site_config(&site, "CT-SCANNER-1"));
    config.time.enabled = false;
    config.store.path = Some(path.clone());
    // First boot writes the store; a later boot finds it truncated.
    run(config.clone(), None).await;
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 3]).unwrap();
    let (outcome, _) = run(config.clone(), None).await;
    assert_eq!(outcome.report.configuration_source, Some(Source::Ldap));
    assert!(
        outcome
            .report
            .warnings
            .iter()
            .any(|w| w.message.contains("store"))
    );
    // Garbage with no previous generation: started as a new device, store rewritten.
    std::fs::write(&path, b"\xff\xfe garbage").unwrap();
    let _ = std::fs::remove_file(dir.path().join("state.json.prev"));
    let (outcome, _) = run(config, None).await;
    assert!(
        outcome
            .report
            .warnings
            .iter()
            .any(|w| w.message.contains("store could not be read"))
    );
    let (state, _) = FileStore::new(&path).load().unwrap();
    assert_eq!(state.device_name.as_deref(), Some("CT-SCANNER-1"));
    let store: Arc<dyn Store> = Arc::new(FileStore::new(&path));
    assert!(store.load().is_ok());
}

#[test]
fn dhcp_server_down_falls_back_to_the_static_settings() {
    let Some(mut lab) = or_skip(annexr_lab::DhcpLab::start(annexr_lab::DhcpServer::Dnsmasq)) else {
        return;
    };
    lab.stop_server();
    let interface = lab.client_ifname().to_string();
    let (report, took) = lab
        .in_client_ns(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let mut config = fast(StartupConfig::default());
                config.device.name = Some("US-2".into());
                config.network.mode = NetworkMode::Dhcp;
                config.network.interface = Some(interface);
                config.network.dhcp_timeout_ms = 1_500;
                config.network.ntp_servers = vec!["10.231.0.1".into()];
                config.time.enabled = false;
                let started = Instant::now();
                let outcome = Startup::builder().config(config).build().run().await;
                (outcome.report.clone(), started.elapsed())
            })
        })
        .unwrap();
    println!("{report}");
    assert!(took < BOUND, "{took:?}");
    let dhcp = report.step(Step::Dhcp).unwrap();
    assert_eq!(dhcp.outcome, Outcome::Fallback);
    assert!(
        dhcp.values
            .iter()
            .any(|v| v.name == "ntp-server" && v.source == Source::Static)
    );
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.step == Step::Dhcp && !w.action.is_empty())
    );
}
