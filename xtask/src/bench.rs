//! `cargo xtask bench`: every bench, the release artifacts' sizes and one
//! startup's peak memory, in one summary (target/bench-summary.json) and one
//! table, each figure against its goal from issue 17.
//!
//! The lab benches write their key figures as JSON lines to the file named
//! by `ANNEXR_BENCH_OUT` (benches/support/summary.rs) beside their human
//! tables; nothing is scraped from the tables.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{cargo, ensure_packages, run, workspace_root};

/// The link delay (round trip, ms) the startup bench runs under for the
/// round-trip keys.
const LINK_DELAY_MS: u32 = 20;

/// Benches that are run a second time behind the lab's delay relays.
const DELAYED_BENCHES: &[&str] = &["startup"];

/// The goals a figure is held to.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Bound {
    /// The figure must not exceed this.
    AtMost(f64),
    /// The figure must reach at least this.
    AtLeast(f64),
}

impl Bound {
    /// By how much `value` misses the goal (in the figure's unit), or
    /// `None` when it meets it.
    fn missed_by(self, value: f64) -> Option<f64> {
        match self {
            Bound::AtMost(limit) if value > limit => Some(value - limit),
            Bound::AtLeast(limit) if value < limit => Some(limit - value),
            _ => None,
        }
    }

    fn describe(self) -> String {
        match self {
            Bound::AtMost(limit) => format!("<= {}", number(limit)),
            Bound::AtLeast(limit) => format!(">= {}", number(limit)),
        }
    }
}

/// One figure of the summary: its key, unit and goal.
struct Goal {
    key: &'static str,
    unit: &'static str,
    bound: Bound,
    /// Where the goal comes from.
    source: &'static str,
}

/// The summary's figures, in the order the table prints them. The first
/// ten are the keys issue 17 asks for; the others complete the picture.
const GOALS: &[Goal] = &[
    Goal {
        key: "startup_whole_ms_loopback",
        unit: "ms",
        bound: Bound::AtMost(5.0),
        source: "issue 17 point 2",
    },
    Goal {
        key: "startup_ratio_vs_stock_without_chronyd",
        unit: "x",
        bound: Bound::AtLeast(20.0),
        source: "issue 17 point 2",
    },
    Goal {
        key: "startup_round_trips_20ms_first_boot",
        unit: "round trips",
        bound: Bound::AtMost(5.0),
        source: "issue 17 point 2",
    },
    Goal {
        key: "startup_round_trips_20ms_remembered",
        unit: "round trips",
        bound: Bound::AtMost(3.0),
        source: "issue 17 point 2",
    },
    Goal {
        key: "first_sync_ms_loopback",
        unit: "ms",
        bound: Bound::AtMost(5.0),
        source: "issue 17 point 3",
    },
    Goal {
        key: "large_device_round_trips_sizelimit_500",
        unit: "round trips",
        bound: Bound::AtMost(4.0),
        source: "annexr-ldap tests/limits.rs bound (issue 17 point 6: reported)",
    },
    Goal {
        key: "cli_release_bytes",
        unit: "bytes",
        bound: Bound::AtMost(6_000_000.0),
        source: "issue 17 point 4 (6 MB)",
    },
    Goal {
        key: "startup_example_release_bytes",
        unit: "bytes",
        bound: Bound::AtMost(6_000_000.0),
        source: "issue 17 point 4 (6 MB)",
    },
    Goal {
        key: "startup_peak_rss_kb",
        unit: "kB",
        bound: Bound::AtMost(12_000.0),
        source: "issue 17 point 4 (12 MB)",
    },
    Goal {
        key: "echo_sweep_100_over_single",
        unit: "x",
        bound: Bound::AtMost(10.0),
        source: "issue 17 point 5",
    },
    Goal {
        key: "large_device_round_trips_sizelimit_none",
        unit: "round trips",
        bound: Bound::AtMost(3.0),
        source: "annexr-ldap tests/limits.rs bound",
    },
    Goal {
        key: "large_device_round_trips_sizelimit_50",
        unit: "round trips",
        bound: Bound::AtMost(6.0),
        source: "annexr-ldap tests/limits.rs bound",
    },
    Goal {
        key: "cli_release_bytes_no_default_features",
        unit: "bytes",
        bound: Bound::AtMost(6_000_000.0),
        source: "issue 17 point 4 (6 MB)",
    },
];

/// A measured figure.
#[derive(Debug, Clone, PartialEq)]
struct Measured {
    value: f64,
    unit: String,
}

