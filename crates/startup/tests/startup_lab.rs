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
    // The server logs the RELEASE when it has read it: give it up to 5 s.
    let released_in_log = |log: &str| log.contains("DHCPRELEASE") || log.contains("DHCP4_RELEASE");
    let mut log = lab.server_log();
    for _ in 0..50 {
        if released_in_log(&log) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        log = lab.server_log();
    }
    assert!(released_in_log(&log), "{log}");
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
    // Root DSE and the search for dicomConfigurationRoot are gone: the
    // device is searched under the remembered root directly (found there,
    // it proves the root).
    assert_eq!(
        trips(&second) + 2,
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

/// The test binary re-runs itself under libfaketime for the clock tests;
/// this variable carries the child's settings (JSON) and marks the child.
const FAKETIME_CHILD: &str = "ANNEXR_TEST_FAKETIME_CHILD";
/// The bind password of the child (kept out of the serialized settings).
const FAKETIME_CHILD_PASSWORD: &str = "ANNEXR_TEST_FAKETIME_CHILD_PASSWORD";
/// Where Debian's libfaketime package puts the preload library.
const FAKETIME_LIBS: [&str; 2] = [
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
];

/// The device side of the clock tests: run only by
/// [`startup_under_faketime`], in a process whose clock libfaketime shifts.
#[tokio::test]
#[ignore = "the child of the TLS clock tests; they run it under libfaketime"]
async fn tls_clock_child_runs_the_startup_under_faketime() {
    let settings = std::env::var(FAKETIME_CHILD).expect(
        "run by the tls_with_clock_* tests, with the settings in ANNEXR_TEST_FAKETIME_CHILD",
    );
    let mut config: StartupConfig = serde_json::from_str(&settings).unwrap();
    // The password is never serialized with the settings: it comes apart.
    config.ldap.password = std::env::var(FAKETIME_CHILD_PASSWORD).ok();
    let name = config.device.name.clone().unwrap();
    let outcome = Startup::builder()
        .config(config)
        .local_description(new_modality(&name, &name.replace('-', "")))
        .build()
        .run()
        .await;
    eprintln!("{}", outcome.report);
    println!("<<<REPORT\n{}\nREPORT>>>", outcome.report.to_json());
}

/// Runs the startup of `device` in a child process whose clock is shifted by
/// `faketime` (libfaketime syntax, e.g. `-730d`), against an LDAPS server
/// of the lab CA (valid 30 days from now) and `ntp` correct NTP servers.
/// Returns the child's report as JSON, or `None` when libfaketime is
/// missing and the lab is not required.
fn startup_under_faketime(
    faketime: &str,
    device: &str,
    ntp: usize,
    trust_single_server: bool,
) -> Option<(serde_json::Value, Slapd)> {
    let Some(lib) = FAKETIME_LIBS
        .iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        assert!(
            !annexr_lab::lab_required(),
            "libfaketime is missing (package faketime)"
        );
        eprintln!("SKIPPED: libfaketime is missing (package faketime)");
        return None;
    };
    let slapd = or_skip(Slapd::builder().tls(true).start())?;
    let mut servers = Vec::new();
    for _ in 0..ntp {
        servers.push(or_skip(annexr_lab::Chronyd::builder().start())?);
    }
    let mut config = StartupConfig::default();
    config.device.name = Some(device.to_string());
    config.network.mode = NetworkMode::Static;
    config.network.ntp_servers = servers.iter().map(|s| s.addr().to_string()).collect();
    config.ldap.urls = vec![slapd.ldaps_url().unwrap()];
    config.ldap.prefer_configured = true;
    config.ldap.ca_file = slapd.ca_cert_path().map(Into::into);
    config.ldap.bind_dn = Some(slapd.device_dn());
    config.ldap.password = Some(slapd.device_password().to_string());
    config.ldap.timeout_ms = 3_000;
    config.time.trust_single_server = trust_single_server;
    config.time.set_clock = false;
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "tls_clock_child_runs_the_startup_under_faketime",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(FAKETIME_CHILD, serde_json::to_string(&config).unwrap())
        .env(FAKETIME_CHILD_PASSWORD, slapd.device_password())
        .env("LD_PRELOAD", lib)
        .env("FAKETIME", faketime)
        // Timers and timeouts keep the real monotonic clock.
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    eprintln!("{stderr}");
    let json = stdout
        .split("<<<REPORT\n")
        .nth(1)
        .and_then(|rest| rest.split("\nREPORT>>>").next())
        .unwrap_or_else(|| panic!("no report from the child:\n{stdout}\n{stderr}"));
    Some((serde_json::from_str(json).unwrap(), slapd))
}

