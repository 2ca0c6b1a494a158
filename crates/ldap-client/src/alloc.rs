//! Unique AE title allocation (PS3.17 R.1, R.1.2.2 step 6), sans I/O: the
//! policies produce candidate titles; the driver proposes each one by adding
//! its registry entry and moves on when the server says "taken" (68).

use std::collections::HashSet;

use annexr_model::AeTitle;
use rand::Rng;

use crate::error::{Error, Result};

/// One way of choosing AE titles.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AllocationPolicy {
    /// These titles, in order of preference.
    Preferred(Vec<AeTitle>),
    /// Structured titles: `prefix` + a zero-padded counter of `digits`
    /// digits from `start`, optionally followed by a Luhn check digit
    /// (the site's own numbering rule, e.g. `CT` `0001` `8`).
    Structured {
        /// Fixed leading part.
        prefix: String,
        /// First counter value.
        start: u64,
        /// Counter width.
        digits: usize,
        /// Append a Luhn (mod 10) check digit over the counter.
        check_digit: bool,
    },
    /// Titles derived from a preferred one: `CT1` gives `CT1_2`, `CT1_3`, …
    /// up to `CT1_<last>`, the base shortened so the title stays within 16
    /// characters. A peer's administrator can still tell which device it is.
    Derived {
        /// The preferred title the candidates derive from.
        base: AeTitle,
        /// The last suffix number to try (from 2).
        last: u64,
    },
    /// `prefix` + `digits` random decimal digits: the "AExxxxxxxxxxxxxx" form
    /// R.1.2.2 suggests, which collides so rarely that one or two probes find
    /// a free title.
    Random {
        /// Fixed leading part (the standard's example uses `AE`).
        prefix: String,
        /// Number of random digits.
        digits: usize,
        /// Candidates to try before giving up.
        attempts: usize,
    },
}

impl AllocationPolicy {
    /// The standard's random form: `AE` + 14 random digits, 8 attempts.
    pub fn random_ae() -> Self {
        AllocationPolicy::Random {
            prefix: "AE".into(),
            digits: 14,
            attempts: 8,
        }
    }

    /// Derived titles `base_2` … `base_99`.
    pub fn derived(base: &AeTitle) -> Self {
        AllocationPolicy::Derived {
            base: base.clone(),
            last: 99,
        }
    }

    /// Preferred titles (each must be a valid AE title).
    pub fn preferred<S: AsRef<str>>(titles: &[S]) -> Result<Self> {
        let mut list = Vec::new();
        for t in titles {
            list.push(AeTitle::new(t.as_ref())?);
        }
        Ok(AllocationPolicy::Preferred(list))
    }

    fn validate(&self) -> Result<()> {
        match self {
            AllocationPolicy::Preferred(_) => {}
            AllocationPolicy::Derived { last, .. } => {
                if *last < 2 || *last > 99_999 {
                    return Err(Error::TitleRule {
                        rule: format!("derived titles up to _{last}"),
                        reason: "the last suffix must be 2 to 99999".into(),
                    });
                }
            }
            AllocationPolicy::Structured {
                prefix,
                digits,
                check_digit,
                ..
            } => {
                let len = prefix.len() + digits + usize::from(*check_digit);
                if *digits == 0 || *digits > 15 || len > 16 {
                    return Err(Error::TitleRule {
                        rule: format!("{prefix} + {digits} digits"),
                        reason: format!("gives {len} characters (1-16, 1-15 digits)"),
                    });
                }
                AeTitle::new(&format!("{prefix}0"))?;
            }
            AllocationPolicy::Random { prefix, digits, .. } => {
                let len = prefix.len() + digits;
                if *digits == 0 || len > 16 {
                    return Err(Error::TitleRule {
                        rule: format!("{prefix} + {digits} random digits"),
                        reason: format!("gives {len} characters (1-16)"),
                    });
                }
                AeTitle::new(&format!("{prefix}0"))?;
            }
        }
        Ok(())
    }
}

/// `base` + `_` + `n`, the base cut (and its trailing spaces dropped) so
/// the whole stays within the 16 characters of an AE title.
pub fn derive_title(base: &str, n: u64) -> String {
    let suffix = format!("_{n}");
    let room = 16usize.saturating_sub(suffix.len());
    let cut: String = base.trim_end().chars().take(room).collect();
    format!("{}{suffix}", cut.trim_end())
}

