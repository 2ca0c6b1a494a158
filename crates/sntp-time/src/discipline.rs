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
}

impl Default for DisciplineConfig {
    fn default() -> Self {
        DisciplineConfig {
            max_discontinuity: Duration::from_millis(4),
            step_threshold: Duration::from_millis(400),
            panic_threshold: Duration::from_secs(1000),
            max_slew_rate: 1e-4,
        }
    }
}

/// What to do with the clock after a measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
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
    /// The offset is above the panic threshold and the caller has not
    /// consented: nothing is changed.
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
        }
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
        } else if abs > self.config.panic_threshold && !self.consent {
            return Decision::NeedsConsent { offset };
        } else if abs > self.config.step_threshold {
            self.consent = false;
            self.last = None;
            return Decision::Step {
                offset,
                startup: false,
            };
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
        d.decide(SignedDuration::ZERO, t(0), Duration::from_secs(64));
        // Below the step threshold: slew, bounded to 0.01 %.
        match d.decide(
            SignedDuration::from_millis(300),
            t(64),
            Duration::from_secs(64),
        ) {
            Decision::Slew { rate, .. } => assert!((rate - 1e-4).abs() < 1e-12, "{rate}"),
            other => panic!("{other:?}"),
        }
        // Above it: a reported step.
        assert_eq!(
            d.decide(
                SignedDuration::from_secs(2),
                t(128),
                Duration::from_secs(64)
            ),
            Decision::Step {
                offset: SignedDuration::from_secs(2),
                startup: false
            }
        );
        // Above the panic threshold: consent first.
        let huge = SignedDuration::from_secs(5000);
        assert_eq!(
            d.decide(huge, t(192), Duration::from_secs(64)),
            Decision::NeedsConsent { offset: huge }
        );
        d.grant_consent();
        assert_eq!(
            d.decide(huge, t(256), Duration::from_secs(64)),
            Decision::Step {
                offset: huge,
                startup: false
            }
        );
        // Consent is used up.
        assert_eq!(
            d.decide(huge, t(320), Duration::from_secs(64)),
            Decision::NeedsConsent { offset: huge }
        );
    }
}
