//! The Annex R sequence against the lab's real servers: normal startup,
//! install of a new device, and the fallbacks of R.1.3 and R.1.2.3.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::{Arc, Mutex};

use annexr::{Event, FileStore, NetworkMode, Outcome, Source, Startup, StartupConfig, Step, Store};
use annexr_lab::{SampleSite, Slapd, or_skip};

mod common;
use common::{new_modality, site_config};

#[tokio::test]
async fn normal_startup_of_a_configured_device_loads_it_from_ldap() {
    let Some(site) = or_skip(SampleSite::start(0)) else {
        return;
    };
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let mut config = site_config(&site, "CT-SCANNER-1");
    config.probe.enabled = true;
    config.probe.device_types = vec!["ARCHIVE".into(), "PRINT".into()];
    let outcome = Startup::builder()
        .config(config)
        .observer(Arc::new(move |e: &Event| {
            seen.lock().unwrap().push(e.clone())
        }))
        .build()
        .run()
        .await;
    let report = &outcome.report;
    println!("{report}");
    assert!(report.configured, "{report}");
    assert_eq!(report.configuration_source, Some(Source::Ldap));
    // The password is in the settings, and nowhere in what can be printed.
    let pw = site.slapd.device_password();
    let printed = format!("{outcome:?} {report} {}", report.to_json());
    assert!(!printed.contains(pw), "the password was printed");
    assert!(
        printed.contains("***"),
        "the settings show a redacted password"
    );
    let device = outcome.device.unwrap();
    assert_eq!(device.name, "CT-SCANNER-1");
    assert_eq!(device.network_aes[0].ae_title.as_str(), "CT1");
    let dns = report.step(Step::Dns).unwrap();
    assert_eq!(dns.outcome, Outcome::Done);
    // The SRV target by name (StartTLS verifies it), connected to at the
    // address the site's DNS gave for it.
    assert_eq!(
        outcome.ldap_urls,
        vec![format!(
            "ldap://{}:{}",
            annexr_lab::LDAP_HOST,
            site.slapd.port()
        )]
    );
    let ldap = report.step(Step::Ldap).unwrap();
    assert_eq!(ldap.outcome, Outcome::Done);
    // StartTLS, bind and one subtree search (plus locating the tree).
    assert!(ldap.round_trips.unwrap() <= 5, "{:?}", ldap.round_trips);
    // The archive and the printer answered C-ECHO, found on the same LDAP
    // connection the configure step used.
    let probe = report.step(Step::Probe).unwrap();
    assert_eq!(probe.outcome, Outcome::Done, "{report}");
    assert_eq!(probe.values.iter().filter(|v| v.name == "peer").count(), 2);
    let events = events.lock().unwrap();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::StepStarted { step: Step::Ldap }))
    );
    assert!(events.iter().any(|e| matches!(
        e,
        Event::StepFinished {
            step: Step::Configure,
            ..
        }
    )));
    // The JSON form carries the same.
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["configuration_source"], "ldap");
}

#[tokio::test]
async fn a_new_device_installs_itself_and_is_found_at_the_next_boot() {
    let Some(site) = or_skip(SampleSite::start(0)) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(FileStore::new(dir.path().join("state.json")));
    let local = new_modality("MR-NEW-1", "MRNEW1");
    let mut config = site_config(&site, "MR-NEW-1");
    config.time.enabled = false;
    let first = Startup::builder()
        .config(config.clone())
        .local_description(local.clone())
        .store(store.clone())
        .build()
        .run()
        .await;
    println!("{}", first.report);
    assert_eq!(
        first.report.configuration_source,
        Some(Source::Ldap),
        "{}",
        first.report
    );
    assert_eq!(
        first.report.step(Step::Configure).unwrap().outcome,
        Outcome::Done
    );
    let found = site
        .slapd
        .ldapsearch(&site.slapd.registry_dn(), "(dicomAETitle=MRNEW1)")
        .unwrap();
    assert!(found.contains("dicomAETitle: MRNEW1"), "{found}");
    let (state, _) = store.load().unwrap();
    assert_eq!(state.device_name.as_deref(), Some("MR-NEW-1"));
    assert_eq!(state.registered_titles, vec!["MRNEW1".to_string()]);

    // Second boot: the device remembers its name and LDAP has it.
    config.device.name = None;
    let second = Startup::builder()
        .config(config)
        .store(store)
        .build()
        .run()
        .await;
    assert_eq!(
        second.report.configuration_source,
        Some(Source::Ldap),
        "{}",
        second.report
    );
    let configure = second.report.step(Step::Configure).unwrap();
    assert_eq!(configure.detail, "LDAP matches the stored configuration");
}