/// The µs in `days` days.
fn days_us(days: i64) -> i64 {
    days * 86_400 * 1_000_000
}

fn assert_configured_over_tls_with_corrected_time(report: &serde_json::Value, offset_us: i64) {
    assert_eq!(report["configuration_source"], "ldap", "{report:#}");
    assert_eq!(report["configured"], true);
    let time = &report["time"];
    let measured = time["clock_offset_us"].as_i64().unwrap();
    assert!(
        (measured - offset_us).abs() < 60_000_000,
        "measured {measured} µs, expected about {offset_us}"
    );
    assert_eq!(time["clock_was_off"], true, "{time}");
    assert_eq!(time["time_class"], "insufficient", "{time}");
    assert_eq!(time["startup_step"], "not-applied", "{time}");
    assert_eq!(time["agreeing_servers"], 2, "{time}");
    assert_eq!(time["tls_time_corrected"], true, "{time}");
    assert!(
        report["clock_step"].is_null(),
        "the clock itself is never set here"
    );
    // LDAP waited for the time step.
    let steps = report["steps"].as_array().unwrap();
    let at = |name: &str| {
        steps
            .iter()
            .find(|s| s["step"] == name)
            .map(|s| {
                (
                    s["started_at_us"].as_u64().unwrap(),
                    s["duration_us"].as_u64().unwrap(),
                )
            })
            .unwrap()
    };
    let (time_at, time_took) = at("time");
    assert!(at("ldap").0 >= time_at + time_took, "{report:#}");
}

#[test]
fn tls_with_clock_two_years_behind_is_configured() {
    let Some((report, slapd)) = startup_under_faketime("-730d", "MR-PAST-1", 2, false) else {
        return;
    };
    assert_configured_over_tls_with_corrected_time(&report, days_us(730));
    let found = slapd
        .ldapsearch(&slapd.devices_dn(), "(dicomDeviceName=MR-PAST-1)")
        .unwrap();
    assert!(found.contains("dicomDeviceName: MR-PAST-1"), "{found}");
}

#[test]
fn tls_with_clock_two_years_ahead_is_configured() {
    let Some((report, _slapd)) = startup_under_faketime("+730d", "MR-FUTURE-1", 2, false) else {
        return;
    };
    assert_configured_over_tls_with_corrected_time(&report, -days_us(730));
}

/// The control: one NTP server alone may not move the time TLS checks
/// against by two years, so the certificate is "not yet valid" and LDAP
/// fails; the report says why.
#[test]
fn tls_with_clock_two_years_behind_and_one_unconfirmed_server_is_refused() {
    let Some((report, _slapd)) = startup_under_faketime("-730d", "MR-ALONE-1", 1, false) else {
        return;
    };
    let time = &report["time"];
    assert_eq!(time["startup_step"], "refused", "{time}");
    assert_eq!(time["agreeing_servers"], 1, "{time}");
    assert_eq!(time["tls_time_corrected"], false, "{time}");
    assert_ne!(report["configuration_source"], "ldap", "{report:#}");
    let warnings = report["warnings"].to_string();
    assert!(warnings.contains("trust_single_server"), "{warnings}");
    let ldap = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "ldap")
        .unwrap();
    assert_ne!(ldap["outcome"], "done", "{ldap}");
}

