//! RFC 2782 target selection as pure functions: no I/O, randomness injected.

/// One SRV resource record, as the ordering sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SrvRecord {
    /// Lower is tried first.
    pub priority: u16,
    /// Relative share among records of the same priority.
    pub weight: u16,
    /// TCP port of the service on the target.
    pub port: u16,
    /// Target host name, absolute, lower case, with a trailing dot ("." is the root).
    pub target: String,
}

impl SrvRecord {
    /// True for the root target ".", which says "service not offered" (RFC 2782).
    pub fn is_not_offered(&self) -> bool {
        self.target == "."
    }
}

/// What an SRV RRset means before ordering.
#[derive(Debug, Clone, PartialEq, Eq)]
// Closed by RFC 2782: an RRset offers targets, says "not offered", or is empty.
#[allow(clippy::exhaustive_enums)]
pub enum SrvAnswer {
    /// The single record with target "." : the service is decidedly not offered
    /// in this domain.
    NotOffered,
    /// Usable records ("." records mixed with real ones are dropped).
    Targets(Vec<SrvRecord>),
    /// No records at all.
    Empty,
}

/// Classifies an RRset per RFC 2782: only "." targets means "not offered".
pub fn classify(records: Vec<SrvRecord>) -> SrvAnswer {
    if records.is_empty() {
        return SrvAnswer::Empty;
    }
    if records.iter().all(SrvRecord::is_not_offered) {
        return SrvAnswer::NotOffered;
    }
    SrvAnswer::Targets(
        records
            .into_iter()
            .filter(|r| !r.is_not_offered())
            .collect(),
    )
}

/// The source of randomness for the weighted selection, injectable so that tests
/// are deterministic.
pub trait SelectionRng {
    /// A uniformly distributed number in `0..=upper`.
    fn pick(&mut self, upper: u64) -> u64;
}

/// A small, fast PRNG (SplitMix64). Load spreading needs no cryptographic quality.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator with a fixed seed (tests, reproducible runs).
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// A generator seeded from the standard library's per-process random keys and
    /// the clock, so that devices booting together spread over the servers.
    pub fn from_entropy() -> Self {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        h.write_u128(nanos);
        h.write_u32(std::process::id());
        SplitMix64 { state: h.finish() }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl SelectionRng for SplitMix64 {
    fn pick(&mut self, upper: u64) -> u64 {
        match upper.checked_add(1) {
            None => self.next_u64(),
            // Rejection sampling: no modulo bias.
            Some(span) => {
                let zone = u64::MAX - (u64::MAX % span);
                loop {
                    let v = self.next_u64();
                    if v < zone {
                        return v % span;
                    }
                }
            }
        }
    }
}

/// Orders records as RFC 2782 prescribes: ascending priority; within a priority,
/// repeated weighted random selection where each record's chance is proportional
/// to its weight. Zero-weight records are placed first in the running-sum list
/// (the RFC's rule), so they are chosen only when the random number is 0, i.e.
/// rarely while records with weight exist, and uniformly when all weights are 0.
/// "." records are not filtered here; use [`classify`] first.
pub fn order_srv<R: SelectionRng + ?Sized>(records: &[SrvRecord], rng: &mut R) -> Vec<SrvRecord> {
    let mut sorted: Vec<&SrvRecord> = records.iter().collect();
    sorted.sort_by_key(|r| r.priority);
    let mut out = Vec::with_capacity(records.len());
    for group in sorted.chunk_by(|a, b| a.priority == b.priority) {
        // Zero weights at the beginning, otherwise the server's order (stable sort).
        let mut pending: Vec<&SrvRecord> = group.to_vec();
        pending.sort_by_key(|r| r.weight != 0);
        while !pending.is_empty() {
            let total: u64 = pending.iter().map(|r| u64::from(r.weight)).sum();
            let target = rng.pick(total);
            let mut running = 0u64;
            let mut chosen = pending.len() - 1;
            for (i, r) in pending.iter().enumerate() {
                running += u64::from(r.weight);
                if running >= target {
                    chosen = i;
                    break;
                }
            }
            out.push(pending.remove(chosen).clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(priority: u16, weight: u16, target: &str) -> SrvRecord {
        SrvRecord {
            priority,
            weight,
            port: 389,
            target: target.to_string(),
        }
    }

    /// Replays fixed picks, clamped into range.
    struct Fixed(Vec<u64>);
    impl SelectionRng for Fixed {
        fn pick(&mut self, upper: u64) -> u64 {
            if self.0.is_empty() {
                0
            } else {
                self.0.remove(0).min(upper)
            }
        }
    }

    #[test]
    fn priorities_ascend() {
        let recs = [rec(10, 1, "c."), rec(0, 1, "a."), rec(5, 1, "b.")];
        let order = order_srv(&recs, &mut SplitMix64::new(1));
        let names: Vec<_> = order.iter().map(|r| r.target.as_str()).collect();
        assert_eq!(names, ["a.", "b.", "c."]);
    }

    #[test]
    fn zero_weight_only_on_zero_pick() {
        let recs = [rec(0, 10, "w10."), rec(0, 0, "w0.")];
        // pick 0 hits the zero-weight record (placed first, running sum 0 >= 0).
        let order = order_srv(&recs, &mut Fixed(vec![0, 0]));
        assert_eq!(order[0].target, "w0.");
        // any pick >= 1 hits the weighted one.
        let order = order_srv(&recs, &mut Fixed(vec![1, 0]));
        assert_eq!(order[0].target, "w10.");
    }

    #[test]
    fn all_zero_weights_uniform() {
        let recs = [rec(0, 0, "a."), rec(0, 0, "b.")];
        let mut firsts = [0u32; 2];
        let mut rng = SplitMix64::new(7);
        for _ in 0..2000 {
            let o = order_srv(&recs, &mut rng);
            firsts[usize::from(o[0].target == "b.")] += 1;
        }
        // total weight 0: pick(0) is always 0 → the first record; RFC leaves the
        // order of equal-weight zero records unspecified, we keep the server's.
        assert_eq!(firsts, [2000, 0]);
    }

    #[test]
    fn weights_distribute() {
        let recs = [rec(0, 60, "a."), rec(0, 30, "b."), rec(0, 10, "c.")];
        let mut rng = SplitMix64::new(42);
        let mut counts = std::collections::HashMap::new();
        for _ in 0..10_000 {
            *counts
                .entry(order_srv(&recs, &mut rng)[0].target.clone())
                .or_insert(0u32) += 1;
        }
        // pick in 0..=100: a gets 0..=60 (61/101), b 61..=90, c 91..=100.
        assert!((5_800..=6_300).contains(&counts["a."]), "{counts:?}");
        assert!((2_700..=3_200).contains(&counts["b."]), "{counts:?}");
        assert!((800..=1_200).contains(&counts["c."]), "{counts:?}");
    }

    #[test]
    fn classify_dot() {
        assert_eq!(classify(vec![rec(0, 0, ".")]), SrvAnswer::NotOffered);
        assert_eq!(classify(vec![]), SrvAnswer::Empty);
        assert_eq!(
            classify(vec![rec(0, 0, "."), rec(1, 1, "a.")]),
            SrvAnswer::Targets(vec![rec(1, 1, "a.")])
        );
    }

    #[test]
    fn every_record_once() {
        let recs: Vec<_> = (0..50u16)
            .map(|i| rec(i % 3, i * 1000, &format!("h{i}.")))
            .collect();
        let order = order_srv(&recs, &mut SplitMix64::new(3));
        assert_eq!(order.len(), recs.len());
        for r in &recs {
            assert!(order.contains(r));
        }
    }
}