#[tokio::test]
async fn ldap_down_falls_back_to_the_last_applied_configuration() {
    let Some(mut site) = or_skip(SampleSite::start(0)) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(FileStore::new(dir.path().join("state.json")));
    let mut config = site_config(&site, "CT-SCANNER-1");
    config.time.enabled = false;
    config.ldap.timeout_ms = 500;
    let first = Startup::builder()
        .config(config.clone())
        .store(store.clone())
        .build()
        .run()
        .await;
    assert_eq!(first.report.configuration_source, Some(Source::Ldap));
    site.slapd.stop();
    let started = std::time::Instant::now();
    let second = Startup::builder()
        .config(config)
        .store(store.clone())
        .build()
        .run()
        .await;
    println!("{}", second.report);
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(second.report.configured);
    assert_eq!(second.report.configuration_source, Some(Source::Cached));
    assert_eq!(
        second.report.step(Step::Ldap).unwrap().outcome,
        Outcome::Fallback
    );
    assert!(
        second
            .report
            .warnings
            .iter()
            .any(|w| w.step == Step::Ldap && !w.action.is_empty())
    );
    assert_eq!(
        second.device.unwrap().network_aes[0].ae_title.as_str(),
        "CT1"
    );
    // Nothing in the store was lost.
    let (state, _) = store.load().unwrap();
    assert!(state.last_configuration.is_some());
}

