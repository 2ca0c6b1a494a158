//! R.4 step 4, "nearest" server: race TCP connects among the best priority.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use crate::types::{NearestOutcome, Target};

/// Moves the element at `winner` to the front, keeping the others in order
/// (the failover order stays RFC 2782 order). Pure.
pub fn promote<T>(items: &mut [T], winner: usize) {
    if winner < items.len() {
        items[..=winner].rotate_right(1);
    }
}

/// Candidates for the race: the first address of each target of the lowest
/// priority, with the target's index.
fn candidates(targets: &[Target]) -> Vec<(usize, SocketAddr)> {
    let Some(best) = targets.iter().map(|t| t.record.priority).min() else {
        return Vec::new();
    };
    targets
        .iter()
        .enumerate()
        .filter(|(_, t)| t.record.priority == best)
        .filter_map(|(i, t)| t.socket_addrs().first().map(|a| (i, *a)))
        .collect()
}

/// Starts a connect to each candidate, one every `stagger` in RFC order (so the
/// RFC's choice gets a head start), and puts the first to accept in front.
pub(crate) async fn race_best_priority(
    targets: &mut [Target],
    stagger: Duration,
    timeout: Duration,
) -> NearestOutcome {
    let cands = candidates(targets);
    if cands.len() < 2 {
        return NearestOutcome::NotNeeded;
    }
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for (k, (idx, addr)) in cands.into_iter().enumerate() {
        let delay = stagger.saturating_mul(u32::try_from(k).unwrap_or(u32::MAX));
        set.spawn(async move {
            tokio::time::sleep(delay).await;
            match TcpStream::connect(addr).await {
                // The connection only measured reachability; it is closed at once.
                Ok(_stream) => Some((idx, addr)),
                Err(_) => None,
            }
        });
    }
    let winner = tokio::time::timeout(timeout, async {
        while let Some(done) = set.join_next().await {
            if let Ok(Some(w)) = done {
                return Some(w);
            }
        }
        None
    })
    .await
    .ok()
    .flatten();
    set.abort_all();
    match winner {
        Some((idx, addr)) => {
            let target = targets
                .get(idx)
                .map(|t| t.host().to_string())
                .unwrap_or_default();
            promote(targets, idx);
            NearestOutcome::Winner {
                target,
                addr,
                after: start.elapsed(),
            }
        }
        None => NearestOutcome::NoneAnswered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promote_keeps_rest_in_order() {
        let mut v = vec![1, 2, 3, 4];
        promote(&mut v, 2);
        assert_eq!(v, [3, 1, 2, 4]);
        promote(&mut v, 0);
        assert_eq!(v, [3, 1, 2, 4]);
        promote(&mut v, 9);
        assert_eq!(v, [3, 1, 2, 4]);
    }
}
