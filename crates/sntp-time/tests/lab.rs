//! SNTP against the lab's real chronyd (annexr-lab), served 37 s ahead through
//! libfaketime. The host clock is only read; corrections go to a SimClock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use annexr_lab::{Chronyd, or_skip};
use annexr_sntp::{
    AGREEMENT, AccuracyClass, Clock, Discard, DisciplineConfig, Event, Kod, KodAction, PollConfig,
    Rejection, SamplingConfig, ServerReport, SimClock, SntpClient, StartupStep, StartupStepRules,
    SyncConfig, SystemClock, TokioNtpSocket, blocking, judge, spawn_sync,
};
use jiff::SignedDuration;

const TWO_MS: SignedDuration = SignedDuration::from_millis(2);

#[tokio::test]
async fn measures_the_served_offset_within_2_ms() {
    let Some(ntp) = or_skip(Chronyd::builder().offset_secs(37).start()) else {
        return;
    };
    let client = SntpClient::new(vec![ntp.addr()], SamplingConfig::default()).unwrap();
    let m = client.measure(Arc::new(SystemClock)).await.unwrap();
    let error = m.offset - SignedDuration::from_secs(ntp.offset_secs());
    eprintln!(
        "offset {} (error {error}), delay {:?}, class {}",
        m.offset, m.delay, m.supported_class
    );
    assert!(error.abs() <= TWO_MS, "measured {} for +37 s", m.offset);
    let report = &m.servers[0];
    assert_eq!(report.valid_samples, 4);
    assert!(report.rejections.is_empty(), "{:?}", report.rejections);
    let best = report.best.as_ref().unwrap();
    assert_eq!(best.stratum, 8); // the lab's `local stratum 8`
    assert_eq!(best.leap, 0);
    assert_eq!(best.reference_text(), "127.127.1.1"); // chrony's local reference
    assert_eq!(m.used, vec![ntp.addr()]);
    // Loopback supports high accuracy; the uncorrected clock (37 s off) does not.
    assert_eq!(m.supported_class, AccuracyClass::HighAccuracy);
    assert_eq!(m.clock_class, AccuracyClass::Insufficient);
}

/// Three servers, one of them shifted by an hour: the median ignores it.
#[tokio::test]
async fn median_of_three_servers() {
    let (Some(a), Some(b), Some(c)) = (
        or_skip(Chronyd::builder().offset_secs(37).start()),
        or_skip(Chronyd::builder().offset_secs(37).start()),
        or_skip(Chronyd::builder().offset_secs(3600).start()),
    ) else {
        return;
    };
    let client = SntpClient::new(
        vec![a.addr(), b.addr(), c.addr()],
        SamplingConfig::default(),
    )
    .unwrap();
    let m = client.measure(Arc::new(SystemClock)).await.unwrap();
    assert!(
        (m.offset - SignedDuration::from_secs(37)).abs() <= TWO_MS,
        "{}",
        m.offset
    );
    assert!(!m.used.contains(&c.addr()));
    assert_eq!(m.servers.len(), 3);
}

