//! R.4 step 2 / R.6: time synchronization, started early. It runs alongside
//! the rest of the sequence unless LDAP uses TLS: then LDAP waits for it, so
//! certificates are checked against the NTP-corrected time. At startup the
//! clock may be stepped once (before the device is in medical use) within
//! the step rules (a step beyond `[time] max_startup_step_ms` needs two
//! agreeing servers); afterwards the ongoing loop of `annexr-sntp` starts
//! past startup and slews within the R.6 bounds.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use annexr_sntp::{
    AGREEMENT, AccuracyClass, Clock, LeapSecond, Measurement, SamplingConfig, SntpClient,
    StartupStep, StartupStepRules, SyncConfig, SyncHandle, SystemClock,
};

use crate::config::{RequiredClass, StartupConfig, TimeSettings, millis};
use crate::network::NetworkParams;
use crate::recorder::{Finished, Recorder};
use crate::report::{Outcome, Source, StartupStepOutcome, Step, TimeClass, TimeReport};

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

/// What the time step leaves for the rest of the startup.
#[derive(Debug, Default)]
pub(crate) struct Synced {
    /// The ongoing loop, when it runs.
    pub handle: Option<SyncHandle>,
    /// The correction TLS should apply to the device clock (µs), when the
    /// clock itself was not corrected and the step rules accept the offset.
    pub tls_correction_us: Option<i64>,
}

fn class(c: AccuracyClass) -> TimeClass {
    match c {
        AccuracyClass::HighAccuracy => TimeClass::High,
        AccuracyClass::Ordinary => TimeClass::Ordinary,
        AccuracyClass::Insufficient => TimeClass::Insufficient,
    }
}

fn required(c: RequiredClass) -> TimeClass {
    match c {
        RequiredClass::High => TimeClass::High,
        RequiredClass::Ordinary => TimeClass::Ordinary,
    }
}

fn leap_name(leap: LeapSecond) -> &'static str {
    match leap {
        LeapSecond::Delete => "delete",
        _ => "insert",
    }
}

/// The startup measurement, the one allowed step (R.6.3.1, within the step
/// rules), and the ongoing loop.
pub(crate) async fn synchronize(
    settings: &TimeSettings,
    servers: &[String],
    recorder: &Recorder,
) -> Synced {
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
            return Synced::default();
        }
    };
    let offset_us = micros(measurement.offset);
    let offset_s = offset_us as f64 / 1e6;
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
    let rules = StartupStepRules {
        step_threshold: STARTUP_STEP_THRESHOLD,
        max_unconfirmed_step: millis(settings.max_startup_step_ms),
        min_agreeing: 2,
        trust_single_server: settings.trust_single_server,
    };
    let verdict = rules.judge(&measurement);
    let agreeing_servers = measurement.agreeing_servers(AGREEMENT);
    let step = match verdict {
        StartupStep::NotNeeded => StartupStepOutcome::NotNeeded,
        StartupStep::Refused { agreeing, limit } => {
            recorder.warn(
                Step::Time,
                format!(
                    "the clock is off by {offset_s:+.3} s, but only {agreeing} NTP server(s) agree within 1 s; a step beyond {:.3} s needs two, so neither the clock nor the time TLS checks certificates against was corrected",
                    limit.as_secs_f64()
                ),
                "give a second NTP server (DHCP option 42 or [time] servers), or set [time] trust_single_server = true if this one server is trusted",
            );
            StartupStepOutcome::Refused
        }
        _ if !settings.set_clock => StartupStepOutcome::NotApplied,
        // The one startup step of R.6.3.1 (battery clock minutes to days off).
        _ => match SystemClock.step(measurement.offset) {
            Ok(()) => {
                recorder.clock_stepped(offset_us);
                StartupStepOutcome::Applied
            }
            Err(e) => {
                finished.outcome = Outcome::Failed;
                recorder.warn(
                    Step::Time,
                    format!("the clock could not be stepped by {offset_s:+.3} s: {e}"),
                    "run the device with the privilege to set the clock (CAP_SYS_TIME)",
                );
                StartupStepOutcome::Failed
            }
        },
    };
    if verdict == StartupStep::TrustedSingleServer {
        recorder.warn(
            Step::Time,
            format!(
                "the clock offset of {offset_s:+.3} s rests on a single NTP server ([time] trust_single_server): that server could set any time"
            ),
            "give a second NTP server (DHCP option 42 or [time] servers) and remove trust_single_server",
        );
    }
    let clock_corrected = step == StartupStepOutcome::Applied
        || (step == StartupStepOutcome::NotNeeded && settings.set_clock);
    let time_class = class(if clock_corrected {
        measurement.supported_class
    } else {
        measurement.clock_class
    });
    if step == StartupStepOutcome::NotApplied && time_class == TimeClass::Insufficient {
        recorder.warn(
            Step::Time,
            format!(
                "the clock is off by {offset_s:+.3} s and [time] set_clock is off, so it was not corrected"
            ),
            "enable [time] set_clock, or correct the device clock (check it is set to UTC, not local time)",
        );
    }
    let required_class = settings.required_class.map(required);
    if let Some(need) = required_class
        && time_class > need
    {
        recorder.warn(
            Step::Time,
            format!(
                "the device's time reaches the {time_class:?} class of R.6, but [time] required_class is {need:?}"
            ),
            if clock_corrected {
                "use NTP servers closer to the device (lower delay and root distance)"
            } else {
                "let the device correct its clock ([time] set_clock, with two agreeing NTP servers), or correct it by hand"
            },
        );
    }
    let leap = measurement.leap();
    if let Some(leap) = leap {
        finished = finished.value("leap-second", leap.to_string(), Source::Ntp);
    }
    recorder.set_time(TimeReport {
        clock_offset_us: offset_us,
        clock_was_off: measurement.offset.unsigned_abs() > annexr_sntp::ORDINARY,
        time_class,
        required_class,
        startup_step: step,
        agreeing_servers,
        leap_second: leap.map(leap_name),
        tls_time_corrected: false,
    });
    recorder.finish(
        running,
        finished.value("offset-us", offset_us.to_string(), Source::Ntp),
    );
    let tls_correction_us =
        (verdict.allowed() && step != StartupStepOutcome::Applied).then_some(offset_us);
    if !settings.set_clock {
        return Synced {
            handle: None,
            tls_correction_us,
        };
    }
    // R.1.2.2 step 2: the process continues for the duration of device
    // activity, past startup: no second unbounded step.
    let config = SyncConfig {
        servers: measurement.used.clone(),
        sampling: SamplingConfig {
            samples: usize::try_from(settings.samples.max(1)).unwrap_or(4),
            timeout: millis(settings.timeout_ms),
            ..SamplingConfig::default()
        },
        discipline: Default::default(),
        poll: Default::default(),
        startup_done: true,
    };
    let handle = match annexr_sntp::spawn_sync(config, Arc::new(SystemClock)) {
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
    };
    Synced {
        handle,
        tls_correction_us,
    }
}

/// Measures the local clock against `servers` (`host[:port]`), never
/// setting it: offset, delay, stratum per server and the R.6 class, as data
/// (the `annexr` tool renders it).
pub async fn measure_time(
    servers: &[String],
    samples: u32,
    timeout_ms: u64,
) -> Result<annexr_sntp::Measurement, crate::Error> {
    measure(servers, samples, timeout_ms).await
}
