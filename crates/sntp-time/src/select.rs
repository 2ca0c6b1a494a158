//! Sample filtering, server selection and the R.6 accuracy classes: pure.

use std::net::SocketAddr;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::packet::{Kod, Rejection, Sample};

/// PS3.17 R.6 synchronization classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
// Closed by PS3.17 R.6: its two accuracy classes, and neither.
#[allow(clippy::exhaustive_enums)]
pub enum AccuracyClass {
    /// High accuracy: within about 10 ms (cardiology, multi-modality timing).
    HighAccuracy,
    /// Ordinary: within about 500 ms (security protocols fail past ~1 s).
    Ordinary,
    /// Neither.
    Insufficient,
}

/// Bound of the high-accuracy class.
pub const HIGH_ACCURACY: Duration = Duration::from_millis(10);
/// Bound of the ordinary class.
pub const ORDINARY: Duration = Duration::from_millis(500);

impl AccuracyClass {
    /// The class an error bound fits in.
    pub fn for_error(bound: Duration) -> Self {
        if bound <= HIGH_ACCURACY {
            AccuracyClass::HighAccuracy
        } else if bound <= ORDINARY {
            AccuracyClass::Ordinary
        } else {
            AccuracyClass::Insufficient
        }
    }
}

impl std::fmt::Display for AccuracyClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AccuracyClass::HighAccuracy => "high accuracy (≤10 ms)",
            AccuracyClass::Ordinary => "ordinary (≤500 ms)",
            AccuracyClass::Insufficient => "insufficient (>500 ms)",
        })
    }
}

/// Why a server's result was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Discard {
    /// Not one valid sample.
    NoValidSample,
    /// Kiss-o'-Death DENY or RSTR: do not ask again.
    KissOfDeath(Kod),
    /// Kiss-o'-Death RATE: asked too often; back off.
    RateLimited,
}

impl std::fmt::Display for Discard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Discard::NoValidSample => f.write_str("no valid sample"),
            Discard::KissOfDeath(k) => write!(f, "Kiss-o'-Death {k}: stop using this server"),
            Discard::RateLimited => f.write_str("Kiss-o'-Death RATE: backing off"),
        }
    }
}

/// Everything about one server in one measurement.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ServerReport {
    /// The server.
    pub server: SocketAddr,
    /// The valid sample with the least delay.
    pub best: Option<Sample>,
    /// Number of valid samples.
    pub valid_samples: usize,
    /// Every rejected reply (or missing one) and why.
    pub rejections: Vec<Rejection>,
    /// Set when the server is not used.
    pub discarded: Option<Discard>,
}

impl ServerReport {
    /// Builds the report of a server from its per-sample outcomes: keeps the
    /// least-delay valid sample; a KoD decides the discard reason.
    pub fn from_outcomes(server: SocketAddr, outcomes: Vec<Result<Sample, Rejection>>) -> Self {
        let mut best: Option<Sample> = None;
        let mut valid = 0;
        let mut rejections = Vec::new();
        let mut kod = None;
        for o in outcomes {
            match o {
                Ok(s) => {
                    valid += 1;
                    if best.as_ref().is_none_or(|b| s.delay < b.delay) {
                        best = Some(s);
                    }
                }
                Err(r) => {
                    if let Rejection::KissOfDeath(k) = &r {
                        kod = Some(k.clone());
                    }
                    rejections.push(r);
                }
            }
        }
        let discarded = match kod {
            Some(k @ (Kod::Deny | Kod::Rstr)) => Some(Discard::KissOfDeath(k)),
            Some(Kod::Rate) => Some(Discard::RateLimited),
            _ if best.is_none() => Some(Discard::NoValidSample),
            _ => None,
        };
        if discarded.is_some() {
            best = None;
        }
        ServerReport {
            server,
            best,
            valid_samples: valid,
            rejections,
            discarded,
        }
    }
}

