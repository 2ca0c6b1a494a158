//! The clock discipline policy (R.6): pure, no I/O, no clock reads.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

/// Limits of the discipline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DisciplineConfig {
    /// Largest jump allowed without a step decision: at startup, errors up to
    /// this are slewed rather than stepped (default 4 ms, "a few ms").
    pub max_discontinuity: Duration,
    /// After startup, offsets above this are stepped and reported (default
    /// 0.4 s like systemd-timesyncd; busybox ntpd uses 1 s).
    pub step_threshold: Duration,
    /// After startup, offsets above this are not applied without the caller's
    /// consent (default 1000 s like ntpd).
    pub panic_threshold: Duration,
    /// Largest slew rate, a fraction (default 1e-4 = 0.01 %, R.6.1).
    pub max_slew_rate: f64,
    /// After startup, an offset above the step threshold must persist this
    /// long before it is stepped (default 300 s, ntpd's step-out interval);
    /// until then it is slewed. One stray or lying answer steps nothing.
    pub stepout: Duration,
    /// After startup, the total of all steps allowed without consent
    /// (default 1000 s, the panic threshold): a lying server cannot walk the
    /// clock further than one step ntpd would allow, however often it tries.
    pub step_budget: Duration,
}

impl Default for DisciplineConfig {
    fn default() -> Self {
        DisciplineConfig {
            max_discontinuity: Duration::from_millis(4),
            step_threshold: Duration::from_millis(400),
            panic_threshold: Duration::from_secs(1000),
            max_slew_rate: 1e-4,
            stepout: Duration::from_secs(300),
            step_budget: Duration::from_secs(1000),
        }
    }
}

/// What to do with the clock after a measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Decision {
    /// Step the clock by `offset`. `startup` tells the one-time startup step
    /// from a step while in use (an event the device must report).
    Step {
        /// Amount to add to the clock.
        offset: SignedDuration,
        /// True for the startup step, before medical use.
        startup: bool,
    },
    /// Set the slew rate (fraction; positive runs the clock faster).
    Slew {
        /// The rate to set.
        rate: f64,
        /// The offset this addresses.
        offset: SignedDuration,
        /// Current estimate of the clock's own frequency error (fraction).
        drift: f64,
    },
    /// The offset is above the panic threshold, or stepping it would exceed
    /// the step budget, and the caller has not consented: nothing is changed.
    NeedsConsent {
        /// The offset that would be applied.
        offset: SignedDuration,
    },
}

/// The sans-I/O discipline: feed it offsets, apply its decisions.
#[derive(Debug, Clone)]
pub struct Discipline {
    config: DisciplineConfig,
    startup: bool,
    consent: bool,
    /// (measurement time, offset, rate in force since then)
    last: Option<(Timestamp, SignedDuration, f64)>,
    drift: Option<f64>,
    /// Since when the offset has been above the step threshold (step-out).
    above_threshold_since: Option<Timestamp>,
    /// Sum of the steps taken after startup, counted against the budget.
    stepped_total: Duration,
}

fn secs(d: SignedDuration) -> f64 {
    d.as_secs_f64()
}

impl Discipline {
    /// A discipline in its startup phase.
    pub fn new(config: DisciplineConfig) -> Self {
        Discipline {
            config,
            startup: true,
            consent: false,
            last: None,
            drift: None,
            above_threshold_since: None,
            stepped_total: Duration::ZERO,
        }
    }

    /// A discipline past its startup phase, for the ongoing loop after the
    /// startup sequence measured (and possibly stepped) the clock: its first
    /// decision is no second unbounded step.
    pub fn after_startup(config: DisciplineConfig) -> Self {
        Discipline {
            startup: false,
            ..Discipline::new(config)
        }
    }

    /// The total of the steps taken after startup.
    pub fn stepped_total(&self) -> Duration {
        self.stepped_total
    }

    /// True until the first decision has been made.
    pub fn in_startup(&self) -> bool {
        self.startup
    }

    /// Allows the next offset above the panic threshold to be stepped.
    pub fn grant_consent(&mut self) {
        self.consent = true;
    }

