//! Startup at the round-trip floor (issue 17): the server remembered from
//! the last boot is asked while DNS SRV answers, the store is written only
//! when something changed, and the time decision comes from the first
//! valid sample of each server, refined in the background. Against the
//! lab's real slapd, dnsmasq and chronyd; the clock is a simulated one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use annexr::{
    Event, FileStore, NetworkMode, Refinement, Source, Startup, StartupConfig, StartupStepOutcome,
    Step, Store,
};
use annexr_lab::{Chronyd, SampleSite, or_skip};
use annexr_sntp::SimClock;

mod common;
use common::site_config;

#[cfg(unix)]
fn inode(path: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().ino()
}

fn remembered_server_note(outcome: &annexr::StartupOutcome) -> Option<String> {
    outcome
        .report
        .step(Step::Ldap)?
        .values
        .iter()
        .find(|v| v.name == "remembered-server")
        .map(|v| v.value.clone())
}

fn recording() -> (Arc<Mutex<Vec<Event>>>, Arc<dyn annexr::Observer>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let observer = Arc::new(move |e: &Event| seen.lock().unwrap().push(e.clone()));
    (events, observer)
}

#[cfg(unix)]
#[tokio::test]
async fn an_unchanged_boot_does_not_rewrite_the_store_and_a_changed_one_does() {
    let Some(site) = or_skip(SampleSite::start(0)) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let mut config = site_config(&site, "CT-SCANNER-1");
    config.store.path = Some(path.clone());
    let boot = || async {
        Startup::builder()
            .config(config.clone())
            .build()
            .run()
            .await
    };

    let first = boot().await;
    assert_eq!(first.report.configuration_source, Some(Source::Ldap));
    let written = inode(&path);
    let bytes = std::fs::read(&path).unwrap();

    // Nothing changed: the same file, not a new one renamed over it.
    let second = boot().await;
    assert_eq!(
        second.report.configuration_source,
        Some(Source::Ldap),
        "{}",
        second.report
    );
    assert_eq!(inode(&path), written, "an unchanged boot rewrote the store");
    assert_eq!(std::fs::read(&path).unwrap(), bytes);

    // The site changes the device: the next boot writes the new state.
    let dn = format!("dicomDeviceName=CT-SCANNER-1,{}", site.slapd.devices_dn());
    site.slapd
        .ldapmodify(&format!(
            "dn: {dn}\nchangetype: modify\nreplace: dicomDescription\ndicomDescription: moved to room 7\n"
        ))
        .unwrap();
    let third = boot().await;
    assert_eq!(third.report.configuration_source, Some(Source::Ldap));
    assert_ne!(
        inode(&path),
        written,
        "a changed boot did not write the store"
    );
    let (state, _) = FileStore::new(&path).load().unwrap();
    assert_eq!(
        state.last_configuration.unwrap().description.as_deref(),
        Some("moved to room 7")
    );
}

#[tokio::test]
async fn the_remembered_server_is_asked_at_once_and_dropped_when_srv_no_longer_lists_it() {
    let Some(site) = or_skip(SampleSite::start(0)) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let mut config = site_config(&site, "CT-SCANNER-1");
    config.store.path = Some(path.clone());
    let store = FileStore::new(&path);

    // First boot: no remembered server; the one that served is kept.
    let first = Startup::builder()
        .config(config.clone())
        .build()
        .run()
        .await;
    assert_eq!(first.report.configuration_source, Some(Source::Ldap));
    assert_eq!(remembered_server_note(&first), None);
    let (state, _) = store.load().unwrap();
    let remembered = state
        .ldap_server
        .clone()
        .expect("the serving server is remembered");
    assert_eq!(first.ldap_urls, vec![remembered.url.clone()]);
    // Its host name's addresses from the site's DNS, for the next boot.
    assert!(!remembered.addresses.is_empty(), "{remembered:?}");

    // Second boot: the LDAP step starts before DNS SRV has answered, and
    // uses the remembered server because SRV still lists it.
    let (events, observer) = recording();
    let second = Startup::builder()
        .config(config.clone())
        .observer(observer)
        .build()
        .run()
        .await;
    let report = &second.report;
    assert_eq!(report.configuration_source, Some(Source::Ldap), "{report}");
    let note = remembered_server_note(&second).unwrap();
    assert!(note.contains("still listed"), "{report}");
    let events = events.lock().unwrap().clone();
    let ldap_started = events
        .iter()
        .position(|e| matches!(e, Event::StepStarted { step: Step::Ldap }))
        .unwrap();
    let dns_finished = events
        .iter()
        .position(|e| {
            matches!(
                e,
                Event::StepFinished {
                    step: Step::Dns,
                    ..
                }
            )
        })
        .unwrap();
    assert!(ldap_started < dns_finished, "{events:?}");
    // StartTLS, bind, one subtree search: no root discovery, no check.
    assert_eq!(
        report.step(Step::Ldap).unwrap().round_trips,
        Some(3),
        "{report}"
    );

    // The site's SRV records no longer name the remembered server: its
    // answer is dropped and the listed server configures the device.
    let (mut state, _) = store.load().unwrap();
    state.ldap_server = Some(annexr::RememberedServer {
        url: "ldap://127.0.0.1:9".into(),
        addresses: Vec::new(),
    });
    store.save(&state).unwrap();
    let third = Startup::builder()
        .config(config.clone())
        .build()
        .run()
        .await;
    assert_eq!(
        third.report.configuration_source,
        Some(Source::Ldap),
        "{}",
        third.report
    );
    let note = remembered_server_note(&third).unwrap();
    assert!(
        note.contains("ldap://127.0.0.1:9") && note.contains("no longer among"),
        "{}",
        third.report
    );
    assert_eq!(third.ldap_urls, vec![remembered.url.clone()]);
    // And the listed server is remembered again.
    let (state, _) = store.load().unwrap();
    assert_eq!(state.ldap_server.unwrap().url, remembered.url);
}