const BENCH_USAGE: &str = "usage: cargo xtask bench [BENCH...]
  builds the release artifacts (their sizes, one startup's peak RSS), runs
  every bench in benches/ (or only the BENCHes named), the startup bench also
  behind a 20 ms link, and writes target/bench-summary.json";

/// `cargo xtask bench [BENCH...]`.
pub(crate) fn bench(args: &[String]) -> Result<(), String> {
    if args.iter().any(|a| a.starts_with('-')) {
        return Err(BENCH_USAGE.into());
    }
    ensure_packages()?;
    let all = bench_names(&workspace_root().join("benches"))?;
    for name in args {
        if !all.contains(name) {
            return Err(format!("no bench {name:?}; the benches: {}", all.join(" ")));
        }
    }
    let selected: Vec<String> = if args.is_empty() { all } else { args.to_vec() };

    let mut measured: BTreeMap<String, Measured> = BTreeMap::new();
    for (key, bytes) in release_sizes()? {
        measured.insert(
            key.into(),
            Measured {
                value: bytes as f64,
                unit: "bytes".into(),
            },
        );
    }
    let rss = startup_peak_rss_kb()?;
    eprintln!("xtask: startup_peak_rss_kb = {rss}");
    measured.insert(
        "startup_peak_rss_kb".into(),
        Measured {
            value: rss as f64,
            unit: "kB".into(),
        },
    );

    let out = target_dir().join("bench-results.jsonl");
    let _ = std::fs::remove_file(&out);
    run(cargo().args(["bench", "-p", "annexr-examples", "--benches", "--no-run"]))?;
    // A failing bench does not stop the others: the summary says which
    // keys it left unmeasured, and the run fails at the end.
    let mut failed = Vec::new();
    for name in &selected {
        if let Err(e) = run(&mut bench_command(name, &out)) {
            failed.push(e);
        }
        if DELAYED_BENCHES.contains(&name.as_str()) {
            let delayed =
                run(bench_command(name, &out)
                    .env("ANNEXR_BENCH_DELAY_MS", LINK_DELAY_MS.to_string()));
            if let Err(e) = delayed {
                failed.push(e);
            }
        }
    }
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    measured.extend(parse_results(&text)?);

    let summary = summary_json(&measured);
    let path = target_dir().join("bench-summary.json");
    let pretty = serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())?;
    std::fs::write(&path, pretty + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
    println!();
    for line in table(&measured) {
        println!("{line}");
    }
    println!("xtask: written to {}", path.display());
    let missing: Vec<&str> = GOALS
        .iter()
        .filter(|g| !measured.contains_key(g.key))
        .map(|g| g.key)
        .collect();
    if !missing.is_empty() {
        failed.push(format!("not measured: {}", missing.join(", ")));
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("\n"))
    }
}

/// The target directory cargo builds into.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// The bench targets of the root package: benches/*.rs, sorted.
fn bench_names(dir: &Path) -> Result<Vec<String>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    names.sort();
    Ok(names)
}

fn bench_command(name: &str, out: &Path) -> Command {
    let mut cmd = cargo();
    cmd.args(["bench", "-p", "annexr-examples", "--bench", name])
        .env("ANNEXR_LAB", "require")
        .env("ANNEXR_BENCH_OUT", out);
    cmd
}

/// The profile the shipped artifacts are measured in: `firmware` (root
/// Cargo.toml), the release profile with `panic = "abort"` and
/// `opt-level = "z"`. `release` itself keeps unwinding for the C ABI.
const SHIPPED_PROFILE: &str = "firmware";

/// Builds the shipped artifacts and returns their sizes: the `annexr` tool
/// without default features first (its size only), then the tool and the
/// startup example as shipped, which stay in target/firmware.
fn release_sizes() -> Result<Vec<(&'static str, u64)>, String> {
    let release = target_dir().join(SHIPPED_PROFILE);
    let size = |path: &Path| {
        std::fs::metadata(path)
            .map(|m| m.len())
            .map_err(|e| format!("{}: {e}", path.display()))
    };
    let cli = release.join("annexr");
    let build = |args: &[&str]| {
        run(cargo()
            .args(["build", "--profile", SHIPPED_PROFILE])
            .args(args))
    };
    build(&["-p", "annexr-cli", "--no-default-features"])?;
    let lean = size(&cli)?;
    build(&["-p", "annexr-cli"])?;
    let full = size(&cli)?;
    build(&["-p", "annexr-examples", "--example", "startup"])?;
    let example = size(&release.join("examples/startup"))?;
    Ok(vec![
        ("cli_release_bytes_no_default_features", lean),
        ("cli_release_bytes", full),
        ("startup_example_release_bytes", example),
    ])
}

