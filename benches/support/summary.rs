//! Machine-readable bench results for `cargo xtask bench`.
//!
//! When `ANNEXR_BENCH_OUT` names a file, each result is appended to it as one
//! JSON line `{"key": ..., "value": ..., "unit": ...}` next to the bench's
//! human table; xtask collects the lines into target/bench-summary.json.
//! Without the variable nothing is written.

use std::io::Write;

/// Appends one result line to the `ANNEXR_BENCH_OUT` file, when it is set.
pub fn record(key: &str, value: f64, unit: &str) {
    let Some(path) = std::env::var_os("ANNEXR_BENCH_OUT") else {
        return;
    };
    let line = serde_json::json!({ "key": key, "value": value, "unit": unit });
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| writeln!(file, "{line}"));
    if let Err(e) = written {
        eprintln!(
            "bench result {key} not written to {}: {e}",
            path.to_string_lossy()
        );
    }
}
