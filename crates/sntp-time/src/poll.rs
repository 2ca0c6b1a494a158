//! Poll interval policy: bounded growth on success, backoff on failure. Pure.

use std::time::Duration;

/// Poll interval limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollConfig {
    /// First interval after a good measurement (default 64 s, NTP minpoll 6).
    pub min_interval: Duration,
    /// Largest interval (default 1024 s, NTP maxpoll 10).
    pub max_interval: Duration,
    /// First retry after a failed measurement (default 2 s).
    pub retry_min: Duration,
}

impl Default for PollConfig {
    fn default() -> Self {
        PollConfig {
            min_interval: Duration::from_secs(64),
            max_interval: Duration::from_secs(1024),
            retry_min: Duration::from_secs(2),
        }
    }
}

/// The interval state.
#[derive(Debug, Clone)]
pub struct PollSchedule {
    config: PollConfig,
    interval: Duration,
    failures: u32,
}

impl PollSchedule {
    /// Starts at the minimum interval.
    pub fn new(config: PollConfig) -> Self {
        PollSchedule {
            config,
            interval: config.min_interval,
            failures: 0,
        }
    }

    /// After a good measurement: wait the current interval, then double it (up
    /// to the maximum).
    pub fn on_success(&mut self) -> Duration {
        self.failures = 0;
        let wait = self.interval;
        self.interval = (self.interval * 2).min(self.config.max_interval);
        wait
    }

    /// After a step the clock is re-checked soon: back to the minimum.
    pub fn on_step(&mut self) -> Duration {
        self.failures = 0;
        self.interval = self.config.min_interval;
        self.config.min_interval
    }

    /// After a failed measurement: exponential backoff from `retry_min`,
    /// bounded by the maximum interval.
    pub fn on_failure(&mut self) -> Duration {
        let factor = 1u32 << self.failures.min(16);
        self.failures = self.failures.saturating_add(1);
        (self.config.retry_min * factor).min(self.config.max_interval)
    }

    /// After a Kiss-o'-Death RATE: at least four times the minimum interval.
    pub fn on_rate_limited(&mut self) -> Duration {
        self.interval = (self.interval * 2)
            .max(self.config.min_interval * 4)
            .min(self.config.max_interval);
        self.interval
    }

    /// The interval a success would wait now.
    pub fn interval(&self) -> Duration {
        self.interval
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_and_backoff_are_bounded() {
        let mut p = PollSchedule::new(PollConfig::default());
        let waits: Vec<u64> = (0..7).map(|_| p.on_success().as_secs()).collect();
        assert_eq!(waits, [64, 128, 256, 512, 1024, 1024, 1024]);
        let fails: Vec<u64> = (0..12).map(|_| p.on_failure().as_secs()).collect();
        assert_eq!(
            fails,
            [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 1024, 1024]
        );
        assert_eq!(p.on_step().as_secs(), 64);
        assert_eq!(p.on_rate_limited().as_secs(), 256);
    }
}