/// Runs the release startup example once against the lab's sample site
/// under `/usr/bin/time -v` and returns its peak resident set size.
fn startup_peak_rss_kb() -> Result<u64, String> {
    let site = annexr_lab::SampleSite::start(0).map_err(|e| e.to_string())?;
    let example = target_dir().join(SHIPPED_PROFILE).join("examples/startup");
    let mut cmd = Command::new("/usr/bin/time");
    cmd.arg("-v")
        .arg(&example)
        .args(["--dns", &site.dns_addr().to_string()])
        .args(["--domain", annexr_lab::SITE_DOMAIN])
        .args(["--ntp", &site.ntp.addr().to_string()])
        .args(["--device", "CT-SCANNER-1"])
        .args(["--bind-dn", &site.slapd.device_dn()])
        .args(["--password", site.slapd.device_password()]);
    if let Some(ca) = site.slapd.ca_cert_path() {
        cmd.arg("--ca-file").arg(ca);
    }
    // Not echoed with its arguments: they hold the device's password.
    eprintln!(
        "xtask: /usr/bin/time -v {} (sample site)",
        example.display()
    );
    let out = cmd
        .output()
        .map_err(|e| format!("/usr/bin/time (apt-get install time): {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!(
            "the startup example did not end configured ({}):\n{}{stderr}",
            out.status,
            String::from_utf8_lossy(&out.stdout)
        ));
    }
    max_rss_kb(&stderr).ok_or_else(|| format!("no maximum resident set size in:\n{stderr}"))
}

/// "Maximum resident set size (kbytes): N" of GNU time's verbose output.
fn max_rss_kb(time_output: &str) -> Option<u64> {
    time_output.lines().find_map(|l| {
        l.trim()
            .strip_prefix("Maximum resident set size (kbytes):")?
            .trim()
            .parse()
            .ok()
    })
}

/// The benches' JSON lines: `{"key": ..., "value": ..., "unit": ...}`. A
/// key written twice keeps its last value.
fn parse_results(text: &str) -> Result<BTreeMap<String, Measured>, String> {
    let mut results = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("bench result {line:?}: {e}"))?;
        let (Some(key), Some(value), Some(unit)) =
            (v["key"].as_str(), v["value"].as_f64(), v["unit"].as_str())
        else {
            return Err(format!("bench result without key, value and unit: {line}"));
        };
        results.insert(
            key.to_string(),
            Measured {
                value,
                unit: unit.to_string(),
            },
        );
    }
    Ok(results)
}

/// The summary document: every goal's key with its value, unit, goal, met
/// and (when not met) by how much it misses; then figures without a goal.
fn summary_json(measured: &BTreeMap<String, Measured>) -> serde_json::Value {
    let mut doc = serde_json::Map::new();
    for goal in GOALS {
        let m = measured.get(goal.key);
        let missed = m.and_then(|m| goal.bound.missed_by(m.value));
        let mut entry = serde_json::json!({
            "value": m.map(|m| m.value),
            "unit": goal.unit,
            "goal": goal.bound.describe(),
            "goal_source": goal.source,
            "met": m.is_some() && missed.is_none(),
        });
        if let Some(by) = missed {
            entry["misses_by"] = by.into();
        }
        if m.is_none() {
            entry["misses_by"] = "not measured".into();
        }
        doc.insert(goal.key.into(), entry);
    }
    for (key, m) in measured {
        if !GOALS.iter().any(|g| g.key == key) {
            doc.insert(
                key.clone(),
                serde_json::json!({ "value": m.value, "unit": m.unit }),
            );
        }
    }
    serde_json::Value::Object(doc)
}

/// A figure as the table shows it: integers without decimals, others with
/// two.
fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.2}")
    }
}