#[tokio::test]
async fn writes_refused_write_the_ldif_of_r_1_2_3_and_keep_running() {
    let Some(slapd) = or_skip(Slapd::builder().read_only(true).start()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ldif_path = dir.path().join("mr.ldif");
    let mut config = StartupConfig::default();
    config.device.name = Some("MR-RO-1".into());
    config.time.enabled = false;
    config.ldap.urls = vec![slapd.url()];
    config.ldap.bind_dn = Some(slapd.device_dn());
    config.ldap.password = Some(slapd.device_password().into());
    config.ldap.ca_file = slapd.ca_cert_path().map(|p| p.to_path_buf());
    config.ldap.ldif_fallback_path = Some(ldif_path.clone());
    let outcome = Startup::builder()
        .config(config)
        .local_description(new_modality("MR-RO-1", "MRRO1"))
        .build()
        .run()
        .await;
    println!("{}", outcome.report);
    assert_eq!(outcome.report.configuration_source, Some(Source::Local));
    assert_eq!(
        outcome.report.step(Step::Configure).unwrap().outcome,
        Outcome::Fallback
    );
    let ldif = std::fs::read_to_string(&ldif_path).unwrap();
    assert!(ldif.contains("dicomDeviceName=MR-RO-1"), "{ldif}");
    // The administrator loads it unchanged with the stock tool.
    slapd.ldapadd(&ldif).unwrap();
    let found = slapd
        .ldapsearch(&slapd.devices_dn(), "(dicomDeviceName=MR-RO-1)")
        .unwrap();
    assert!(found.contains("dicomDeviceName: MR-RO-1"), "{found}");
}

#[tokio::test]
async fn no_srv_record_falls_back_to_the_configured_ldap_url() {
    let Some(site) = or_skip(SampleSite::start(0)) else {
        return;
    };
    let mut config = site_config(&site, "CT-SCANNER-1");
    config.time.enabled = false;
    config.network.domain = Some("elsewhere.example".into());
    config.ldap.urls = vec![site.slapd.url()];
    // Ask DNS first (the default prefers configured URLs, H.1.4.1).
    config.ldap.prefer_configured = false;
    let outcome = Startup::builder().config(config).build().run().await;
    let dns = outcome.report.step(Step::Dns).unwrap();
    assert_eq!(dns.outcome, Outcome::Fallback, "{}", outcome.report);
    assert_eq!(outcome.report.configuration_source, Some(Source::Ldap));
}

#[tokio::test]
async fn time_step_measures_the_served_offset_without_touching_the_clock() {
    let Some(site) = or_skip(SampleSite::start(3)) else {
        return;
    };
    let mut config = site_config(&site, "CT-SCANNER-1");
    config.time.set_clock = false;
    let before = std::time::SystemTime::now();
    let outcome = Startup::builder().config(config).build().run().await;
    println!("{}", outcome.report);
    let time = outcome.report.step(Step::Time).unwrap();
    assert_eq!(time.outcome, Outcome::Done, "{}", outcome.report);
    let offset_us: i64 = time
        .values
        .iter()
        .find(|v| v.name == "offset-us")
        .unwrap()
        .value
        .parse()
        .unwrap();
    assert!(
        (offset_us - 3_000_000).abs() < 50_000,
        "offset {offset_us} µs"
    );
    // Off by 3 s with set_clock off: a warning, and no step.
    assert!(outcome.report.clock_step.is_none());
    assert!(outcome.report.warnings.iter().any(|w| w.step == Step::Time));
    assert!(
        std::time::SystemTime::now().duration_since(before).unwrap()
            < std::time::Duration::from_secs(10)
    );
    // The time step ran alongside DNS and LDAP rather than before them.
    let dns = outcome.report.step(Step::Dns).unwrap();
    assert!(dns.started_at_us < time.started_at_us + time.duration_us);
    let shutdown = outcome.shutdown(false).await;
    assert!(shutdown.problems.is_empty(), "{shutdown:?}");
}

#[test]
fn dhcp_startup_in_a_namespace_takes_the_server_lists_from_the_lease() {
    let Some(lab) = or_skip(annexr_lab::DhcpLab::start(annexr_lab::DhcpServer::Kea)) else {
        return;
    };
    let expected = lab.expected().clone();
    let interface = lab.client_ifname().to_string();
    let (report, released) = lab
        .in_client_ns(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let mut config = StartupConfig::default();
                config.device.name = Some("US-1".into());
                config.network.mode = NetworkMode::Dhcp;
                config.network.interface = Some(interface);
                config.time.timeout_ms = 300;
                config.time.samples = 1;
                config.dns.timeout_ms = 300;
                config.ldap.timeout_ms = 300;
                let outcome = Startup::builder().config(config).build().run().await;
                let report = outcome.report.clone();
                let shutdown = outcome.shutdown(false).await;
                (report, shutdown.lease_released)
            })
        })
        .unwrap();
    println!("{report}");
    let dhcp = report.step(Step::Dhcp).unwrap();
    assert_eq!(dhcp.outcome, Outcome::Done, "{report}");
    let value = |name: &str| -> Vec<String> {
        dhcp.values
            .iter()
            .filter(|v| v.name == name)
            .map(|v| v.value.clone())
            .collect()
    };
    assert_eq!(
        value("ntp-server"),
        vec![expected.ntp_servers[0].to_string()]
    );
    assert_eq!(
        value("dns-server"),
        vec![expected.dns_servers[0].to_string()]
    );
    assert_eq!(value("domain"), vec![expected.domain_name.clone()]);
    assert!(value("ip-address")[0].starts_with("10.231.0."));
    // No DNS server answers on the private link: DNS fails, then LDAP has no server.
    assert_eq!(report.step(Step::Dns).unwrap().outcome, Outcome::Failed);
    assert!(released, "DHCPRELEASE at shutdown");
    let log = lab.server_log();
    assert!(
        log.contains("DHCPRELEASE") || log.contains("DHCP4_RELEASE"),
        "{log}"
    );
}

#[tokio::test]
async fn the_second_boot_searches_the_remembered_configuration_root_directly() {
    let Some(site) = or_skip(SampleSite::start(0)) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut config = site_config(&site, "CT-SCANNER-1");
    config.time.enabled = false;
    config.store.path = Some(dir.path().join("state.json"));
    let trips = |outcome: &annexr::StartupOutcome| {
        outcome
            .report
            .step(Step::Ldap)
            .unwrap()
            .round_trips
            .unwrap()
    };
    let first = Startup::builder()
        .config(config.clone())
        .build()
        .run()
        .await;
    let second = Startup::builder()
        .config(config.clone())
        .build()
        .run()
        .await;
    assert_eq!(second.report.configuration_source, Some(Source::Ldap));
    // Root DSE and the search for dicomConfigurationRoot are replaced by
    // one pipelined check that the remembered root still holds cn=Devices.
    assert_eq!(
        trips(&second) + 1,
        trips(&first),
        "{}\n{}",
        first.report,
        second.report
    );
    // A remembered root that no longer holds the device is located anew.
    let store = FileStore::new(dir.path().join("state.json"));
    let (mut state, _) = store.load().unwrap();
    state.ldap_base_dn = Some("cn=Old Configuration,dc=hospital,dc=example".into());
    store.save(&state).unwrap();
    let third = Startup::builder().config(config).build().run().await;
    assert_eq!(
        third.report.configuration_source,
        Some(Source::Ldap),
        "{}",
        third.report
    );
}
