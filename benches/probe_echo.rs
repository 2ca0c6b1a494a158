//! One C-ECHO, and a sweep of 100 C-ECHOs, against the same lab storescp
//! (DCMTK) in the same run: annexr-probe, DCMTK `echoscu`, and pynetdicom's
//! echo (when `python3 -c "import pynetdicom"` works).
//!
//! `echoscu` is timed as a vendor script uses it: one process per echo.
//! pynetdicom runs in one long-lived Python process that is asked over a pipe
//! to do N echoes, so Python's start-up is not counted. Our sweep is
//! concurrent (16 at a time); the stock tools echo one after the other, as a
//! script does. The lab storescp serves one association at a time, so a
//! sweep against one peer is bounded by the peer, whatever the client; the
//! sweep that scales is 100 probes over 16 distinct storescp peers (as a
//! device's peers are), timed against one echo: `echo_sweep_100_over_single`
//! for `cargo xtask bench` when `ANNEXR_BENCH_OUT` is set.
//!
//! Against DCMTK most of the difference is TCP, not code: DCMTK writes a PDU
//! header and body in two writes without TCP_NODELAY, so every response
//! waits for the client's delayed ACK (~40 ms). annexr acknowledges at once
//! (TCP_QUICKACK); the "no TCP_QUICKACK" row shows annexr without that.
//!
//! Medians and ratios are printed at the end ("vs annexr": how many times
//! slower than ours; for the sweep over 16 peers, how many single annexr
//! echoes it takes).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use annexr_lab::{Storescp, or_skip};
use annexr_probe::{ProbeOptions, SweepOptions, Target, Verdict};
use criterion::{Criterion, criterion_group, criterion_main};

#[path = "support/summary.rs"]
mod summary;

const SWEEP: usize = 100;
const SWEEP_RUNS: usize = 5;
/// Distinct peers of the sweep that scales.
const PEERS: usize = 16;

const PYNETDICOM_WORKER: &str = r#"
import sys
from pynetdicom import AE
from pynetdicom.sop_class import Verification
ae = AE(ae_title="PYNETDICOM")
ae.add_requested_context(Verification)
ae.acse_timeout = 10; ae.dimse_timeout = 10; ae.network_timeout = 10
port = int(sys.argv[1])
print("ready", flush=True)
for line in sys.stdin:
    ok = 0
    for _ in range(int(line)):
        assoc = ae.associate("127.0.0.1", port, ae_title="STORESCP")
        if assoc.is_established:
            status = assoc.send_c_echo()
            if status and status.Status == 0:
                ok += 1
            assoc.release()
    print(ok, flush=True)
"#;