/// The summary as one aligned table.
fn table(measured: &BTreeMap<String, Measured>) -> Vec<String> {
    let mut rows: Vec<[String; 5]> = vec![[
        "key".into(),
        "value".into(),
        "goal".into(),
        "met".into(),
        "misses by".into(),
    ]];
    for goal in GOALS {
        let m = measured.get(goal.key);
        let missed = m.and_then(|m| goal.bound.missed_by(m.value));
        rows.push([
            goal.key.into(),
            m.map_or("-".into(), |m| format!("{} {}", number(m.value), goal.unit)),
            format!("{} {}", goal.bound.describe(), goal.unit),
            if m.is_some() && missed.is_none() {
                "yes"
            } else {
                "no"
            }
            .into(),
            match (m, missed) {
                (None, _) => "not measured".into(),
                (Some(_), Some(by)) => format!("{} {}", number(by), goal.unit),
                (Some(_), None) => String::new(),
            },
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|r| {
            format!(
                "{:<w0$}  {:>w1$}  {:<w2$}  {:<w3$}  {}",
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3],
            )
            .trim_end()
            .to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_goal_says_by_how_much_it_is_missed() {
        assert_eq!(Bound::AtMost(5.0).missed_by(9.5), Some(4.5));
        assert_eq!(Bound::AtMost(5.0).missed_by(5.0), None);
        assert_eq!(Bound::AtLeast(20.0).missed_by(8.0), Some(12.0));
        assert_eq!(Bound::AtLeast(20.0).missed_by(21.0), None);
    }

    #[test]
    fn bench_results_are_read_from_json_lines_and_bad_lines_are_errors() {
        let text = "{\"key\":\"a\",\"value\":1.5,\"unit\":\"ms\"}\n\n{\"key\":\"a\",\"value\":2,\"unit\":\"ms\"}\n";
        let r = parse_results(text).unwrap();
        assert_eq!(
            r["a"],
            Measured {
                value: 2.0,
                unit: "ms".into()
            }
        );
        assert!(parse_results("not json").is_err());
        assert!(parse_results("{\"key\":\"a\"}").is_err());
    }

    #[test]
    fn the_summary_has_every_goal_key_and_marks_misses_and_gaps() {
        let mut m = BTreeMap::new();
        m.insert(
            "startup_whole_ms_loopback".to_string(),
            Measured {
                value: 9.0,
                unit: "ms".into(),
            },
        );
        m.insert(
            "echo_sweep_100_over_single".to_string(),
            Measured {
                value: 4.0,
                unit: "x".into(),
            },
        );
        m.insert(
            "extra".to_string(),
            Measured {
                value: 1.0,
                unit: "ms".into(),
            },
        );
        let doc = summary_json(&m);
        for goal in GOALS {
            assert!(doc.get(goal.key).is_some(), "{}", goal.key);
        }
        let whole = &doc["startup_whole_ms_loopback"];
        assert_eq!(whole["met"], false);
        assert_eq!(whole["misses_by"], 4.0);
        assert_eq!(whole["goal"], "<= 5");
        assert_eq!(doc["echo_sweep_100_over_single"]["met"], true);
        assert!(doc["echo_sweep_100_over_single"].get("misses_by").is_none());
        assert_eq!(doc["cli_release_bytes"]["met"], false);
        assert_eq!(doc["cli_release_bytes"]["misses_by"], "not measured");
        assert_eq!(doc["extra"]["value"], 1.0);
    }

    #[test]
    fn the_table_is_aligned() {
        let mut m = BTreeMap::new();
        m.insert(
            "cli_release_bytes".to_string(),
            Measured {
                value: 7_000_000.0,
                unit: "bytes".into(),
            },
        );
        let lines = table(&m);
        assert_eq!(lines.len(), GOALS.len() + 1);
        let goal_column = lines[0].find("goal").unwrap();
        for line in &lines[1..] {
            assert!(
                line[goal_column..].starts_with("<=") || line[goal_column..].starts_with(">="),
                "{line}"
            );
        }
        let cli = lines
            .iter()
            .find(|l| l.starts_with("cli_release_bytes "))
            .unwrap();
        assert!(cli.contains("7000000 bytes"), "{cli}");
        assert!(cli.ends_with("1000000 bytes"), "{cli}");
    }

    #[test]
    fn peak_rss_is_read_from_gnu_time() {
        let out =
            "\tCommand being timed: \"startup\"\n\tMaximum resident set size (kbytes): 8123\n";
        assert_eq!(max_rss_kb(out), Some(8123));
        assert_eq!(max_rss_kb("nothing"), None);
    }

    #[test]
    fn every_bench_file_is_found() {
        let names = bench_names(&workspace_root().join("benches")).unwrap();
        assert!(names.iter().any(|n| n == "startup"), "{names:?}");
        assert!(DELAYED_BENCHES.iter().all(|d| names.iter().any(|n| n == d)));
    }
}
