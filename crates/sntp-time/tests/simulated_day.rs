//! A simulated day: battery clock 5 h off (set to local time instead of UTC,
//! R.2/R.6.3.1) and 10 ppm fast. The sans-I/O discipline must step once at
//! startup, then only slew, within the R.6 bounds (rate ≤ 0.01 %, offset within
//! the high-accuracy 10 ms once settled), with the poll interval growing to
//! its bound.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use annexr_sntp::{
    Clock, Decision, Discipline, DisciplineConfig, PollConfig, PollSchedule, SimClock,
};
use jiff::{SignedDuration, Timestamp};

#[test]
fn startup_step_then_slew_only_for_a_day_with_10_ppm_drift() {
    let start: Timestamp = "2026-11-23T06:00:00Z".parse().unwrap();
    let clock = SimClock::manual(start, SignedDuration::from_hours(5), 10.0);
    let config = DisciplineConfig::default();
    let mut discipline = Discipline::new(config);
    let mut schedule = PollSchedule::new(PollConfig::default());
    // Deterministic measurement noise of up to ±200 µs (a busy LAN).
    let mut noise_state = 12345u64;
    let mut noise = move || {
        noise_state = noise_state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1);
        let u = (noise_state >> 33) as i64 % 401 - 200;
        SignedDuration::from_micros(u)
    };
    let mut elapsed = Duration::ZERO;
    let mut steps = 0;
    let mut worst_after_settle = SignedDuration::ZERO;
    let mut worst_rate: f64 = 0.0;
    let mut polls = 0;
    let mut intervals = Vec::new();
    while elapsed < Duration::from_secs(24 * 3600) {
        // The measured offset: what to add to the clock, with noise.
        let measured = -clock.error() + noise();
        let horizon = schedule.interval();
        let wait = match discipline.decide(measured, clock.now(), horizon) {
            Decision::Step { offset, startup } => {
                assert!(startup, "step after startup at {elapsed:?}: {offset}");
                steps += 1;
                clock.step(offset).unwrap();
                schedule.on_step()
            }
            Decision::Slew { rate, .. } => {
                assert!(rate.abs() <= 1e-4 + 1e-15, "rate {rate}");
                worst_rate = worst_rate.max(rate.abs());
                clock.slew(rate).unwrap();
                schedule.on_success()
            }
            Decision::NeedsConsent { offset } => panic!("consent asked for {offset}"),
            other => panic!("unexpected decision {other:?}"),
        };
        polls += 1;
        intervals.push(wait.as_secs());
        // The error changes linearly between polls: its extremes are at the
        // poll instants, checked on both sides of the wait.
        if elapsed >= Duration::from_secs(3600) {
            worst_after_settle = worst_after_settle.max(clock.error().abs());
        }
        clock.advance(wait);
        elapsed += wait;
        if elapsed >= Duration::from_secs(3600) {
            worst_after_settle = worst_after_settle.max(clock.error().abs());
        }
    }
    let sim_steps = clock.steps();
    assert_eq!(steps, 1);
    assert_eq!(sim_steps.len(), 1);
    assert!(clock.max_abs_slew() <= 1e-4 + 1e-15);
    // High accuracy (R.6: ~10 ms) from the first hour on.
    assert!(
        worst_after_settle < SignedDuration::from_millis(10),
        "worst {worst_after_settle}"
    );
    // Interval grew to and stayed at the bound.
    assert_eq!(*intervals.iter().max().unwrap(), 1024);
    assert!(intervals.iter().all(|&i| (64..=1024).contains(&i)));
    // The discipline learnt the drift (within 1 ppm).
    let drift = discipline.drift().unwrap();
    assert!((drift - 10e-6).abs() < 1e-6, "drift {drift}");
    eprintln!(
        "simulated day: {polls} polls, 1 startup step of {}, worst error after 1 h {worst_after_settle}, \
         worst slew {:.1} ppm, drift estimate {:.2} ppm, final error {}",
        sim_steps[0].1,
        worst_rate * 1e6,
        drift * 1e6,
        clock.error()
    );
}

#[test]
fn step_after_startup_is_reported_and_panic_needs_consent() {
    let start: Timestamp = "2026-11-23T06:00:00Z".parse().unwrap();
    let clock = SimClock::manual(start, SignedDuration::ZERO, 0.0);
    let mut d = Discipline::new(DisciplineConfig::default());
    assert!(matches!(
        d.decide(-clock.error(), clock.now(), Duration::from_secs(64)),
        Decision::Slew { .. }
    ));
    // Someone sets the clock 2 s off while in use: slewed at the bound for
    // the step-out interval (300 s), then a step, flagged not-startup.
    clock.step(SignedDuration::from_secs(2)).unwrap();
    let since = clock.now();
    let step = loop {
        clock.advance(Duration::from_secs(64));
        match d.decide(-clock.error(), clock.now(), Duration::from_secs(64)) {
            Decision::Slew { rate, .. } => {
                assert_eq!(rate, -1e-4);
                clock.slew(rate).unwrap();
            }
            Decision::Step { offset, startup } => {
                assert!(!startup);
                break offset;
            }
            other => panic!("{other:?}"),
        }
    };
    assert!(clock.now().duration_since(since) >= SignedDuration::from_secs(300));
    // Less the slew meanwhile: at most 0.01 % of the 320 s it took.
    assert!(
        (step + SignedDuration::from_secs(2)).abs() <= SignedDuration::from_millis(33),
        "{step}"
    );
    clock.step(step).unwrap();
    clock.slew(0.0).unwrap();
    // 2 hours off while in use: not without consent.
    clock.step(SignedDuration::from_hours(2)).unwrap();
    assert!(matches!(
        d.decide(-clock.error(), clock.now(), Duration::from_secs(64)),
        Decision::NeedsConsent { .. }
    ));
}