/// The combined result of one measurement over all servers.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Measurement {
    /// What to add to the local clock.
    pub offset: SignedDuration,
    /// Round-trip delay of the chosen sample(s).
    pub delay: Duration,
    /// Error bound: delay / 2 + root distance.
    pub sync_distance: Duration,
    /// The class that delay and root distance support once the offset is corrected.
    pub supported_class: AccuracyClass,
    /// The class the clock is in right now, before correction (|offset| + bound).
    pub clock_class: AccuracyClass,
    /// Servers whose samples were combined.
    pub used: Vec<SocketAddr>,
    /// Every server, used or not.
    pub servers: Vec<ServerReport>,
    /// Local time of the measurement.
    pub at: Timestamp,
}

/// A leap second a server announces for the end of the current day (the
/// leap indicator of RFC 5905: 1 inserts a second, 2 deletes one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeapSecond {
    /// LI 1: the last minute of the day has 61 seconds.
    Insert,
    /// LI 2: the last minute of the day has 59 seconds.
    Delete,
}

impl LeapSecond {
    /// The announcement of a leap indicator (0 and 3 announce none).
    pub fn from_indicator(leap: u8) -> Option<LeapSecond> {
        match leap {
            1 => Some(LeapSecond::Insert),
            2 => Some(LeapSecond::Delete),
            _ => None,
        }
    }
}

impl std::fmt::Display for LeapSecond {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LeapSecond::Insert => "leap second to be inserted at the end of the day",
            LeapSecond::Delete => "leap second to be deleted at the end of the day",
        })
    }
}

/// How far apart two servers' offsets may be and still count as agreeing.
pub const AGREEMENT: Duration = Duration::from_secs(1);

impl Measurement {
    /// The number of servers whose best sample lies within `within` of the
    /// combined offset (the servers used included). With fewer than two, the
    /// offset rests on one unauthenticated server.
    pub fn agreeing_servers(&self, within: Duration) -> usize {
        self.servers
            .iter()
            .filter_map(|r| r.best.as_ref())
            .filter(|s| (s.offset - self.offset).unsigned_abs() <= within)
            .count()
    }

    /// The leap second the servers used announce, if any.
    pub fn leap(&self) -> Option<LeapSecond> {
        self.servers
            .iter()
            .filter(|r| self.used.contains(&r.server))
            .filter_map(|r| r.best.as_ref())
            .find_map(|s| LeapSecond::from_indicator(s.leap))
    }
}

