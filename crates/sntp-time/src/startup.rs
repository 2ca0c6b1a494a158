//! The startup step rule (R.6.3.1): a large step before medical use is
//! expected, but not on the word of one unauthenticated server. Pure.

use std::time::Duration;

use crate::select::{AGREEMENT, Measurement};

/// Limits on the one startup step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartupStepRules {
    /// Offsets up to this are left to the ongoing loop to slew (default
    /// 0.4 s, as systemd-timesyncd steps above it).
    pub step_threshold: Duration,
    /// Largest step one server may justify alone (default 1 s). Larger steps
    /// need `min_agreeing` servers agreeing within [`AGREEMENT`].
    pub max_unconfirmed_step: Duration,
    /// Servers that must agree for a larger step (default 2, never fewer).
    pub min_agreeing: usize,
    /// Accept a larger step from a single server (explicit opt-in, for
    /// sites with one NTP server: that server can then set any time).
    pub trust_single_server: bool,
}

impl Default for StartupStepRules {
    fn default() -> Self {
        StartupStepRules {
            step_threshold: Duration::from_millis(400),
            max_unconfirmed_step: Duration::from_secs(1),
            min_agreeing: 2,
            trust_single_server: false,
        }
    }
}

/// What the rules say about the startup step a measurement calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartupStep {
    /// The offset is small enough for the ongoing loop to slew.
    NotNeeded,
    /// A step within the limit one server may justify.
    WithinLimit,
    /// A step beyond the limit, confirmed by `agreeing` servers.
    Confirmed {
        /// Servers within [`AGREEMENT`] of the offset.
        agreeing: usize,
    },
    /// A step beyond the limit on one server's word, allowed by
    /// `trust_single_server`.
    TrustedSingleServer,
    /// A step beyond the limit that too few servers confirm: not taken.
    Refused {
        /// Servers within [`AGREEMENT`] of the offset.
        agreeing: usize,
        /// The limit it exceeds.
        limit: Duration,
    },
}

impl StartupStep {
    /// True when the clock may be stepped (or corrected) by the offset.
    pub fn allowed(&self) -> bool {
        matches!(
            self,
            StartupStep::WithinLimit
                | StartupStep::Confirmed { .. }
                | StartupStep::TrustedSingleServer
        )
    }
}

impl StartupStepRules {
    /// Judges the startup step `measurement` calls for.
    pub fn judge(&self, measurement: &Measurement) -> StartupStep {
        let size = measurement.offset.unsigned_abs();
        if size <= self.step_threshold {
            return StartupStep::NotNeeded;
        }
        if size <= self.max_unconfirmed_step {
            return StartupStep::WithinLimit;
        }
        let agreeing = measurement.agreeing_servers(AGREEMENT);
        if agreeing >= self.min_agreeing.max(2) {
            StartupStep::Confirmed { agreeing }
        } else if self.trust_single_server {
            StartupStep::TrustedSingleServer
        } else {
            StartupStep::Refused {
                agreeing,
                limit: self.max_unconfirmed_step,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use jiff::Timestamp;

    use super::*;
    use crate::select::{ServerReport, select};

    fn measured(offsets_ms: &[i64]) -> Measurement {
        let servers = offsets_ms
            .iter()
            .enumerate()
            .map(|(i, ms)| {
                let sample = crate::packet::test_sample(*ms, 1 + i as u64);
                let addr = SocketAddr::from(([127, 0, 0, 1 + i as u8], 123));
                ServerReport::from_outcomes(addr, vec![Ok(sample)])
            })
            .collect();
        select(servers, Timestamp::UNIX_EPOCH).unwrap()
    }

    #[test]
    fn startup_step_beyond_limit_needs_two_agreeing_servers() {
        let rules = StartupStepRules::default();
        let year = 365 * 86_400_000;
        assert_eq!(rules.judge(&measured(&[300])), StartupStep::NotNeeded);
        assert_eq!(rules.judge(&measured(&[900])), StartupStep::WithinLimit);
        // Two years on one server's word: refused.
        let refused = rules.judge(&measured(&[-2 * year]));
        assert_eq!(
            refused,
            StartupStep::Refused {
                agreeing: 1,
                limit: Duration::from_secs(1)
            }
        );
        assert!(!refused.allowed());
        // Two servers within 1 s of each other: confirmed.
        let confirmed = rules.judge(&measured(&[-2 * year, -2 * year + 700]));
        assert_eq!(confirmed, StartupStep::Confirmed { agreeing: 2 });
        assert!(confirmed.allowed());
        // Two that disagree by more than 1 s: refused.
        assert!(
            !rules
                .judge(&measured(&[-2 * year, -2 * year + 1_500]))
                .allowed()
        );
        // One liar among three cannot move the median past the agreement.
        assert_eq!(
            rules.judge(&measured(&[3_000, 3_200, 9_000_000])),
            StartupStep::Confirmed { agreeing: 2 }
        );
    }

    #[test]
    fn trust_single_server_is_an_explicit_opt_in() {
        let rules = StartupStepRules {
            trust_single_server: true,
            ..StartupStepRules::default()
        };
        let step = rules.judge(&measured(&[5 * 3_600_000]));
        assert_eq!(step, StartupStep::TrustedSingleServer);
        assert!(step.allowed());
        // A confirmed step stays confirmed with the opt-in.
        assert_eq!(
            rules.judge(&measured(&[60_000, 60_100])),
            StartupStep::Confirmed { agreeing: 2 }
        );
    }
}
