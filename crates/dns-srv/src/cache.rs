//! A TTL cache of answers, keyed by owner name and record type. Pure: the
//! caller passes the current instant, so expiry is tested without sleeping.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Which record type a cache entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Srv,
    Addr,
    Txt,
}

/// One cached answer with where and when it came from.
#[derive(Debug, Clone)]
pub(crate) struct Entry<T> {
    pub value: T,
    pub server: SocketAddr,
    pub fetched: Instant,
    pub ttl: Duration,
}

impl<T> Entry<T> {
    /// Remaining lifetime at `now`, `None` once expired.
    pub fn remaining(&self, now: Instant) -> Option<Duration> {
        let age = now.saturating_duration_since(self.fetched);
        self.ttl.checked_sub(age).filter(|d| !d.is_zero())
    }
}

/// Bounded so that a hostile or huge zone cannot grow memory without limit.
const MAX_ENTRIES: usize = 4096;

#[derive(Debug)]
pub(crate) struct Cache<T> {
    entries: HashMap<(String, Kind), Entry<T>>,
}

impl<T> Default for Cache<T> {
    fn default() -> Self {
        Cache {
            entries: HashMap::new(),
        }
    }
}

impl<T: Clone> Cache<T> {
    pub fn get(&mut self, name: &str, kind: Kind, now: Instant) -> Option<(Entry<T>, Duration)> {
        let key = (name.to_string(), kind);
        match self.entries.get(&key) {
            Some(e) => match e.remaining(now) {
                Some(left) => Some((e.clone(), left)),
                None => {
                    self.entries.remove(&key);
                    None
                }
            },
            None => None,
        }
    }

    /// Stores an answer; a TTL of zero means "use once, do not cache" (RFC 1035).
    pub fn put(&mut self, name: &str, kind: Kind, entry: Entry<T>) {
        if entry.ttl.is_zero() {
            return;
        }
        if self.entries.len() >= MAX_ENTRIES {
            let now = entry.fetched;
            self.entries.retain(|_, e| e.remaining(now).is_some());
            if self.entries.len() >= MAX_ENTRIES {
                self.entries.clear();
            }
        }
        self.entries.insert((name.to_string(), kind), entry);
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_after_ttl() {
        let t0 = Instant::now();
        let server: SocketAddr = "127.0.0.1:53".parse().unwrap();
        let mut c = Cache::default();
        c.put(
            "a.",
            Kind::Srv,
            Entry {
                value: 1u8,
                server,
                fetched: t0,
                ttl: Duration::from_secs(2),
            },
        );
        let (_, left) = c.get("a.", Kind::Srv, t0 + Duration::from_secs(1)).unwrap();
        assert_eq!(left, Duration::from_secs(1));
        assert!(
            c.get("a.", Kind::Srv, t0 + Duration::from_secs(2))
                .is_none()
        );
        c.put(
            "b.",
            Kind::Srv,
            Entry {
                value: 1u8,
                server,
                fetched: t0,
                ttl: Duration::ZERO,
            },
        );
        assert!(c.get("b.", Kind::Srv, t0).is_none());
    }
}
