//! SNTP against a second NTP server family: ntpsec's ntpd (annexr-lab runs
//! it in a network namespace, without the right to touch the host clock).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use annexr_lab::{Ntpsec, or_skip};
use annexr_sntp::{Discard, Error, Kod, Rejection, SamplingConfig, SystemClock, blocking};

/// An ntpd that has not synchronized answers Kiss-o'-Death INIT (stratum 0,
/// leap indicator 3). The client uses none of those replies and says why,
/// naming the server and the code.
#[test]
fn unsynchronized_ntpsec_answers_init_and_is_rejected_with_a_clear_message() {
    let Some(ntpd) = or_skip(Ntpsec::start_unsynchronized()) else {
        return;
    };
    let config = SamplingConfig {
        samples: 2,
        spacing: Duration::from_millis(20),
        timeout: Duration::from_secs(1),
    };
    let result = ntpd
        .in_netns(|| {
            blocking::SntpClient::new(vec![ntpd.addr()], config)
                .unwrap()
                .measure(Arc::new(SystemClock))
        })
        .unwrap();
    let err = match result {
        Err(e) => e,
        Ok(m) => panic!(
            "an unsynchronized ntpd gave a measurement: {m:?}\n{}",
            ntpd.log()
        ),
    };
    let text = err.to_string();
    eprintln!("{} -> {text}", ntpd.version());
    match &err {
        Error::NoUsableServer { servers } => {
            assert_eq!(servers.len(), 1, "{servers:?}");
            let report = &servers[0];
            assert_eq!(report.server, ntpd.addr());
            assert_eq!(report.valid_samples, 0);
            assert!(report.best.is_none());
            assert!(!report.rejections.is_empty(), "{report:?}");
            for rejection in &report.rejections {
                assert_eq!(
                    *rejection,
                    Rejection::KissOfDeath(Kod::Other("INIT".into())),
                    "{report:?}"
                );
            }
            assert_eq!(report.discarded, Some(Discard::NoValidSample), "{report:?}");
        }
        other => panic!("expected NoUsableServer, got {other:?}"),
    }
    assert!(text.contains("127.0.0.1:123"), "{text}");
    assert!(text.contains("Kiss-o'-Death INIT"), "{text}");
}

/// An ntpd synchronized to a lab chronyd (`local stratum 8`) serves the
/// host's time at stratum 9 with its source's address as reference ID; the
/// client measures it (about zero offset) and uses it.
#[test]
fn synchronized_ntpsec_is_measured_and_used() {
    let Some(ntpd) = or_skip(Ntpsec::start_synchronized()) else {
        return;
    };
    let m = ntpd
        .in_netns(|| {
            blocking::SntpClient::new(vec![ntpd.addr()], SamplingConfig::default())
                .unwrap()
                .measure(Arc::new(SystemClock))
        })
        .unwrap()
        .unwrap_or_else(|e| panic!("{e}\n{}", ntpd.log()));
    eprintln!(
        "{}: offset {}, delay {:?}",
        ntpd.version(),
        m.offset,
        m.delay
    );
    assert_eq!(m.used, vec![ntpd.addr()]);
    // Same host clock on both ends; the bound only rules out a wrong epoch
    // or era, not a timing assertion.
    assert!(m.offset.abs() < jiff::SignedDuration::from_secs(1), "{m:?}");
    let report = &m.servers[0];
    assert_eq!(report.valid_samples, 4, "{report:?}");
    assert!(report.rejections.is_empty(), "{report:?}");
    let best = report.best.as_ref().unwrap();
    assert_eq!(best.stratum, 9, "one above chronyd's local stratum 8");
    assert_eq!(best.leap, 0);
    assert_eq!(best.reference_text(), "10.233.0.2", "its time source");
}
