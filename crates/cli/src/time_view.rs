//! `annexr time`: a clock measurement rendered as text and as JSON (the
//! library returns the measurement as data).

use annexr_sntp::jiff::SignedDuration;
use annexr_sntp::{AGREEMENT, AccuracyClass, LeapSecond, Measurement};
use serde_json::{Value, json};

fn micros(d: SignedDuration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

fn ms(d: SignedDuration) -> f64 {
    micros(d) as f64 / 1000.0
}

fn leap_name(leap: LeapSecond) -> &'static str {
    match leap {
        LeapSecond::Delete => "delete",
        _ => "insert",
    }
}

/// True when the clock is within the ordinary class of R.6 (500 ms).
pub(crate) fn synchronized(m: &Measurement) -> bool {
    m.clock_class != AccuracyClass::Insufficient
}

/// The measurement as human-readable lines.
pub(crate) fn text(m: &Measurement) -> String {
    let agreeing = m.agreeing_servers(AGREEMENT);
    let leap = m.leap();
    let mut text = format!(
        "offset {:+.3} ms, delay {:.3} ms, error bound {:.3} ms\nclock now: {}; after correction: {}\n{agreeing} server(s) agree within 1 s{}\n",
        ms(m.offset),
        m.delay.as_secs_f64() * 1000.0,
        m.sync_distance.as_secs_f64() * 1000.0,
        m.clock_class,
        m.supported_class,
        leap.map(|l| format!("; {l}")).unwrap_or_default()
    );
    for s in &m.servers {
        match (&s.best, &s.discarded) {
            (Some(best), None) => text.push_str(&format!(
                "  {}: offset {:+.3} ms, delay {:.3} ms, stratum {}, leap {}, ref {}, precision 2^{}, root distance {:.3} ms\n",
                s.server,
                ms(best.offset),
                best.delay.as_secs_f64() * 1000.0,
                best.stratum,
                best.leap,
                String::from_utf8_lossy(&best.reference_id).trim_end_matches('\0'),
                best.precision,
                best.root_distance().as_secs_f64() * 1000.0,
            )),
            (_, discarded) => {
                let why = discarded
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_else(|| "no valid reply".into());
                text.push_str(&format!("  {}: discarded ({why})\n", s.server));
            }
        }
    }
    text
}

/// The measurement as one JSON document.
pub(crate) fn json(m: &Measurement) -> Value {
    let servers: Vec<Value> = m
        .servers
        .iter()
        .map(|s| match (&s.best, &s.discarded) {
            (Some(best), None) => json!({
                "server": s.server.to_string(),
                "offset_us": micros(best.offset),
                "delay_us": best.delay.as_micros(),
                "stratum": best.stratum,
                "leap": best.leap,
                "precision": best.precision,
                "root_distance_us": best.root_distance().as_micros(),
                "valid_samples": s.valid_samples,
            }),
            (_, discarded) => {
                let why = discarded
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_else(|| "no valid reply".into());
                json!({ "server": s.server.to_string(), "discarded": why })
            }
        })
        .collect();
    json!({
        "offset_us": micros(m.offset),
        "delay_us": m.delay.as_micros(),
        "sync_distance_us": m.sync_distance.as_micros(),
        "clock_class": m.clock_class.to_string(),
        "supported_class": m.supported_class.to_string(),
        "agreeing_servers": m.agreeing_servers(AGREEMENT),
        "leap_second": m.leap().map(leap_name),
        "servers": servers,
    })
}