/// Settings that only synchronize time against `ntp`.
fn time_only(ntp: &Chronyd, set_clock: bool) -> StartupConfig {
    let mut config = StartupConfig::default();
    config.device.name = Some("CT-TIME-1".into());
    config.network.mode = NetworkMode::Static;
    config.network.ntp_servers = vec![ntp.addr().to_string()];
    config.time.set_clock = set_clock;
    config.time.samples = 4;
    config
}

/// Waits (bounded) for the background refinement's event.
async fn refined(events: &Arc<Mutex<Vec<Event>>>) -> Event {
    for _ in 0..200 {
        if let Some(e) = events
            .lock()
            .unwrap()
            .iter()
            .find(|e| matches!(e, Event::TimeRefined { .. }))
        {
            return e.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no TimeRefined event: {:?}", events.lock().unwrap());
}

#[tokio::test]
async fn the_time_decision_comes_from_the_first_sample_and_the_refinement_only_slews() {
    let Some(ntp) = or_skip(Chronyd::builder().start()) else {
        return;
    };
    // A device clock 700 ms fast: a startup step within the one-server limit.
    let clock = Arc::new(SimClock::following_system(
        jiff::SignedDuration::from_millis(700),
        0.0,
    ));
    let (events, observer) = recording();
    let outcome = Startup::builder()
        .config(time_only(&ntp, true))
        .clock(clock.clone())
        .observer(observer)
        .build()
        .run()
        .await;
    let report = &outcome.report;
    let time_step = report.step(Step::Time).unwrap();
    // One request to the one server decided.
    assert_eq!(time_step.round_trips, Some(1), "{report}");
    let time = report.time.clone().unwrap();
    assert_eq!(time.startup_step, StartupStepOutcome::Applied, "{report}");
    assert!((time.clock_offset_us + 700_000).abs() < 50_000, "{report}");
    let steps = clock.steps();
    assert_eq!(steps.len(), 1, "{steps:?}");
    assert!(clock.error().unsigned_abs() < Duration::from_millis(50));

    // In the background: every sample, and a slew, never a second step.
    let Event::TimeRefined {
        offset_us,
        samples,
        correction,
        ..
    } = refined(&events).await
    else {
        unreachable!()
    };
    assert!(samples >= 2, "{samples}");
    assert!(offset_us.abs() < 50_000, "{offset_us}");
    let Refinement::Slewed { rate } = correction else {
        panic!("{correction:?}");
    };
    assert!(rate.abs() <= 1e-4, "{rate}");
    assert_eq!(clock.steps().len(), 1);
    let shutdown = outcome.shutdown(false).await;
    assert!(shutdown.time_sync_stopped);
}

#[tokio::test]
async fn without_set_clock_the_refinement_is_reported_and_nothing_is_corrected() {
    let Some(ntp) = or_skip(Chronyd::builder().start()) else {
        return;
    };
    let clock = Arc::new(SimClock::following_system(
        jiff::SignedDuration::from_millis(-250),
        0.0,
    ));
    let (events, observer) = recording();
    let outcome = Startup::builder()
        .config(time_only(&ntp, false))
        .clock(clock.clone())
        .observer(observer)
        .build()
        .run()
        .await;
    let report = &outcome.report;
    assert_eq!(report.step(Step::Time).unwrap().round_trips, Some(1));
    let Event::TimeRefined {
        offset_us,
        correction,
        samples,
        ..
    } = refined(&events).await
    else {
        unreachable!()
    };
    assert_eq!(correction, Refinement::Reported);
    assert!(samples >= 2, "{samples}");
    assert!((offset_us - 250_000).abs() < 50_000, "{offset_us}");
    assert!(clock.steps().is_empty());
    assert_eq!(clock.max_abs_slew(), 0.0);
    outcome.shutdown(false).await;
}

#[tokio::test]
async fn a_password_in_clear_never_goes_to_a_remembered_server_before_srv_lists_it() {
    let Some(site) = or_skip(SampleSite::start(0)) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut config = site_config(&site, "CT-SCANNER-1");
    config.store.path = Some(dir.path().join("state.json"));
    // The explicit unsafe opt-in: the bind goes without TLS.
    config.ldap.allow_plaintext_bind = true;
    for boot in 0..2 {
        let outcome = Startup::builder()
            .config(config.clone())
            .build()
            .run()
            .await;
        assert_eq!(
            outcome.report.configuration_source,
            Some(Source::Ldap),
            "{}",
            outcome.report
        );
        // Also at the second boot, with a server remembered: no fast path.
        assert_eq!(remembered_server_note(&outcome), None, "boot {boot}");
    }
    let (state, _) = FileStore::new(dir.path().join("state.json"))
        .load()
        .unwrap();
    assert!(state.ldap_server.is_some());
}