struct Pynetdicom {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Pynetdicom {
    fn start(port: u16) -> Option<Self> {
        let mut child = Command::new("python3")
            .args(["-c", PYNETDICOM_WORKER, &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let stdin = child.stdin.take()?;
        let mut stdout = BufReader::new(child.stdout.take()?);
        let mut line = String::new();
        stdout.read_line(&mut line).ok()?;
        if line.trim() != "ready" {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        Some(Pynetdicom {
            child,
            stdin,
            stdout,
        })
    }

    fn echoes(&mut self, n: usize) -> Duration {
        let t = Instant::now();
        writeln!(self.stdin, "{n}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let d = t.elapsed();
        assert_eq!(line.trim(), n.to_string(), "pynetdicom echoes failed");
        d
    }
}

impl Drop for Pynetdicom {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn echoscu(port: u16) -> Duration {
    let t = Instant::now();
    let out = Command::new("echoscu")
        .args([
            "-aet",
            "ECHOSCU",
            "-aec",
            "STORESCP",
            "127.0.0.1",
            &port.to_string(),
        ])
        .output()
        .expect("echoscu (apt-get install dcmtk)");
    let d = t.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    d
}

fn median(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v[v.len() / 2]
}

fn bench(c: &mut Criterion) {
    let Some(scp) = or_skip(Storescp::builder().ae_title("STORESCP").start()) else {
        return;
    };
    let port = scp.addr().port();
    let target = Target::new("127.0.0.1", port, "STORESCP", "ANNEXR");
    let opts = ProbeOptions::default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut python = Pynetdicom::start(port);
    if python.is_none() {
        eprintln!("pynetdicom not available (pip install pynetdicom): its rows are skipped");
    }
    let samples: RefCell<BTreeMap<&'static str, Vec<Duration>>> = RefCell::default();
    let record = |name: &'static str, d: Duration| {
        samples.borrow_mut().entry(name).or_default().push(d);
        d
    };

    let mut g = c.benchmark_group("probe_echo/one");
    g.sample_size(20);
    g.bench_function("annexr", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let t = Instant::now();
                    let r = rt.block_on(annexr_probe::probe(&target, &opts)).unwrap();
                    let d = t.elapsed();
                    assert_eq!(r.verdict, Verdict::AllGood, "{r}");
                    record("one echo: annexr", d)
                })
                .sum()
        })
    });
    let slow_ack = opts.clone().quick_ack(false);
    g.bench_function("annexr_no_quickack", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let t = Instant::now();
                    let r = rt
                        .block_on(annexr_probe::probe(&target, &slow_ack))
                        .unwrap();
                    let d = t.elapsed();
                    assert_eq!(r.verdict, Verdict::AllGood, "{r}");
                    record("one echo: annexr (no TCP_QUICKACK)", d)
                })
                .sum()
        })
    });
    g.bench_function("echoscu", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| record("one echo: echoscu", echoscu(port)))
                .sum()
        })
    });
    if let Some(py) = python.as_mut() {
        g.bench_function("pynetdicom", |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| record("one echo: pynetdicom", py.echoes(1)))
                    .sum()
            })
        });
    }
    g.finish();

    // Sweeps take seconds each for the stock tools: a few timed runs, outside criterion.
    let targets = vec![target.clone(); SWEEP];
    let concurrent = SweepOptions {
        concurrency: 16,
        probe: opts.clone(),
    };
    let sequential = SweepOptions {
        concurrency: 1,
        probe: opts.clone(),
    };
    for _ in 0..SWEEP_RUNS {
        let t = Instant::now();
        let r = rt.block_on(annexr_probe::sweep(&targets, &concurrent));
        record("sweep 100: annexr (16 concurrent)", t.elapsed());
        assert_eq!(r.summary.all_good, SWEEP, "{r}");
        let t = Instant::now();
        let r = rt.block_on(annexr_probe::sweep(&targets, &sequential));
        record("sweep 100: annexr (sequential)", t.elapsed());
        assert_eq!(r.summary.all_good, SWEEP, "{r}");
        let t = Instant::now();
        for _ in 0..SWEEP {
            echoscu(port);
        }
        record("sweep 100: echoscu (sequential)", t.elapsed());
        if let Some(py) = python.as_mut() {
            record("sweep 100: pynetdicom (sequential)", py.echoes(SWEEP));
        }
    }

    // 100 probes over 16 distinct peers, 16 at a time.
    let peers: Vec<Storescp> = (0..PEERS)
        .map_while(|_| or_skip(Storescp::builder().ae_title("STORESCP").start()))
        .collect();
    if peers.len() == PEERS {
        let spread: Vec<Target> = (0..SWEEP)
            .map(|i| {
                let port = peers[i % PEERS].addr().port();
                Target::new("127.0.0.1", port, "STORESCP", "ANNEXR")
            })
            .collect();
        for _ in 0..SWEEP_RUNS {
            let t = Instant::now();
            let r = rt.block_on(annexr_probe::sweep(&spread, &concurrent));
            record("sweep 100 over 16 peers: annexr", t.elapsed());
            assert_eq!(r.summary.all_good, SWEEP, "{r}");
        }
    }

    let samples = samples.borrow();
    let base_one = median(&samples["one echo: annexr"]);
    if let Some(spread) = samples.get("sweep 100 over 16 peers: annexr") {
        summary::record(
            "echo_sweep_100_over_single",
            median(spread).as_secs_f64() / base_one.as_secs_f64(),
            "x",
        );
    }
    let base_sweep = median(&samples["sweep 100: annexr (16 concurrent)"]);
    println!("\nprobe_echo medians (same storescp unless said, same run):");
    println!(
        "{:<38} {:>8} {:>14} {:>10}",
        "", "samples", "median", "vs annexr"
    );
    for (name, v) in samples.iter() {
        let m = median(v);
        // The sweep over 16 peers is compared with one echo (the goal).
        let base = if name.starts_with("one") || name.contains("16 peers") {
            base_one
        } else {
            base_sweep
        };
        println!(
            "{name:<38} {:>8} {:>11.3} ms {:>9.1}x",
            v.len(),
            m.as_secs_f64() * 1e3,
            m.as_secs_f64() / base.as_secs_f64()
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
