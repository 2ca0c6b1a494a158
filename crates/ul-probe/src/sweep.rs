//! Probe many peers concurrently, with a bound on concurrency, and summarize.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::report::{Error, ProbeReport, TargetSummary};
use crate::target::{ProbeOptions, Target};

/// How to sweep.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// At most this many probes at once (at least 1).
    pub concurrency: usize,
    /// Options of every probe; its `total_timeout` is the per-peer timeout.
    pub probe: ProbeOptions,
}

impl Default for SweepOptions {
    fn default() -> Self {
        SweepOptions {
            concurrency: 16,
            probe: ProbeOptions::default().total_timeout(Some(Duration::from_secs(15))),
        }
    }
}

/// The result for one peer of a sweep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SweepItem {
    /// The peer.
    pub target: TargetSummary,
    /// Its report, when it could be probed.
    pub report: Option<ProbeReport>,
    /// Why it could not be probed at all (invalid target, TLS setup).
    pub error: Option<Error>,
}

/// Counts over a sweep.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SweepSummary {
    /// Peers probed or attempted.
    pub peers: usize,
    /// Peers whose verdict is all good.
    pub all_good: usize,
    /// Peers by verdict name (plus "not_probed").
    pub by_verdict: BTreeMap<String, usize>,
    /// Median whole-probe time of the probed peers, in µs.
    pub median_total_us: Option<u64>,
    /// Wall-clock time of the sweep, in µs.
    pub elapsed_us: u64,
}

/// The result of a sweep, in the order of the targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SweepReport {
    /// One item per target.
    pub items: Vec<SweepItem>,
    /// The counts.
    pub summary: SweepSummary,
}

impl SweepReport {
    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

/// Summarize sweep items. Pure.
pub fn summarize(items: &[SweepItem], elapsed: Duration) -> SweepSummary {
    let mut by_verdict = BTreeMap::new();
    let mut totals = Vec::new();
    for item in items {
        let name = match &item.report {
            Some(r) => {
                totals.push(r.timings.total_us);
                r.verdict.name()
            }
            None => "not_probed",
        };
        *by_verdict.entry(name.to_string()).or_insert(0) += 1;
    }
    totals.sort_unstable();
    SweepSummary {
        peers: items.len(),
        all_good: by_verdict.get("all_good").copied().unwrap_or(0),
        by_verdict,
        median_total_us: totals.get(totals.len() / 2).copied(),
        elapsed_us: u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
    }
}

/// Probe every target, at most `opts.concurrency` at a time.
pub async fn sweep(targets: &[Target], opts: &SweepOptions) -> SweepReport {
    let started = Instant::now();
    let permits = Arc::new(Semaphore::new(opts.concurrency.max(1)));
    let probe_opts = Arc::new(opts.probe.clone());
    let mut set = JoinSet::new();
    for (i, target) in targets.iter().enumerate() {
        let target = target.clone();
        let permits = permits.clone();
        let probe_opts = probe_opts.clone();
        set.spawn(async move {
            // The semaphore is never closed, so acquire only fails if it were.
            let _permit = permits.acquire_owned().await.ok();
            (i, crate::probe(&target, &probe_opts).await)
        });
    }
    let mut results: Vec<Option<Result<ProbeReport, Error>>> = vec![None; targets.len()];
    while let Some(joined) = set.join_next().await {
        if let Ok((i, r)) = joined
            && let Some(slot) = results.get_mut(i)
        {
            *slot = Some(r);
        }
    }
    let items: Vec<SweepItem> = targets
        .iter()
        .zip(results)
        .map(|(t, r)| match r {
            Some(Ok(report)) => SweepItem {
                target: t.summary(),
                report: Some(report),
                error: None,
            },
            Some(Err(e)) => SweepItem {
                target: t.summary(),
                report: None,
                error: Some(e),
            },
            None => SweepItem {
                target: t.summary(),
                report: None,
                error: Some(Error::Protocol {
                    peer: t.peer_name(),
                    phase: crate::Phase::Resolve,
                    cause: "the probe task did not finish (panicked or cancelled)".into(),
                }),
            },
        })
        .collect();
    let summary = summarize(&items, started.elapsed());
    SweepReport { items, summary }
}

impl fmt::Display for SweepReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.summary;
        writeln!(
            f,
            "sweep of {} peers: {} all good, in {} µs (median probe {} µs)",
            s.peers,
            s.all_good,
            s.elapsed_us,
            s.median_total_us
                .map_or_else(|| "-".into(), |v| v.to_string())
        )?;
        for (verdict, n) in &s.by_verdict {
            writeln!(f, "  {verdict}: {n}")?;
        }
        for item in &self.items {
            match (&item.report, &item.error) {
                (Some(r), _) => writeln!(
                    f,
                    "  {}: {} ({} µs)",
                    item.target, r.verdict, r.timings.total_us
                )?,
                (None, Some(e)) => writeln!(f, "  {}: NOT PROBED: {e}", item.target)?,
                (None, None) => writeln!(f, "  {}: no result", item.target)?,
            }
        }
        Ok(())
    }
}
