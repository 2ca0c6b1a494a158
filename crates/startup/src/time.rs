//! R.4 step 2 / R.6: time synchronization, started early and run alongside
//! the rest of the sequence. At startup the clock may be stepped once
//! (before the device is in medical use); afterwards the ongoing loop of
//! `annexr-sntp` slews within the R.6 bounds.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use annexr_sntp::{
    AccuracyClass, Clock, Measurement, SamplingConfig, SntpClient, SyncConfig, SyncHandle,
    SystemClock,
};
use serde_json::json;

use crate::config::{StartupConfig, TimeSettings, millis};
use crate::network::NetworkParams;
use crate::recorder::{Finished, Recorder};
use crate::report::{Outcome, Source, Step};

/// Offsets up to this are left to the ongoing loop to slew; larger ones
/// are stepped at startup (systemd-timesyncd steps above 0.4 s).
const STARTUP_STEP_THRESHOLD: Duration = Duration::from_millis(400);

/// The NTP servers to use: the network's (DHCP option 42 or static), then
/// the configured extras.
pub(crate) fn servers(config: &StartupConfig, network: &NetworkParams) -> Vec<String> {
    let mut servers = network.ntp_servers.clone();
    for extra in &config.time.servers {
        if !servers.contains(extra) {
            servers.push(extra.clone());
        }
    }
    servers
}

/// Resolves `host[:port]` strings (port 123 by default).
async fn resolve(servers: &[String]) -> (Vec<SocketAddr>, Vec<String>) {
    let mut addrs = Vec::new();
    let mut failed = Vec::new();
    for server in servers {
        let with_port = if server.parse::<SocketAddr>().is_ok()
            || server
                .rsplit_once(':')
                .is_some_and(|(h, _)| !h.contains(':'))
        {
            server.clone()
        } else {
            format!("{server}:123")
        };
        match tokio::net::lookup_host(with_port.as_str()).await {
            Ok(found) => addrs.extend(found.take(1)),
            Err(e) => failed.push(format!("{server}: {e}")),
        }
    }
    (addrs, failed)
}

/// Measures the clock against `servers` without changing it.
pub(crate) async fn measure(
    servers: &[String],
    samples: u32,
    timeout_ms: u64,
) -> Result<Measurement, crate::Error> {
    let (addrs, failed) = resolve(servers).await;
    if addrs.is_empty() {
        return Err(if failed.is_empty() {
            annexr_sntp::Error::NoServers.into()
        } else {
            crate::Error::NtpServers(failed.join("; "))
        });
    }
    let sampling = SamplingConfig {
        samples: usize::try_from(samples.max(1)).unwrap_or(4),
        timeout: millis(timeout_ms),
        ..SamplingConfig::default()
    };
    let client = SntpClient::new(addrs, sampling)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    Ok(client.measure(clock).await?)
}

