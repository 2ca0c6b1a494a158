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
use crate::report::{
    Event, Outcome, Refinement, Source, StartupStepOutcome, Step, TimeClass, TimeReport,
};

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

/// How a measurement samples each server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sampling {
    /// Until the first valid reply: the startup decision.
    FirstValid,
    /// Every sample: the refinement, and `annexr time`.
    All,
}

/// Measures `clock` against `servers` without changing it.
async fn measure(
    servers: &[String],
    samples: u32,
    timeout_ms: u64,
    clock: Arc<dyn Clock>,
    sampling: Sampling,
) -> Result<Measurement, crate::Error> {
    let (addrs, failed) = resolve(servers).await;
    if addrs.is_empty() {
        return Err(if failed.is_empty() {
            annexr_sntp::Error::NoServers.into()
        } else {
            crate::Error::NtpServers(failed.join("; "))
        });
    }
    let config = SamplingConfig {
        samples: usize::try_from(samples.max(1)).unwrap_or(4),
        timeout: millis(timeout_ms),
        ..SamplingConfig::default()
    };
    let client = SntpClient::new(addrs, config)?;
    Ok(match sampling {
        Sampling::FirstValid => client.measure_first(clock).await?,
        Sampling::All => client.measure(clock).await?,
    })
}

fn micros(d: jiff::SignedDuration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// The startup's time decision, as soon as it is made (before the step's
/// report is complete): what TLS must check certificates against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TimeDecision {
    /// See [`Synced::tls_correction_us`].
    pub tls_correction_us: Option<i64>,
}