/// With `trust_single_server` the one server's time is used (and the report
/// warns that it was).
#[test]
fn tls_with_clock_two_years_ahead_and_trusted_single_server_is_configured() {
    let Some((report, _slapd)) = startup_under_faketime("+730d", "MR-TRUST-1", 1, true) else {
        return;
    };
    assert_eq!(report["configuration_source"], "ldap", "{report:#}");
    assert_eq!(report["time"]["tls_time_corrected"], true);
    let warnings = report["warnings"].to_string();
    assert!(warnings.contains("single NTP server"), "{warnings}");
}

/// `[time] required_class` (R.6): not reached is a WARNING, and the class is
/// a structured report field (JSON too); reached, no warning.
#[tokio::test]
async fn required_class_not_reached_is_a_warning_and_a_report_field() {
    let Some(off) = or_skip(annexr_lab::Chronyd::builder().offset_secs(3).start()) else {
        return;
    };
    let Some(good) = or_skip(annexr_lab::Chronyd::builder().start()) else {
        return;
    };
    let run = |ntp: String, required: annexr::RequiredClass| async move {
        let mut config = StartupConfig::default();
        config.device.name = Some("CT-CLASS-1".into());
        config.network.mode = NetworkMode::Static;
        config.network.ntp_servers = vec![ntp];
        config.time.set_clock = false;
        config.time.required_class = Some(required);
        Startup::builder().config(config).build().run().await.report
    };
    let time_warnings = |report: &annexr::StartupReport| {
        report
            .warnings
            .iter()
            .filter(|w| w.step == Step::Time && w.message.contains("required_class"))
            .count()
    };

    let report = run(off.addr().to_string(), annexr::RequiredClass::Ordinary).await;
    let time = report.time.clone().unwrap();
    assert_eq!(time.time_class, annexr::TimeClass::Insufficient, "{report}");
    assert_eq!(time.required_class, Some(annexr::TimeClass::Ordinary));
    assert!(time.clock_was_off);
    assert_eq!(time.startup_step, annexr::StartupStepOutcome::Refused);
    assert_eq!(time_warnings(&report), 1, "{report}");
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["time"]["time_class"], "insufficient");
    assert_eq!(json["time"]["required_class"], "ordinary");
    assert!(json["time"]["leap_second"].is_null());

    let report = run(good.addr().to_string(), annexr::RequiredClass::High).await;
    let time = report.time.clone().unwrap();
    assert_eq!(time.time_class, annexr::TimeClass::High, "{report}");
    assert!(!time.clock_was_off);
    assert_eq!(time.startup_step, annexr::StartupStepOutcome::NotNeeded);
    assert_eq!(time_warnings(&report), 0, "{report}");
}

fn boot(
    config: &StartupConfig,
    local: Option<&annexr_model::Device>,
    store: &Arc<dyn Store>,
) -> Startup {
    let mut b = Startup::builder()
        .config(config.clone())
        .store(store.clone());
    if let Some(local) = local {
        b = b.local_description(local.clone());
    }
    b.build()
}

fn installed_in_ldap(site: &SampleSite, name: &str) -> String {
    let dn = format!("dicomDeviceName={name},{}", site.slapd.devices_dn());
    site.slapd
        .ldapsearch_scope(&dn, "base", "(objectClass=*)")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("dicomInstalled:"))
        .unwrap_or_default()
        .to_string()
}

fn set_installed_in_ldap(site: &SampleSite, name: &str, value: &str) {
    site.slapd
        .ldapmodify(&format!(
            "dn: dicomDeviceName={name},{}\nchangetype: modify\nreplace: dicomInstalled\ndicomInstalled: {value}\n",
            site.slapd.devices_dn()
        ))
        .unwrap();
}