/// Real request and reply bytes from chronyd, then the same reply altered the
/// way an attacker or a restricting server would: each is judged by the same
/// pure function the live path uses.
#[tokio::test]
async fn spoofed_replies_and_kiss_of_death_codes_on_real_packets() {
    let Some(ntp) = or_skip(Chronyd::builder().offset_secs(37).start()) else {
        return;
    };
    let clock = SystemClock;
    let socket = TokioNtpSocket::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let request = socket.send_request(ntp.addr(), &clock).await.unwrap();
    let (reply, from, t4) = socket
        .receive(&clock, Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(from, ntp.addr());
    assert_eq!(
        &reply[24..32],
        &request.bytes[40..48],
        "chronyd echoes our transmit time"
    );

    let genuine = judge(ntp.addr(), &request, &reply, from, t4).unwrap();
    assert!((genuine.offset - SignedDuration::from_secs(37)).abs() <= TWO_MS);

    let altered = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut r = reply.clone();
        f(&mut r);
        judge(ntp.addr(), &request, &r, from, t4)
    };
    // Spoofed: the origin timestamp is not ours.
    assert_eq!(altered(&|r| r[31] ^= 0x01), Err(Rejection::OriginMismatch));
    // Spoofed: right bytes, wrong sender.
    let other: SocketAddr = "127.0.0.2:123".parse().unwrap();
    assert_eq!(
        judge(ntp.addr(), &request, &reply, other, t4),
        Err(Rejection::WrongSource(other))
    );
    // Kiss-o'-Death: stratum 0 and the code in the reference ID.
    let kod = |code: &'static [u8; 4]| {
        altered(&|r| {
            r[1] = 0;
            r[12..16].copy_from_slice(code);
        })
    };
    for (code, kind, action) in [
        (b"DENY", Kod::Deny, KodAction::StopUsing),
        (b"RSTR", Kod::Rstr, KodAction::StopUsing),
        (b"RATE", Kod::Rate, KodAction::BackOff),
        (b"XFOO", Kod::Other("XFOO".into()), KodAction::Discard),
    ] {
        let got = kod(code);
        assert_eq!(got, Err(Rejection::KissOfDeath(kind.clone())));
        assert_eq!(kind.action(), action);
    }
    // What the server report makes of them.
    let report = |r: Result<_, _>| {
        ServerReport::from_outcomes(ntp.addr(), vec![Ok(genuine.clone()), r]).discarded
    };
    assert_eq!(report(kod(b"DENY")), Some(Discard::KissOfDeath(Kod::Deny)));
    assert_eq!(report(kod(b"RSTR")), Some(Discard::KissOfDeath(Kod::Rstr)));
    assert_eq!(report(kod(b"RATE")), Some(Discard::RateLimited));
    assert_eq!(report(kod(b"XFOO")), None);
    // The other RFC 4330 checks.
    assert_eq!(
        altered(&|r| r[0] = (r[0] & 0x3f) | 0xc0),
        Err(Rejection::Unsynchronized)
    );
    assert_eq!(altered(&|r| r[0] = (r[0] & 0xf8) | 3), Err(Rejection::Mode));
    assert_eq!(
        altered(&|r| r[0] = (r[0] & 0xc7) | (5 << 3)),
        Err(Rejection::Version)
    );
    assert_eq!(altered(&|r| r[1] = 16), Err(Rejection::Stratum));
    assert_eq!(altered(&|r| r[40..48].fill(0)), Err(Rejection::Timestamp));
    assert_eq!(altered(&|r| r.truncate(47)), Err(Rejection::Short));
}

/// The poll loop against chronyd with a simulated clock: the startup step of
/// +37 s, then slewing only, events in order, and stop.
#[tokio::test]
async fn poll_loop_steps_once_then_slews_and_stops() {
    let Some(ntp) = or_skip(Chronyd::builder().offset_secs(37).start()) else {
        return;
    };
    let clock = Arc::new(SimClock::following_system(SignedDuration::ZERO, 10.0));
    let config = SyncConfig {
        servers: vec![ntp.addr()],
        sampling: SamplingConfig::default(),
        discipline: DisciplineConfig::default(),
        poll: PollConfig {
            min_interval: Duration::from_millis(200),
            max_interval: Duration::from_millis(400),
            retry_min: Duration::from_millis(100),
        },
        startup_done: false,
    };
    let (handle, mut events) = spawn_sync(config, clock.clone()).unwrap();
    let mut seen = Vec::new();
    while seen
        .iter()
        .filter(|e| matches!(e, Event::Slewing { .. }))
        .count()
        < 3
    {
        let e = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .unwrap()
            .unwrap();
        seen.push(e);
    }
    handle.stop().await;
    while let Some(e) = events.recv().await {
        seen.push(e);
    }
    let steps: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            Event::Stepped { offset, startup } => Some((*offset, *startup)),
            _ => None,
        })
        .collect();
    assert_eq!(steps.len(), 1, "{seen:?}");
    assert!(steps[0].1);
    assert!((steps[0].0 - SignedDuration::from_secs(37)).abs() <= TWO_MS);
    for e in &seen {
        if let Event::Slewing { rate, offset, .. } = e {
            assert!(rate.abs() <= 1e-4);
            assert!(offset.abs() <= TWO_MS, "{offset}");
        }
    }
    assert!(matches!(seen.last(), Some(Event::Stopped)));
    // The simulated clock now agrees with chronyd's +37 s.
    assert!((clock.error() - SignedDuration::from_secs(37)).abs() <= TWO_MS);
}

