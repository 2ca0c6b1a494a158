//! Time to first sync and offset error: annexr-sntp against chrony's one-shot
//! client (`chronyd -Q 'server 127.0.0.1 port N iburst'`, which measures
//! without setting the clock), on the same lab chronyd (served +37 s through
//! libfaketime) in the same run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use annexr_lab::{Chronyd, or_skip};
use annexr_sntp::{SamplingConfig, SystemClock, blocking::SntpClient};
use criterion::{Criterion, criterion_group, criterion_main};

/// Runs `chronyd -Q` once: (wall time, measured offset in seconds).
fn chronyd_q(port: u16) -> Option<(Duration, f64)> {
    let t = Instant::now();
    let out = Command::new("chronyd")
        .arg("-Q")
        .arg(format!("server 127.0.0.1 port {port} iburst"))
        .output()
        .ok()?;
    let elapsed = t.elapsed();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // "System clock wrong by 37.000014 seconds (ignored)"; chrony reports how
    // wrong the local clock is, i.e. the offset to add.
    let offset = text.lines().find_map(|l| {
        let rest = l.split("System clock wrong by ").nth(1)?;
        rest.split_whitespace().next()?.parse::<f64>().ok()
    })?;
    Some((elapsed, offset))
}

fn median<T: Copy + PartialOrd>(mut v: Vec<T>) -> T {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn bench(c: &mut Criterion) {
    let Some(ntp) = or_skip(Chronyd::builder().offset_secs(37).start()) else {
        return;
    };
    let truth = ntp.offset_secs() as f64;
    let client = SntpClient::new(vec![ntp.addr()], SamplingConfig::default()).unwrap();
    let clock = Arc::new(SystemClock);

    let mut g = c.benchmark_group("sntp_sync");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    g.bench_function("annexr_first_sync_4_samples", |b| {
        b.iter(|| client.measure(clock.clone()).unwrap())
    });
    g.finish();

    const OURS: usize = 30;
    const THEIRS: usize = 5;
    let ours: Vec<(Duration, f64)> = (0..OURS)
        .map(|_| {
            let t = Instant::now();
            let m = client.measure(clock.clone()).unwrap();
            (t.elapsed(), (m.offset.as_secs_f64() - truth).abs())
        })
        .collect();
    let theirs: Vec<(Duration, f64)> = (0..THEIRS)
        .filter_map(|_| chronyd_q(ntp.addr().port()))
        .map(|(d, off)| (d, (off - truth).abs()))
        .collect();
    println!("\nfirst sync against chronyd {} serving +37 s:", ntp.addr());
    println!(
        "  annexr-sntp (4 samples/server): median time {:?}, median |offset error| {:.1} µs (n={OURS})",
        median(ours.iter().map(|x| x.0).collect()),
        median(ours.iter().map(|x| x.1).collect()) * 1e6
    );
    if theirs.is_empty() {
        println!("  chronyd -Q: no result (is chrony installed?)");
        return;
    }
    println!(
        "  chronyd -Q iburst:              median time {:?}, median |offset error| {:.1} µs (n={})",
        median(theirs.iter().map(|x| x.0).collect()),
        median(theirs.iter().map(|x| x.1).collect()) * 1e6,
        theirs.len()
    );
    println!(
        "  ratio of times (chronyd -Q / annexr): {:.0}x",
        median(theirs.iter().map(|x| x.0).collect()).as_secs_f64()
            / median(ours.iter().map(|x| x.0).collect()).as_secs_f64()
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