/// Issue 14 point 1: a FALSE the site set stays FALSE (with a warning);
/// only a FALSE this device set at its own shutdown is undone at the next
/// boot, or any FALSE with [ldap] activate_on_boot; the report says which.
#[tokio::test]
async fn the_installed_flag_is_the_sites_and_only_our_own_shutdown_false_is_undone() {
    let Some(site) = or_skip(SampleSite::start(0)) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(FileStore::new(dir.path().join("state.json")));
    let local = new_modality("MR-FLAG", "MRFLAG");
    let mut config = site_config(&site, "MR-FLAG");
    config.time.enabled = false;
    let first = boot(&config, Some(&local), &store).run().await;
    assert_eq!(
        first.report.configuration_source,
        Some(Source::Ldap),
        "{}",
        first.report
    );
    assert_eq!(installed_in_ldap(&site, "MR-FLAG"), "dicomInstalled: TRUE");

    // The site takes the device offline: the device leaves it so.
    set_installed_in_ldap(&site, "MR-FLAG", "FALSE");
    let second = boot(&config, Some(&local), &store).run().await;
    println!("{}", second.report);
    assert!(!second.device.as_ref().unwrap().installed);
    assert_eq!(installed_in_ldap(&site, "MR-FLAG"), "dicomInstalled: FALSE");
    assert!(
        second
            .report
            .warnings
            .iter()
            .any(|w| w.message.contains("set by the site")
                && w.action.contains("dicomInstalled to TRUE")),
        "{}",
        second.report
    );
    let values = &second.report.step(Step::Configure).unwrap().values;
    assert!(
        values
            .iter()
            .any(|v| v.name == "dicomInstalled" && v.value.starts_with("FALSE")),
        "{values:?}"
    );

    // The site sets it TRUE; the device shuts down offline, which it
    // remembers; the next boot undoes its own FALSE.
    set_installed_in_ldap(&site, "MR-FLAG", "TRUE");
    let third = boot(&config, Some(&local), &store).run().await;
    let shutdown = third.shutdown(true).await;
    assert!(shutdown.marked_offline, "{shutdown:?}");
    assert!(shutdown.problems.is_empty(), "{shutdown:?}");
    assert_eq!(installed_in_ldap(&site, "MR-FLAG"), "dicomInstalled: FALSE");
    assert!(store.load().unwrap().0.installed_false_at_shutdown);
    let fourth = boot(&config, Some(&local), &store).run().await;
    println!("{}", fourth.report);
    assert!(fourth.device.as_ref().unwrap().installed);
    assert_eq!(installed_in_ldap(&site, "MR-FLAG"), "dicomInstalled: TRUE");
    let values = &fourth.report.step(Step::Configure).unwrap().values;
    assert!(
        values.iter().any(|v| v.name == "dicomInstalled"
            && v.value
                .contains("this device set it FALSE at its last shutdown")),
        "{values:?}"
    );
    assert!(!store.load().unwrap().0.installed_false_at_shutdown);

    // The opt-in: any FALSE is undone, with a warning naming the setting.
    set_installed_in_ldap(&site, "MR-FLAG", "FALSE");
    config.ldap.activate_on_boot = true;
    let fifth = boot(&config, Some(&local), &store).run().await;
    assert_eq!(installed_in_ldap(&site, "MR-FLAG"), "dicomInstalled: TRUE");
    assert!(
        fifth
            .report
            .warnings
            .iter()
            .any(|w| w.message.contains("activate_on_boot")),
        "{}",
        fifth.report
    );
}