    /// The estimated frequency error of the local clock (fraction), once two
    /// measurements have been made without a step between them.
    pub fn drift(&self) -> Option<f64> {
        self.drift
    }

    /// Decides for `offset` (what to add to the clock), measured at local time
    /// `at`, with the next measurement expected after `horizon`.
    pub fn decide(&mut self, offset: SignedDuration, at: Timestamp, horizon: Duration) -> Decision {
        let abs = offset.unsigned_abs();
        if self.startup {
            self.startup = false;
            if abs > self.config.max_discontinuity {
                self.last = None;
                return Decision::Step {
                    offset,
                    startup: true,
                };
            }
        } else if abs > self.config.step_threshold {
            let since = *self.above_threshold_since.get_or_insert(at);
            let persisted = at.duration_since(since).unsigned_abs() >= self.config.stepout;
            let over_budget = self.stepped_total.saturating_add(abs) > self.config.step_budget;
            let needs_consent = abs > self.config.panic_threshold || over_budget;
            if needs_consent && !self.consent {
                return Decision::NeedsConsent { offset };
            }
            if persisted || self.consent {
                self.consent = false;
                self.last = None;
                self.above_threshold_since = None;
                self.stepped_total = self.stepped_total.saturating_add(abs);
                return Decision::Step {
                    offset,
                    startup: false,
                };
            }
            // Within the step-out interval: slew at the bound toward it and
            // keep the drift estimate out of it (the offset may be a lie).
            self.last = None;
            let max = self.config.max_slew_rate;
            let rate = if secs(offset) > 0.0 { max } else { -max };
            return Decision::Slew {
                rate,
                offset,
                drift: self.drift.unwrap_or(0.0),
            };
        } else {
            self.above_threshold_since = None;
        }
        // Frequency error from the change of offset under the rate in force:
        // over T the offset changes by -T·(drift + rate).
        if let Some((t0, o0, r0)) = self.last {
            let t = secs(at.duration_since(t0));
            if t > 1.0 {
                let measured = -(secs(offset) - secs(o0)) / t - r0;
                let measured = measured.clamp(-500e-6, 500e-6);
                self.drift = Some(match self.drift {
                    None => measured,
                    Some(d) => 0.5 * d + 0.5 * measured,
                });
            }
        }
        let drift = self.drift.unwrap_or(0.0);
        // Remove the offset over about two polls, cancel the drift, stay in bounds.
        let tau = (2.0 * horizon.as_secs_f64()).max(16.0);
        let max = self.config.max_slew_rate;
        let rate = (-drift + secs(offset) / tau).clamp(-max, max);
        self.last = Some((at, offset, rate));
        Decision::Slew {
            rate,
            offset,
            drift,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    #[test]
    fn startup_steps_large_error_once() {
        let mut d = Discipline::new(DisciplineConfig::default());
        let big = SignedDuration::from_hours(-5);
        assert_eq!(
            d.decide(big, t(0), Duration::from_secs(64)),
            Decision::Step {
                offset: big,
                startup: true
            }
        );
        assert!(matches!(
            d.decide(
                SignedDuration::from_millis(1),
                t(64),
                Duration::from_secs(64)
            ),
            Decision::Slew { .. }
        ));
    }

    #[test]
    fn small_startup_error_is_slewed() {
        let mut d = Discipline::new(DisciplineConfig::default());
        assert!(matches!(
            d.decide(
                SignedDuration::from_millis(3),
                t(0),
                Duration::from_secs(64)
            ),
            Decision::Slew { .. }
        ));
    }

    #[test]
    fn thresholds_after_startup() {
        let mut d = Discipline::new(DisciplineConfig::default());
        let poll = Duration::from_secs(64);
        d.decide(SignedDuration::ZERO, t(0), poll);
        // Below the step threshold: slew, bounded to 0.01 %.
        match d.decide(SignedDuration::from_millis(300), t(64), poll) {
            Decision::Slew { rate, .. } => assert!((rate - 1e-4).abs() < 1e-12, "{rate}"),
            other => panic!("{other:?}"),
        }
        // Above it: slewed at the bound during the step-out interval, then a
        // reported step once it persisted 300 s.
        let two = SignedDuration::from_secs(2);
        for at in [128, 192, 400] {
            match d.decide(two, t(at), poll) {
                Decision::Slew { rate, .. } => assert_eq!(rate, 1e-4, "at {at}"),
                other => panic!("at {at}: {other:?}"),
            }
        }
        assert_eq!(
            d.decide(two, t(428), poll),
            Decision::Step {
                offset: two,
                startup: false
            }
        );
        assert_eq!(d.stepped_total(), Duration::from_secs(2));
        // Above the panic threshold: consent first.
        let huge = SignedDuration::from_secs(5000);
        assert_eq!(
            d.decide(huge, t(492), poll),
            Decision::NeedsConsent { offset: huge }
        );
        d.grant_consent();
        assert_eq!(
            d.decide(huge, t(556), poll),
            Decision::Step {
                offset: huge,
                startup: false
            }
        );
        // Consent is used up.
        assert_eq!(
            d.decide(huge, t(620), poll),
            Decision::NeedsConsent { offset: huge }
        );
    }

    #[test]
    fn persistent_offset_must_outlast_the_stepout_interval() {
        let mut d = Discipline::after_startup(DisciplineConfig::default());
        let poll = Duration::from_secs(64);
        let off = SignedDuration::from_secs(-3);
        // An offset that comes and goes never steps: each return restarts the interval.
        for round in 0..5 {
            let base = round * 400;
            for at in [base, base + 100, base + 299] {
                assert!(
                    matches!(d.decide(off, t(at), poll), Decision::Slew { rate, .. } if rate == -1e-4),
                    "at {at}"
                );
            }
            assert!(matches!(
                d.decide(SignedDuration::from_millis(1), t(base + 350), poll),
                Decision::Slew { .. }
            ));
        }
        assert_eq!(d.stepped_total(), Duration::ZERO);
        // One that stays for 300 s is stepped.
        d.decide(off, t(5000), poll);
        assert_eq!(
            d.decide(off, t(5300), poll),
            Decision::Step {
                offset: off,
                startup: false
            }
        );
    }

    #[test]
    fn steps_after_startup_stop_at_the_budget() {
        let mut d = Discipline::after_startup(DisciplineConfig::default());
        let poll = Duration::from_secs(64);
        let walk = SignedDuration::from_secs(-400);
        let mut now = 0;
        let mut steps = 0;
        let mut refused = 0;
        for _ in 0..10 {
            // Each lie persists through the step-out interval.
            d.decide(walk, t(now), poll);
            now += 300;
            match d.decide(walk, t(now), poll) {
                Decision::Step { startup: false, .. } => steps += 1,
                Decision::NeedsConsent { offset } => {
                    assert_eq!(offset, walk);
                    refused += 1;
                }
                other => panic!("{other:?}"),
            }
            now += 64;
        }
        // 400 + 400 fit in the 1000 s budget; the third would not.
        assert_eq!((steps, refused), (2, 8));
        assert_eq!(d.stepped_total(), Duration::from_secs(800));
        // Explicit consent allows one more.
        d.grant_consent();
        assert!(matches!(
            d.decide(walk, t(now), poll),
            Decision::Step { startup: false, .. }
        ));
    }

    #[test]
    fn ongoing_loop_starts_after_startup() {
        let mut d = Discipline::after_startup(DisciplineConfig::default());
        assert!(!d.in_startup());
        let poll = Duration::from_secs(64);
        // Five hours off: no second startup step, consent is needed.
        let big = SignedDuration::from_hours(5);
        assert_eq!(
            d.decide(big, t(0), poll),
            Decision::NeedsConsent { offset: big }
        );
        // Ten seconds: slewed through the step-out interval, not stepped at once.
        assert!(matches!(
            d.decide(SignedDuration::from_secs(10), t(64), poll),
            Decision::Slew { .. }
        ));
        // A fresh discipline would have stepped both at once.
        let mut fresh = Discipline::new(DisciplineConfig::default());
        assert!(matches!(
            fresh.decide(big, t(0), poll),
            Decision::Step { startup: true, .. }
        ));
    }
}