/// A server that never answers (a bound socket nobody reads): failures with
/// exponential, bounded backoff.
#[tokio::test]
async fn silent_server_backs_off() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let config = SyncConfig {
        servers: vec![silent.local_addr().unwrap()],
        sampling: SamplingConfig {
            samples: 1,
            spacing: Duration::ZERO,
            timeout: Duration::from_millis(50),
        },
        discipline: DisciplineConfig::default(),
        poll: PollConfig {
            min_interval: Duration::from_secs(1),
            max_interval: Duration::from_millis(400),
            retry_min: Duration::from_millis(50),
        },
        startup_done: false,
    };
    let clock: Arc<dyn Clock> = Arc::new(SimClock::following_system(SignedDuration::ZERO, 0.0));
    let (handle, mut events) = spawn_sync(config, clock).unwrap();
    let mut waits = Vec::new();
    while waits.len() < 6 {
        match events.recv().await.unwrap() {
            Event::Failed { error, retry_in } => {
                assert!(error.contains("no reply"), "{error}");
                waits.push(retry_in.as_millis());
            }
            other => panic!("{other:?}"),
        }
    }
    handle.stop().await;
    assert_eq!(waits, [50, 100, 200, 400, 400, 400]);
}

/// chronyd's own rate limiting (`ratelimit interval 2 burst 1 leak 1`: one
/// reply per 4 s, half of the excess still answered). chrony 4.3 drops the
/// excess requests silently instead of sending KoD RATE, so the client sees
/// timeouts: it keeps what it got and reports what it did not get.
#[tokio::test]
async fn chronyd_rate_limiting_is_survived() {
    let Some(ntp) = or_skip(
        Chronyd::builder()
            .offset_secs(37)
            .directive("ratelimit interval 2 burst 1 leak 1")
            .start(),
    ) else {
        return;
    };
    // The lab's readiness probe used up the burst; wait one interval.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let client = SntpClient::new(
        vec![ntp.addr()],
        SamplingConfig {
            samples: 4,
            spacing: Duration::from_millis(10),
            timeout: Duration::from_millis(300),
        },
    )
    .unwrap();
    let m = client.measure(Arc::new(SystemClock)).await.unwrap();
    let r = &m.servers[0];
    eprintln!(
        "rate limited: {} valid, rejections {:?}",
        r.valid_samples, r.rejections
    );
    assert!((m.offset - SignedDuration::from_secs(37)).abs() <= TWO_MS);
    assert!(r.valid_samples >= 1);
    assert!(
        !r.rejections.is_empty(),
        "chronyd answered every request despite ratelimit"
    );
    assert!(
        r.rejections
            .iter()
            .all(|x| matches!(x, Rejection::Timeout(_) | Rejection::KissOfDeath(Kod::Rate)))
    );
}

#[test]
fn blocking_facade() {
    let Some(ntp) = or_skip(Chronyd::builder().offset_secs(37).start()) else {
        return;
    };
    let client = blocking::SntpClient::new(vec![ntp.addr()], SamplingConfig::default()).unwrap();
    let m = client.measure(Arc::new(SystemClock)).unwrap();
    assert!((m.offset - SignedDuration::from_secs(37)).abs() <= TWO_MS);
}