/// Issue 14 points 3 and 4: a taken title is derived with a WARNING naming
/// both titles and the action; a same-named device with another serial
/// number is a collision, not adopted (or installed under the configured
/// other name); a renamed device is found again by its serial number.
#[tokio::test]
async fn taken_titles_warn_collisions_are_not_adopted_and_renames_are_found_by_serial() {
    let Some(site) = or_skip(SampleSite::start(0)) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(FileStore::new(dir.path().join("state.json")));
    // CT1 belongs to the site's CT-SCANNER-1.
    let mut local = new_modality("MR-SN-A", "CT1");
    local.device_serial_number = Some("SN-A".into());
    let mut config = site_config(&site, "MR-SN-A");
    config.time.enabled = false;
    let first = boot(&config, Some(&local), &store).run().await;
    println!("{}", first.report);
    let device = first.device.unwrap();
    assert_eq!(device.network_aes[0].ae_title.as_str(), "CT1_2");
    assert!(
        first
            .report
            .warnings
            .iter()
            .any(|w| w.message.contains("CT1 is taken")
                && w.message.contains("CT1_2")
                && w.action.contains("tell the peers")),
        "{}",
        first.report
    );

    // Another unit with the same name but another serial number.
    let other_store: Arc<dyn Store> = Arc::new(FileStore::new(dir.path().join("other.json")));
    let mut impostor = new_modality("MR-SN-A", "MRB1");
    impostor.device_serial_number = Some("SN-B".into());
    let second = boot(&config, Some(&impostor), &other_store).run().await;
    println!("{}", second.report);
    assert_eq!(second.report.configuration_source, Some(Source::Local));
    assert!(
        second
            .report
            .warnings
            .iter()
            .any(|w| w.message.contains("name collision")
                && w.message.contains("SN-A")
                && w.action.contains("install_as_on_collision")),
        "{}",
        second.report
    );
    assert_eq!(
        second.device.unwrap().network_aes[0].ae_title.as_str(),
        "MRB1"
    );
    // With the setting, it installs under the other name.
    let mut renamed_config = config.clone();
    renamed_config.ldap.install_as_on_collision = Some("MR-SN-B".into());
    let third = boot(&renamed_config, Some(&impostor), &other_store)
        .run()
        .await;
    assert_eq!(
        third.report.configuration_source,
        Some(Source::Ldap),
        "{}",
        third.report
    );
    assert_eq!(third.device.unwrap().name, "MR-SN-B");
    assert!(installed_in_ldap(&site, "MR-SN-B").ends_with("TRUE"));

    // The site renames MR-SN-A: the device finds itself by serial number.
    site.slapd
        .ldapmodify(&format!(
            "dn: dicomDeviceName=MR-SN-A,{0}\nchangetype: modrdn\nnewrdn: dicomDeviceName=MR-ROOM-7\ndeleteoldrdn: 1\n",
            site.slapd.devices_dn()
        ))
        .unwrap();
    // The AE's connection reference follows the rename (as the site's tool
    // would do; the lab's slapd has no referential integrity overlay).
    site.slapd
        .ldapmodify(&format!(
            "dn: dicomAETitle=CT1_2,dicomDeviceName=MR-ROOM-7,{0}\nchangetype: modify\nreplace: dicomNetworkConnectionReference\ndicomNetworkConnectionReference: cn=dicom,dicomDeviceName=MR-ROOM-7,{0}\n",
            site.slapd.devices_dn()
        ))
        .unwrap();
    let fourth = boot(&config, Some(&local), &store).run().await;
    println!("{}", fourth.report);
    assert_eq!(
        fourth.report.configuration_source,
        Some(Source::Ldap),
        "{}",
        fourth.report
    );
    assert_eq!(fourth.device.unwrap().name, "MR-ROOM-7");
    assert!(
        fourth
            .report
            .warnings
            .iter()
            .any(|w| w.message.contains("renamed MR-ROOM-7")),
        "{}",
        fourth.report
    );
}