/// Combines the servers' best samples: the median offset with three or more
/// survivors (one bad server cannot move it), otherwise the sample with the
/// smallest synchronization distance.
pub fn select(servers: Vec<ServerReport>, at: Timestamp) -> Option<Measurement> {
    let mut good: Vec<(SocketAddr, &Sample)> = servers
        .iter()
        .filter_map(|r| r.best.as_ref().map(|s| (r.server, s)))
        .collect();
    if good.is_empty() {
        return None;
    }
    let (offset, chosen): (SignedDuration, Vec<(SocketAddr, &Sample)>) = if good.len() >= 3 {
        good.sort_by_key(|(_, s)| s.offset);
        let n = good.len();
        if n % 2 == 1 {
            let m = good[n / 2];
            (m.1.offset, vec![m])
        } else {
            let (a, b) = (good[n / 2 - 1], good[n / 2]);
            ((a.1.offset + b.1.offset) / 2, vec![a, b])
        }
    } else {
        good.sort_by_key(|(_, s)| s.sync_distance());
        (good[0].1.offset, vec![good[0]])
    };
    let delay = chosen
        .iter()
        .map(|(_, s)| s.delay)
        .max()
        .unwrap_or_default();
    let sync_distance = chosen
        .iter()
        .map(|(_, s)| s.sync_distance())
        .max()
        .unwrap_or_default();
    let used = chosen.iter().map(|(a, _)| *a).collect();
    Some(Measurement {
        offset,
        delay,
        sync_distance,
        supported_class: AccuracyClass::for_error(sync_distance),
        clock_class: AccuracyClass::for_error(offset.unsigned_abs() + sync_distance),
        used,
        servers,
        at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::packet::test_sample as sample;

    fn addr(n: u8) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, n], 123))
    }

    #[test]
    fn least_delay_sample_per_server() {
        let r = ServerReport::from_outcomes(
            addr(1),
            vec![
                Ok(sample(5, 9)),
                Ok(sample(1, 2)),
                Err(Rejection::OriginMismatch),
                Ok(sample(3, 4)),
            ],
        );
        assert_eq!(r.best.unwrap().offset, SignedDuration::from_millis(1));
        assert_eq!(r.valid_samples, 3);
        assert_eq!(r.rejections, vec![Rejection::OriginMismatch]);
    }

    #[test]
    fn kod_discards_the_server() {
        for (kod, want) in [
            (Kod::Deny, Discard::KissOfDeath(Kod::Deny)),
            (Kod::Rstr, Discard::KissOfDeath(Kod::Rstr)),
            (Kod::Rate, Discard::RateLimited),
        ] {
            let r = ServerReport::from_outcomes(
                addr(1),
                vec![Ok(sample(1, 1)), Err(Rejection::KissOfDeath(kod))],
            );
            assert_eq!(r.discarded, Some(want));
            assert!(r.best.is_none());
        }
    }

    #[test]
    fn median_of_three_ignores_a_falseticker() {
        let servers = vec![
            ServerReport::from_outcomes(addr(1), vec![Ok(sample(10, 1))]),
            ServerReport::from_outcomes(addr(2), vec![Ok(sample(3_600_000, 1))]),
            ServerReport::from_outcomes(addr(3), vec![Ok(sample(12, 1))]),
        ];
        let m = select(servers, Timestamp::UNIX_EPOCH).unwrap();
        assert_eq!(m.offset, SignedDuration::from_millis(12));
        assert_eq!(m.used, vec![addr(3)]);
    }

    #[test]
    fn classes() {
        assert_eq!(
            AccuracyClass::for_error(Duration::from_millis(3)),
            AccuracyClass::HighAccuracy
        );
        assert_eq!(
            AccuracyClass::for_error(Duration::from_millis(300)),
            AccuracyClass::Ordinary
        );
        assert_eq!(
            AccuracyClass::for_error(Duration::from_secs(2)),
            AccuracyClass::Insufficient
        );
    }

    #[test]
    fn agreement_counts_servers_near_the_combined_offset() {
        let two = |a: i64, b: i64| {
            let servers = vec![
                ServerReport::from_outcomes(addr(1), vec![Ok(sample(a, 1))]),
                ServerReport::from_outcomes(addr(2), vec![Ok(sample(b, 2))]),
            ];
            select(servers, Timestamp::UNIX_EPOCH).unwrap()
        };
        assert_eq!(two(60_000, 60_400).agreeing_servers(AGREEMENT), 2);
        assert_eq!(two(60_000, 61_001).agreeing_servers(AGREEMENT), 1);
        // The least-distance server decides the offset either way.
        assert_eq!(two(5, 3_600_000).offset, SignedDuration::from_millis(5));
        let one = select(
            vec![ServerReport::from_outcomes(addr(1), vec![Ok(sample(9, 1))])],
            Timestamp::UNIX_EPOCH,
        )
        .unwrap();
        assert_eq!(one.agreeing_servers(AGREEMENT), 1);
    }

    #[test]
    fn leap_indicator_1_and_2_are_reported() {
        for (li, want) in [
            (0, None),
            (1, Some(LeapSecond::Insert)),
            (2, Some(LeapSecond::Delete)),
        ] {
            let mut s = sample(1, 1);
            s.leap = li;
            let m = select(
                vec![ServerReport::from_outcomes(addr(1), vec![Ok(s)])],
                Timestamp::UNIX_EPOCH,
            )
            .unwrap();
            assert_eq!(m.leap(), want, "LI {li}");
        }
    }
}