/// Luhn check digit over a string of decimal digits.
pub fn luhn_digit(digits: &str) -> u32 {
    let mut sum = 0;
    for (i, c) in digits.chars().rev().enumerate() {
        let mut d = c.to_digit(10).unwrap_or(0);
        if i % 2 == 0 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    (10 - sum % 10) % 10
}

/// Produces candidate titles from a chain of policies, in order, skipping
/// titles known to be taken.
#[derive(Debug, Clone)]
pub struct Allocator {
    policies: Vec<AllocationPolicy>,
    policy: usize,
    step: u64,
    known_taken: HashSet<AeTitle>,
    proposed: usize,
}

impl Allocator {
    /// An allocator over `policies` (tried in order). Fails when a policy
    /// cannot produce valid AE titles.
    pub fn new(policies: Vec<AllocationPolicy>) -> Result<Self> {
        for p in &policies {
            p.validate()?;
        }
        Ok(Allocator {
            policies,
            policy: 0,
            step: 0,
            known_taken: HashSet::new(),
            proposed: 0,
        })
    }

    /// Titles that need not be proposed (e.g. from a listing of the registry).
    pub fn skip(&mut self, taken: impl IntoIterator<Item = AeTitle>) {
        self.known_taken.extend(taken);
    }

    /// Records that `title` was found taken.
    pub fn taken(&mut self, title: &AeTitle) {
        self.known_taken.insert(title.clone());
    }

    /// How many candidates were handed out.
    pub fn proposed(&self) -> usize {
        self.proposed
    }

    /// The next candidate, or `None` when every policy is exhausted.
    pub fn next_candidate<R: Rng + ?Sized>(&mut self, rng: &mut R) -> Option<AeTitle> {
        loop {
            let policy = self.policies.get(self.policy)?;
            let step = self.step;
            self.step += 1;
            let candidate = match policy {
                AllocationPolicy::Preferred(list) => list.get(step as usize).map(|t| t.to_string()),
                AllocationPolicy::Derived { base, last } => {
                    let n = step + 2;
                    (n <= *last).then(|| derive_title(base.as_str(), n))
                }
                AllocationPolicy::Structured {
                    prefix,
                    start,
                    digits,
                    check_digit,
                } => {
                    let n = start.saturating_add(step);
                    let max = 10u64.saturating_pow(*digits as u32);
                    (n < max).then(|| {
                        let counter = format!("{n:0width$}", width = *digits);
                        if *check_digit {
                            format!("{prefix}{counter}{}", luhn_digit(&counter))
                        } else {
                            format!("{prefix}{counter}")
                        }
                    })
                }
                AllocationPolicy::Random {
                    prefix,
                    digits,
                    attempts,
                } => ((step as usize) < *attempts).then(|| {
                    let mut t = prefix.clone();
                    for _ in 0..*digits {
                        t.push(char::from(b'0' + rng.random_range(0..10u8)));
                    }
                    t
                }),
            };
            match candidate {
                None => {
                    self.policy += 1;
                    self.step = 0;
                }
                Some(c) => {
                    // Validated rules make valid titles; skip anything else.
                    let Ok(t) = AeTitle::new(&c) else { continue };
                    if self.known_taken.contains(&t) {
                        continue;
                    }
                    self.proposed += 1;
                    return Some(t);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_in_order_with_skips() {
        let mut rng = rand::rng();
        let mut a = Allocator::new(vec![
            AllocationPolicy::preferred(&["CT1", "CT2"]).unwrap(),
            AllocationPolicy::Structured {
                prefix: "CT".into(),
                start: 1,
                digits: 3,
                check_digit: true,
            },
        ])
        .unwrap();
        a.skip([AeTitle::new("CT2").unwrap()]);
        assert_eq!(a.next_candidate(&mut rng).unwrap(), "CT1");
        // 001: Luhn over "001" = 8.
        assert_eq!(a.next_candidate(&mut rng).unwrap(), "CT0018");
        a.taken(&AeTitle::new("CT0026").unwrap());
        assert_eq!(a.next_candidate(&mut rng).unwrap(), "CT0034");
        assert_eq!(a.proposed(), 3);
    }

    #[test]
    fn derived_titles_keep_the_name_within_16_characters() {
        let mut rng = rand::rng();
        let mut a = Allocator::new(vec![AllocationPolicy::Derived {
            base: AeTitle::new("CT1").unwrap(),
            last: 3,
        }])
        .unwrap();
        a.taken(&AeTitle::new("CT1_2").unwrap());
        assert_eq!(a.next_candidate(&mut rng).unwrap(), "CT1_3");
        assert_eq!(a.next_candidate(&mut rng), None);
        assert_eq!(derive_title("ABCDEFGHIJKLMNOP", 12), "ABCDEFGHIJKLM_12");
        assert_eq!(derive_title("ABCDEFGHIJKLM OP", 2), "ABCDEFGHIJKLM_2");
        assert!(
            Allocator::new(vec![AllocationPolicy::Derived {
                base: AeTitle::new("X").unwrap(),
                last: 1,
            }])
            .is_err()
        );
    }

    #[test]
    fn random_and_exhaustion() {
        let mut rng = rand::rng();
        let mut a = Allocator::new(vec![AllocationPolicy::random_ae()]).unwrap();
        let mut n = 0;
        while let Some(t) = a.next_candidate(&mut rng) {
            let t = t.as_str();
            assert_eq!(t.len(), 16);
            assert!(t.starts_with("AE") && t[2..].chars().all(|c| c.is_ascii_digit()));
            n += 1;
        }
        assert_eq!(n, 8);
        let mut s = Allocator::new(vec![AllocationPolicy::Structured {
            prefix: "X".into(),
            start: 8,
            digits: 1,
            check_digit: false,
        }])
        .unwrap();
        assert_eq!(s.next_candidate(&mut rng).unwrap(), "X8");
        assert_eq!(s.next_candidate(&mut rng).unwrap(), "X9");
        assert_eq!(s.next_candidate(&mut rng), None);
        assert!(
            Allocator::new(vec![AllocationPolicy::Structured {
                prefix: "LONGPREFIX12".into(),
                start: 0,
                digits: 5,
                check_digit: false,
            }])
            .is_err()
        );
        assert_eq!(luhn_digit("7992739871"), 3);
    }
}