/// What the time step leaves for the rest of the startup.
#[derive(Debug, Default)]
pub(crate) struct Synced {
    /// The ongoing loop, when it runs.
    pub handle: Option<SyncHandle>,
    /// The one background refinement, when the clock is not set (the
    /// ongoing loop refines otherwise).
    pub refine: Option<tokio::task::JoinHandle<()>>,
    /// The startup stepped the clock: what was checked against the clock
    /// before the step (a TLS certificate) was checked against a wrong time.
    pub stepped: bool,
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

/// Requests the startup measurement sent to one server at most: one, plus
/// one per timeout or rejected reply before the first valid one.
fn exchanges(measurement: &Measurement) -> u32 {
    measurement
        .servers
        .iter()
        .map(|s| {
            let sent = s.valid_samples
                + s.rejections
                    .iter()
                    .filter(|r| {
                        !matches!(
                            r,
                            annexr_sntp::Rejection::WrongSource(_)
                                | annexr_sntp::Rejection::OriginMismatch
                        )
                    })
                    .count();
            u32::try_from(sent).unwrap_or(u32::MAX)
        })
        .max()
        .unwrap_or(0)
}

/// The startup decision from the first valid sample of each server, the one
/// allowed step (R.6.3.1, within the step rules), and the refinement in the
/// background: the ongoing loop when the clock is set, else one full
/// measurement, reported as [`crate::Event::TimeRefined`].
pub(crate) async fn synchronize(
    settings: &TimeSettings,
    servers: &[String],
    clock: Arc<dyn Clock>,
    recorder: &Recorder,
    decided: tokio::sync::watch::Sender<Option<TimeDecision>>,
) -> Synced {
    let running = recorder.begin(Step::Time);
    let measured = measure(
        servers,
        settings.samples,
        settings.timeout_ms,
        clock.clone(),
        Sampling::FirstValid,
    )
    .await;
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
            decided.send_replace(Some(TimeDecision::default()));
            return Synced::default();
        }
    };
    let offset_us = micros(measurement.offset);
    let offset_s = offset_us as f64 / 1e6;
    let mut finished = Finished::new(
        Outcome::Done,
        format!(
            "offset {:+.3} ms, delay {:.3} ms, supports {} (first valid sample of each server; refined in the background)",
            offset_us as f64 / 1000.0,
            measurement.delay.as_secs_f64() * 1000.0,
            measurement.supported_class
        ),
    )
    .round_trips(exchanges(&measurement));
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
        _ => match clock.step(measurement.offset) {
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
    let stepped = step == StartupStepOutcome::Applied;
    decided.send_replace(Some(TimeDecision { tls_correction_us }));
    if !settings.set_clock {
        let refine = tokio::spawn(refine_once(
            settings.clone(),
            measurement.used.clone(),
            clock,
            recorder.clone(),
        ));
        return Synced {
            handle: None,
            refine: Some(refine),
            stepped,
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
    let handle = match annexr_sntp::spawn_sync(config, clock) {
        Ok((handle, events)) => {
            tokio::spawn(forward_loop_events(events, recorder.clone(), class_of_loop));
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
        refine: None,
        stepped,
        tls_correction_us,
    }
}

/// The class of a measurement for a clock the loop corrects.
fn class_of_loop(m: &Measurement) -> TimeClass {
    class(m.supported_class)
}

fn refined(m: &Measurement, time_class: TimeClass, correction: Refinement) -> Event {
    Event::TimeRefined {
        offset_us: micros(m.offset),
        delay_us: u64::try_from(m.delay.as_micros()).unwrap_or(u64::MAX),
        samples: m.servers.iter().map(|s| s.valid_samples).sum(),
        time_class,
        correction,
    }
}

/// The refinement when the clock is not set: one full measurement of the
/// servers the startup used, reported, nothing changed. Bounded by the
/// sampling's own timeouts.
async fn refine_once(
    settings: TimeSettings,
    servers: Vec<SocketAddr>,
    clock: Arc<dyn Clock>,
    recorder: Recorder,
) {
    let sampling = SamplingConfig {
        samples: usize::try_from(settings.samples.max(1)).unwrap_or(4),
        timeout: millis(settings.timeout_ms),
        ..SamplingConfig::default()
    };
    let measured = match SntpClient::new(servers, sampling) {
        Ok(client) => client.measure(clock).await,
        Err(e) => Err(e),
    };
    match measured {
        Ok(m) => {
            tracing::info!(offset_us = micros(m.offset), "time refined (reported only)");
            let time_class = class(m.clock_class);
            recorder.emit(refined(&m, time_class, Refinement::Reported));
        }
        Err(e) => tracing::info!("time refinement failed: {e}"),
    }
}

/// Passes the ongoing loop's events on: its first measurement with what
/// the loop did about it as [`Event::TimeRefined`], any later step as
/// [`Event::ClockStepped`]; everything to the log.
async fn forward_loop_events(
    mut events: tokio::sync::mpsc::UnboundedReceiver<annexr_sntp::Event>,
    recorder: Recorder,
    class_of: fn(&Measurement) -> TimeClass,
) {
    use annexr_sntp::Event as Sntp;
    let mut first: Option<Box<Measurement>> = None;
    let mut refined_sent = false;
    while let Some(event) = events.recv().await {
        tracing::info!(?event, "time synchronization");
        let correction = match &event {
            Sntp::Measured(m) => {
                if !refined_sent {
                    first = Some(m.clone());
                }
                None
            }
            Sntp::Slewing { rate, .. } => Some(Refinement::Slewed { rate: *rate }),
            Sntp::Stepped { offset, .. } => {
                recorder.emit(Event::ClockStepped {
                    offset_us: micros(*offset),
                });
                Some(Refinement::Stepped {
                    offset_us: micros(*offset),
                })
            }
            Sntp::ConsentRequired { .. } => Some(Refinement::NeedsConsent),
            Sntp::Failed { .. } => Some(Refinement::Failed),
            _ => None,
        };
        if let Some(correction) = correction
            && let Some(m) = first.take()
        {
            refined_sent = true;
            recorder.emit(refined(&m, class_of(&m), correction));
        }
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
    measure(
        servers,
        samples,
        timeout_ms,
        Arc::new(SystemClock),
        Sampling::All,
    )
    .await
}