fn micros(d: jiff::SignedDuration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// The startup measurement, the one allowed step, and the ongoing loop.
pub(crate) async fn synchronize(
    settings: &TimeSettings,
    servers: &[String],
    recorder: &Recorder,
) -> Option<SyncHandle> {
    let running = recorder.begin(Step::Time);
    let measured = measure(servers, settings.samples, settings.timeout_ms).await;
    let measurement = match measured {
        Ok(m) => m,
        Err(why) => {
            recorder.finish(
                running,
                Finished::new(
                    Outcome::Fallback,
                    format!("{why}; the device's own clock is used"),
                )
                .value("clock", "local (battery) clock", Source::LocalClock),
            );
            recorder.warn(
                Step::Time,
                format!("the clock is not synchronized: {why}"),
                "check that the NTP servers (DHCP option 42) answer on UDP port 123; until then time stamps may be wrong",
            );
            return None;
        }
    };
    let offset_us = micros(measurement.offset);
    let mut finished = Finished::new(
        Outcome::Done,
        format!(
            "offset {:+.3} ms, delay {:.3} ms, supports {}",
            offset_us as f64 / 1000.0,
            measurement.delay.as_secs_f64() * 1000.0,
            measurement.supported_class
        ),
    )
    .round_trips(settings.samples);
    for server in &measurement.servers {
        let said = match (&server.best, &server.discarded) {
            (_, Some(why)) => format!("{}: discarded ({why})", server.server),
            (Some(best), None) => format!(
                "{}: offset {:+.3} ms, delay {:.3} ms, stratum {}",
                server.server,
                micros(best.offset) as f64 / 1000.0,
                best.delay.as_secs_f64() * 1000.0,
                best.stratum
            ),
            (None, None) => format!("{}: no valid reply", server.server),
        };
        finished = finished.value("ntp-server", said, Source::Ntp);
    }
    let large = measurement.offset.unsigned_abs() > STARTUP_STEP_THRESHOLD;
    if large && settings.set_clock {
        // The one startup step of R.6.3.1 (battery clock minutes to days off).
        match SystemClock.step(measurement.offset) {
            Ok(()) => recorder.clock_stepped(offset_us),
            Err(e) => {
                finished.outcome = Outcome::Failed;
                recorder.warn(
                    Step::Time,
                    format!(
                        "the clock could not be stepped by {:+.3} s: {e}",
                        offset_us as f64 / 1e6
                    ),
                    "run the device with the privilege to set the clock (CAP_SYS_TIME)",
                );
            }
        }
    } else if measurement.clock_class == AccuracyClass::Insufficient {
        recorder.warn(
            Step::Time,
            format!(
                "the clock is off by {:+.3} s and [time] set_clock is off, so it was not corrected",
                offset_us as f64 / 1e6
            ),
            "enable [time] set_clock, or correct the device clock (check it is set to UTC, not local time)",
        );
    }
    recorder.finish(
        running,
        finished.value("offset-us", offset_us.to_string(), Source::Ntp),
    );
    if !settings.set_clock {
        return None;
    }
    // R.1.2.2 step 2: the process continues for the duration of device activity.
    let config = SyncConfig {
        servers: measurement.used.clone(),
        sampling: SamplingConfig {
            samples: usize::try_from(settings.samples.max(1)).unwrap_or(4),
            timeout: millis(settings.timeout_ms),
            ..SamplingConfig::default()
        },
        discipline: Default::default(),
        poll: Default::default(),
    };
    match annexr_sntp::spawn_sync(config, Arc::new(SystemClock)) {
        Ok((handle, mut events)) => {
            tokio::spawn(async move {
                while let Some(event) = events.recv().await {
                    tracing::info!(?event, "time synchronization");
                }
            });
            Some(handle)
        }
        Err(e) => {
            recorder.warn(
                Step::Time,
                format!("the ongoing time synchronization did not start: {e}"),
                "restart the device; the startup measurement was done",
            );
            None
        }
    }
}

/// What `annexr time` shows: the measurement as text and JSON.
#[derive(Debug, Clone)]
pub struct TimeMeasurement {
    /// True when the clock is within the ordinary class of R.6 (500 ms).
    pub synchronized: bool,
    /// Human-readable lines.
    pub text: String,
    /// The same as JSON.
    pub json: serde_json::Value,
}

/// Measures the local clock against `servers` (`host[:port]`), never
/// setting it: offset, delay, stratum per server and the R.6 class.
pub async fn measure_time(
    servers: &[String],
    samples: u32,
    timeout_ms: u64,
) -> Result<TimeMeasurement, crate::Error> {
    let m = measure(servers, samples, timeout_ms).await?;
    let mut text = format!(
        "offset {:+.3} ms, delay {:.3} ms, error bound {:.3} ms\nclock now: {}; after correction: {}\n",
        micros(m.offset) as f64 / 1000.0,
        m.delay.as_secs_f64() * 1000.0,
        m.sync_distance.as_secs_f64() * 1000.0,
        m.clock_class,
        m.supported_class
    );
    let mut servers_json = Vec::new();
    for s in &m.servers {
        match (&s.best, &s.discarded) {
            (Some(best), None) => {
                text.push_str(&format!(
                    "  {}: offset {:+.3} ms, delay {:.3} ms, stratum {}, leap {}, ref {}, precision 2^{}, root distance {:.3} ms\n",
                    s.server,
                    micros(best.offset) as f64 / 1000.0,
                    best.delay.as_secs_f64() * 1000.0,
                    best.stratum,
                    best.leap,
                    String::from_utf8_lossy(&best.reference_id).trim_end_matches('\0'),
                    best.precision,
                    best.root_distance().as_secs_f64() * 1000.0,
                ));
                servers_json.push(json!({
                    "server": s.server.to_string(),
                    "offset_us": micros(best.offset),
                    "delay_us": best.delay.as_micros(),
                    "stratum": best.stratum,
                    "leap": best.leap,
                    "precision": best.precision,
                    "root_distance_us": best.root_distance().as_micros(),
                    "valid_samples": s.valid_samples,
                }));
            }
            (_, discarded) => {
                let why = discarded
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_else(|| "no valid reply".into());
                text.push_str(&format!("  {}: discarded ({why})\n", s.server));
                servers_json.push(json!({ "server": s.server.to_string(), "discarded": why }));
            }
        }
    }
    Ok(TimeMeasurement {
        synchronized: m.clock_class != AccuracyClass::Insufficient,
        json: json!({
            "offset_us": micros(m.offset),
            "delay_us": m.delay.as_micros(),
            "sync_distance_us": m.sync_distance.as_micros(),
            "clock_class": m.clock_class.to_string(),
            "supported_class": m.supported_class.to_string(),
            "servers": servers_json,
        }),
        text,
    })
}
