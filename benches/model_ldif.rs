//! annexr-model: LDIF parse and write of a 1,500-entry tree, and mapping 10,000
//! entries to models (and back).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use annexr_model::{Configuration, Dn, LdapEntry, UniqueAeTitle, parse_entries, write_entries};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

/// A configuration tree of at least `n` entries (devices of 3 AEs, 2 connections,
/// 3 transfer capabilities per AE, and their registry entries), cut to `n`.
fn entries(n: usize) -> Vec<LdapEntry> {
    let mut cfg = Configuration::new(&Dn::parse("dc=example,dc=org").unwrap());
    let mut i = 0;
    while cfg.to_entries().len() < n {
        let d =
            annexr_model::sample_modality(&format!("device-{i}"), &format!("D{i}AE"), 3).unwrap();
        cfg.unique_ae_titles
            .extend(d.ae_titles().cloned().map(UniqueAeTitle::new));
        cfg.devices.push(d);
        i += 1;
    }
    let mut e = cfg.to_entries();
    e.truncate(n);
    e
}

fn ldif(c: &mut Criterion) {
    let e = entries(1_500);
    let text = write_entries(&e);
    let mut g = c.benchmark_group("model_ldif");
    g.throughput(Throughput::Elements(1_500));
    g.bench_function(BenchmarkId::new("parse", "1500 entries"), |b| {
        b.iter(|| parse_entries(black_box(&text)).unwrap())
    });
    g.bench_function(BenchmarkId::new("write", "1500 entries"), |b| {
        b.iter(|| write_entries(black_box(&e)))
    });
    g.bench_function(BenchmarkId::new("parse+write", "1500 entries"), |b| {
        b.iter(|| write_entries(&parse_entries(black_box(&text)).unwrap()))
    });
    g.finish();
}

fn mapping(c: &mut Criterion) {
    // Any prefix of the tree's entries maps: parents come before children.
    let e = entries(10_000);
    let cfg = Configuration::from_entries(&e).unwrap();
    let mut g = c.benchmark_group("model_mapping");
    g.throughput(Throughput::Elements(e.len() as u64));
    g.bench_function(BenchmarkId::new("entries_to_models", e.len()), |b| {
        b.iter(|| Configuration::from_entries(black_box(&e)).unwrap())
    });
    g.bench_function(BenchmarkId::new("models_to_entries", e.len()), |b| {
        b.iter(|| black_box(&cfg).to_entries())
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = ldif, mapping
}
criterion_main!(benches);
