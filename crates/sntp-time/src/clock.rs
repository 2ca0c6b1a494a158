//! The clock behind a trait: read it, step it, slew it at a rate.

use std::sync::Mutex;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::Error;

/// A clock the discipline can read and correct.
pub trait Clock: Send + Sync {
    /// Current time of this clock.
    fn now(&self) -> Timestamp;
    /// Jumps the clock by `by` (positive: forward).
    fn step(&self, by: SignedDuration) -> Result<(), Error>;
    /// Runs the clock faster (positive) or slower (negative) by `rate`, a
    /// fraction (1e-4 = 0.01 %), until called again; 0 stops slewing.
    fn slew(&self, rate: f64) -> Result<(), Error>;
}

#[derive(Debug)]
struct SimState {
    /// True time in ns when `manual`, else the last system-time reading.
    true_ns: i128,
    manual: bool,
    /// Clock minus true time, ns (f64 keeps sub-ns drift accumulation).
    error_ns: f64,
    drift: f64,
    slew: f64,
    steps: Vec<(Timestamp, SignedDuration)>,
    max_abs_slew: f64,
}

impl SimState {
    fn sync_true(&mut self) {
        if !self.manual {
            let now = Timestamp::now().as_nanosecond();
            self.advance_ns(now - self.true_ns);
        }
    }

    fn advance_ns(&mut self, dt: i128) {
        // i128 → f64 loses nothing that matters for intervals up to days.
        #[allow(clippy::cast_precision_loss)]
        let dt_f = dt as f64;
        self.error_ns += dt_f * (self.drift + self.slew);
        self.true_ns += dt;
    }

    fn clock_ns(&self) -> i128 {
        #[allow(clippy::cast_possible_truncation)]
        let e = self.error_ns.round() as i128;
        self.true_ns + e
    }
}

/// A simulated clock with a constant frequency error ("drift"), for tests:
/// steps and slews change only the simulation, never the host clock.
///
/// True time either follows the host clock ([`SimClock::following_system`],
/// for tests against a real server) or is advanced by hand
/// ([`SimClock::manual`], for a simulated day in milliseconds).
#[derive(Debug)]
pub struct SimClock {
    state: Mutex<SimState>,
}

impl SimClock {
    fn with(true_ns: i128, manual: bool, error: SignedDuration, drift_ppm: f64) -> Self {
        #[allow(clippy::cast_precision_loss)]
        let error_ns = error.as_nanos() as f64;
        SimClock {
            state: Mutex::new(SimState {
                true_ns,
                manual,
                error_ns,
                drift: drift_ppm * 1e-6,
                slew: 0.0,
                steps: Vec::new(),
                max_abs_slew: 0.0,
            }),
        }
    }

    /// True time is `start` and moves only with [`SimClock::advance`]; the
    /// clock starts `error` off and gains `drift_ppm` parts per million.
    pub fn manual(start: Timestamp, error: SignedDuration, drift_ppm: f64) -> Self {
        Self::with(start.as_nanosecond(), true, error, drift_ppm)
    }

    /// True time is the host's clock (read only); the simulated clock starts
    /// `error` off it and gains `drift_ppm`.
    pub fn following_system(error: SignedDuration, drift_ppm: f64) -> Self {
        Self::with(Timestamp::now().as_nanosecond(), false, error, drift_ppm)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SimState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Advances true time (manual clocks; ignored when following the system).
    pub fn advance(&self, by: Duration) {
        let mut s = self.lock();
        if s.manual {
            s.advance_ns(i128::try_from(by.as_nanos()).unwrap_or(i128::MAX / 2));
        }
    }

    /// The true time.
    pub fn true_now(&self) -> Timestamp {
        let mut s = self.lock();
        s.sync_true();
        Timestamp::from_nanosecond(s.true_ns).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    /// Clock minus true time.
    pub fn error(&self) -> SignedDuration {
        let mut s = self.lock();
        s.sync_true();
        #[allow(clippy::cast_possible_truncation)]
        let ns = s.error_ns.round() as i64;
        SignedDuration::from_nanos(ns)
    }

    /// Every step applied: (clock time before the step, amount).
    pub fn steps(&self) -> Vec<(Timestamp, SignedDuration)> {
        self.lock().steps.clone()
    }

    /// The slew rate in force.
    pub fn slew_rate(&self) -> f64 {
        self.lock().slew
    }

    /// The largest absolute slew rate ever set.
    pub fn max_abs_slew(&self) -> f64 {
        self.lock().max_abs_slew
    }
}

impl Clock for SimClock {
    fn now(&self) -> Timestamp {
        let mut s = self.lock();
        s.sync_true();
        Timestamp::from_nanosecond(s.clock_ns()).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn step(&self, by: SignedDuration) -> Result<(), Error> {
        let mut s = self.lock();
        s.sync_true();
        let before = Timestamp::from_nanosecond(s.clock_ns()).unwrap_or(Timestamp::UNIX_EPOCH);
        #[allow(clippy::cast_precision_loss)]
        let by_ns = by.as_nanos() as f64;
        s.error_ns += by_ns;
        s.steps.push((before, by));
        Ok(())
    }

    fn slew(&self, rate: f64) -> Result<(), Error> {
        if !rate.is_finite() {
            return Err(Error::Clock {
                step: "slew",
                cause: format!("rate {rate} is not finite"),
            });
        }
        let mut s = self.lock();
        s.sync_true();
        s.slew = rate;
        s.max_abs_slew = s.max_abs_slew.max(rate.abs());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_and_slew_accumulate() {
        let t0 = Timestamp::from_second(1_800_000_000).unwrap();
        let c = SimClock::manual(t0, SignedDuration::ZERO, 10.0);
        c.advance(Duration::from_secs(1000));
        assert_eq!(c.error(), SignedDuration::from_millis(10));
        c.slew(-1e-5).unwrap();
        c.advance(Duration::from_secs(1000));
        assert_eq!(c.error(), SignedDuration::from_millis(10));
        c.step(SignedDuration::from_millis(-10)).unwrap();
        assert_eq!(c.error(), SignedDuration::ZERO);
        assert_eq!(c.now(), c.true_now());
        assert_eq!(c.steps().len(), 1);
    }
}