/// The startup step rule against two real chronyd servers: both 90 s ahead
/// (agreeing) confirm the step; 90 s and 95 s ahead (disagreeing) do not,
/// and one alone does not either unless `trust_single_server` is set.
#[tokio::test]
async fn startup_step_beyond_limit_needs_two_agreeing_servers_lab() {
    let Some(a) = or_skip(Chronyd::builder().offset_secs(90).start()) else {
        return;
    };
    let Some(b) = or_skip(Chronyd::builder().offset_secs(90).start()) else {
        return;
    };
    let Some(c) = or_skip(Chronyd::builder().offset_secs(95).start()) else {
        return;
    };
    let rules = StartupStepRules::default();
    let measure = |servers: Vec<SocketAddr>| async move {
        SntpClient::new(servers, SamplingConfig::default())
            .unwrap()
            .measure(Arc::new(SystemClock))
            .await
            .unwrap()
    };

    let agreeing = measure(vec![a.addr(), b.addr()]).await;
    assert!((agreeing.offset - SignedDuration::from_secs(90)).abs() <= TWO_MS);
    assert_eq!(agreeing.agreeing_servers(AGREEMENT), 2);
    assert_eq!(
        rules.judge(&agreeing),
        StartupStep::Confirmed { agreeing: 2 }
    );

    let disagreeing = measure(vec![a.addr(), c.addr()]).await;
    assert_eq!(disagreeing.agreeing_servers(AGREEMENT), 1);
    let verdict = rules.judge(&disagreeing);
    assert!(
        matches!(verdict, StartupStep::Refused { agreeing: 1, .. }),
        "{verdict:?}"
    );

    let alone = measure(vec![a.addr()]).await;
    assert!(!rules.judge(&alone).allowed());
    let trusting = StartupStepRules {
        trust_single_server: true,
        ..rules
    };
    assert_eq!(trusting.judge(&alone), StartupStep::TrustedSingleServer);
    assert_eq!(alone.leap(), None, "chronyd announces no leap second");
}

/// The loop a startup hands over to (`startup_done`) takes no second
/// unbounded step: chronyd 37 s ahead is slewed during the step-out
/// interval, never stepped at once.
#[tokio::test]
async fn ongoing_loop_after_startup_does_not_step_at_once() {
    let Some(ntp) = or_skip(Chronyd::builder().offset_secs(37).start()) else {
        return;
    };
    let clock = Arc::new(SimClock::following_system(SignedDuration::ZERO, 0.0));
    let config = SyncConfig {
        servers: vec![ntp.addr()],
        sampling: SamplingConfig::default(),
        discipline: DisciplineConfig::default(),
        poll: PollConfig {
            min_interval: Duration::from_millis(200),
            max_interval: Duration::from_millis(400),
            retry_min: Duration::from_millis(100),
        },
        startup_done: true,
    };
    let (handle, mut events) = spawn_sync(config, clock.clone()).unwrap();
    let mut seen = Vec::new();
    while seen
        .iter()
        .filter(|e| matches!(e, Event::Slewing { .. }))
        .count()
        < 3
    {
        let e = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .unwrap()
            .unwrap();
        seen.push(e);
    }
    handle.stop().await;
    assert!(
        !seen.iter().any(|e| matches!(e, Event::Stepped { .. })),
        "{seen:?}"
    );
    for e in &seen {
        if let Event::Slewing { rate, offset, .. } = e {
            assert_eq!(*rate, 1e-4, "slewed at the bound toward +37 s");
            assert!(
                (*offset - SignedDuration::from_secs(37)).abs() <= SignedDuration::from_millis(50)
            );
        }
    }
    // The clock moved by the slew only: far from the 37 s a step would give.
    assert!(clock.error().abs() < SignedDuration::from_secs(1));
}