/// Issue 14 point 4: a device entry left without AEs (an install killed
/// before its AEs, with no store to remember it) is completed from the local
/// description, never taken as the configuration.
#[tokio::test]
async fn an_incomplete_device_is_completed_also_without_a_store() {
    let Some(site) = or_skip(SampleSite::start(0)) else {
        return;
    };
    let devices = site.slapd.devices_dn();
    site.slapd
        .ldapadd(&format!(
            "dn: dicomDeviceName=MR-HALF,{devices}\nobjectClass: dicomDevice\n\
             dicomDeviceName: MR-HALF\ndicomInstalled: TRUE\ndicomPrimaryDeviceType: MR\n\n\
             dn: cn=dicom,dicomDeviceName=MR-HALF,{devices}\nobjectClass: dicomNetworkConnection\n\
             cn: dicom\ndicomHostname: 127.0.0.1\ndicomPort: 11113\n"
        ))
        .unwrap();
    let local = new_modality("MR-HALF", "MRHALF");
    let mut config = site_config(&site, "MR-HALF");
    config.time.enabled = false;
    let outcome = Startup::builder()
        .config(config)
        .local_description(local)
        .build()
        .run()
        .await;
    println!("{}", outcome.report);
    assert_eq!(
        outcome.report.configuration_source,
        Some(Source::Ldap),
        "{}",
        outcome.report
    );
    let device = outcome.device.unwrap();
    assert_eq!(device.network_aes.len(), 1);
    assert_eq!(device.network_aes[0].ae_title.as_str(), "MRHALF");
    assert!(
        outcome
            .report
            .warnings
            .iter()
            .any(|w| w.message.contains("has no AEs") && w.message.contains("completing")),
        "{}",
        outcome.report
    );
    let ae = site
        .slapd
        .ldapsearch(&devices, "(dicomAETitle=MRHALF)")
        .unwrap();
    assert!(ae.contains("dicomAETitle: MRHALF"), "{ae}");
    let registry = site
        .slapd
        .ldapsearch(&site.slapd.registry_dn(), "(dicomAETitle=MRHALF)")
        .unwrap();
    assert!(registry.contains("dicomAETitle: MRHALF"), "{registry}");
}

/// `annexr::blocking::Runner`, the twin the C ABI is built on: one runner
/// finds the LDAP servers, runs the startup, hands out a blocking LDAP
/// client for lookups, and shuts the device down offline.
#[test]
fn the_blocking_runner_starts_looks_up_and_shuts_down() {
    let Some(site) = or_skip(SampleSite::start(0)) else {
        return;
    };
    let mut config = site_config(&site, "CT-SCANNER-1");
    config.time.enabled = false;
    let runner = annexr::blocking::Runner::new().unwrap();
    let servers = runner.ldap_servers(&config).unwrap();
    assert_eq!(
        servers,
        vec![format!(
            "ldap://{}:{}",
            annexr_lab::LDAP_HOST,
            site.slapd.port()
        )]
    );
    let startup = Startup::builder().config(config.clone()).build();
    let outcome = runner.run(&startup);
    assert!(outcome.report.configured, "{}", outcome.report);
    assert_eq!(outcome.report.configuration_source, Some(Source::Ldap));
    assert_eq!(outcome.ldap_urls, servers);

    let client = runner.ldap_client(&config, &outcome.ldap_urls).unwrap();
    let ae = client.resolve_ae("CT1").unwrap().value.unwrap();
    assert_eq!(ae.device_name, "CT-SCANNER-1");
    assert!(ae.installed);
    // The client's own runtime keeps its connection: a second lookup works.
    let again = client.resolve_ae("CT1").unwrap().value.unwrap();
    assert_eq!(again.ae_title, ae.ae_title);

    let shutdown = runner.shutdown(outcome, true);
    assert!(shutdown.marked_offline, "{shutdown:?}");
    assert!(shutdown.problems.is_empty(), "{shutdown:?}");
    assert_eq!(
        installed_in_ldap(&site, "CT-SCANNER-1"),
        "dicomInstalled: FALSE"
    );
    drop(client);
    runner.shutdown_timeout(std::time::Duration::from_secs(5));
}
