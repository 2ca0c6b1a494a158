//! What a startup did, step by step, for a service engineer: outcome, where
//! each value came from, how long it took, and warnings that say what to do.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

/// The steps of the normal startup of R.4 (and the install of R.1.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Step {
    /// R.4 step 1: IP address and the NTP and DNS server lists.
    Dhcp,
    /// R.4 step 2: time synchronization.
    Time,
    /// R.4 steps 3–4: find the LDAP servers with DNS SRV.
    Dns,
    /// R.4 step 4: load this device's configuration from LDAP.
    Ldap,
    /// R.4 step 5 / R.1.2.2 steps 5–9: compare and apply, or install.
    Configure,
    /// Association probes of the device's peers.
    Probe,
}

impl Step {
    /// The step's name as the report prints it.
    pub fn name(self) -> &'static str {
        match self {
            Step::Dhcp => "dhcp",
            Step::Time => "time",
            Step::Dns => "dns",
            Step::Ldap => "ldap",
            Step::Configure => "configure",
            Step::Probe => "probe",
        }
    }
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Outcome {
    /// It did what the standard describes.
    Done,
    /// It failed, and a fallback kept the device usable.
    Fallback,
    /// It was not needed or not asked for.
    Skipped,
    /// It failed and nothing could stand in for it.
    Failed,
}

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Source {
    /// The DHCP server.
    Dhcp,
    /// The operating system's own DHCP lease.
    OsLease,
    /// Static (pre-configured) settings: the legacy note of R.1.2.2.
    Static,
    /// The non-volatile store (the last applied state).
    Cached,
    /// The LDAP configuration.
    Ldap,
    /// DNS SRV records.
    Dns,
    /// An NTP server.
    Ntp,
    /// The device's own (battery) clock.
    LocalClock,
    /// The vendor's local description of the device.
    Local,
}

/// Something a service engineer should act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Warning {
    /// The step it belongs to.
    pub step: Step,
    /// What happened.
    pub message: String,
    /// What to do about it.
    pub action: String,
}

/// One value the sequence settled on, with its source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Value {
    /// What it is, e.g. `ip-address`, `ntp-servers`, `ldap-server`.
    pub name: String,
    /// The value as text.
    pub value: String,
    /// Where it came from.
    pub source: Source,
}

/// One step's report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct StepReport {
    /// Which step.
    pub step: Step,
    /// How it ended.
    pub outcome: Outcome,
    /// When it started, from the start of the sequence, in microseconds.
    pub started_at_us: u64,
    /// How long it took, in microseconds.
    pub duration_us: u64,
    /// Network round trips it used, when counted.
    pub round_trips: Option<u32>,
    /// One line on what happened.
    pub detail: String,
    /// The values it settled.
    pub values: Vec<Value>,
}

/// The whole startup's report: [`crate`]'s answer to "is this device
/// configured, and if not, why?".
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct StartupReport {
    /// The device's name (`dicomDeviceName`), when known.
    pub device_name: Option<String>,
    /// True when the device runs with a configuration (from LDAP, the store,
    /// or its local description).
    pub configured: bool,
    /// Where the running configuration came from.
    pub configuration_source: Option<Source>,
    /// Every step in the order it started.
    pub steps: Vec<StepReport>,
    /// Everything a service engineer should act on.
    pub warnings: Vec<Warning>,
    /// When the clock was stepped, from the start of the sequence (µs), and
    /// by how much (µs): the report says where in the sequence it happened.
    pub clock_step: Option<ClockStep>,
    /// The time step's findings (R.6), when it measured the clock.
    pub time: Option<TimeReport>,
    /// Wall time of the whole sequence, in microseconds.
    pub total_us: u64,
}

/// The R.6 synchronization classes, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum TimeClass {
    /// High accuracy (R.6.1): within about 10 ms.
    High,
    /// Ordinary (R.6.2): within about 500 ms.
    Ordinary,
    /// Neither.
    Insufficient,
}

/// What became of the one startup step of R.6.3.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum StartupStepOutcome {
    /// The clock was close enough to be slewed.
    NotNeeded,
    /// The clock was stepped.
    Applied,
    /// A step was justified, but `[time] set_clock` is off.
    NotApplied,
    /// A step beyond `[time] max_startup_step_ms` that too few servers
    /// confirmed: neither the clock nor the TLS time was corrected.
    Refused,
    /// Stepping the clock failed.
    Failed,
}

/// The time step's findings, as structured fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TimeReport {
    /// What NTP said to add to the device clock, in microseconds.
    pub clock_offset_us: i64,
    /// True when the device clock was off by more than the ordinary class
    /// allows (500 ms) when the startup measured it.
    pub clock_was_off: bool,
    /// The class the device's time reaches after the startup.
    pub time_class: TimeClass,
    /// `[time] required_class`, when set.
    pub required_class: Option<TimeClass>,
    /// What became of the startup step.
    pub startup_step: StartupStepOutcome,
    /// NTP servers within 1 s of the measured offset.
    pub agreeing_servers: usize,
    /// A leap second the servers announce (leap indicator 1 or 2):
    /// `"insert"` or `"delete"`.
    pub leap_second: Option<&'static str>,
    /// LDAP TLS checked certificates against the NTP-corrected time, as the
    /// device clock itself was not corrected.
    pub tls_time_corrected: bool,
}

/// A clock step taken during startup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ClockStep {
    /// Microseconds from the start of the sequence.
    pub at_us: u64,
    /// The correction applied, in microseconds.
    pub offset_us: i64,
}

impl StartupReport {
    /// An empty report for `device_name`.
    pub fn new(device_name: Option<String>) -> Self {
        StartupReport {
            device_name,
            configured: false,
            configuration_source: None,
            steps: Vec::new(),
            warnings: Vec::new(),
            clock_step: None,
            time: None,
            total_us: 0,
        }
    }

    /// The report of `step`, if it ran.
    pub fn step(&self, step: Step) -> Option<&StepReport> {
        self.steps.iter().find(|s| s.step == step)
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

fn ms(us: u64) -> String {
    format!("{:.1} ms", Duration::from_micros(us).as_secs_f64() * 1000.0)
}

// Words for the human report (the JSON uses the serde names): never a
// Rust Debug form in what a field engineer reads.

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Done => "done",
            Outcome::Fallback => "fallback",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "failed",
        })
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Dhcp => "DHCP",
            Source::OsLease => "the OS's DHCP lease",
            Source::Static => "static settings",
            Source::Cached => "the store",
            Source::Ldap => "LDAP",
            Source::Dns => "DNS SRV",
            Source::Ntp => "NTP",
            Source::LocalClock => "the device clock",
            Source::Local => "the local description",
        })
    }
}

impl fmt::Display for TimeClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeClass::High => "high accuracy",
            TimeClass::Ordinary => "ordinary",
            TimeClass::Insufficient => "insufficient",
        })
    }
}

impl fmt::Display for StartupStepOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StartupStepOutcome::NotNeeded => "not needed",
            StartupStepOutcome::Applied => "applied",
            StartupStepOutcome::NotApplied => "not applied (set_clock off)",
            StartupStepOutcome::Refused => "refused",
            StartupStepOutcome::Failed => "failed",
        })
    }
}

impl fmt::Display for StartupReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "annexr startup of {}: {} in {}",
            self.device_name.as_deref().unwrap_or("(unnamed device)"),
            if self.configured {
                "configured"
            } else {
                "NOT configured"
            },
            ms(self.total_us)
        )?;
        if let Some(source) = self.configuration_source {
            writeln!(f, "  configuration from: {source}")?;
        }
        for s in &self.steps {
            let trips = s
                .round_trips
                .map(|n| format!(", {n} round trips"))
                .unwrap_or_default();
            writeln!(
                f,
                "  {:<9} {:<8} at +{:<10} took {}{trips}: {}",
                s.step.name(),
                s.outcome.to_string(),
                ms(s.started_at_us),
                ms(s.duration_us),
                s.detail
            )?;
            for v in &s.values {
                writeln!(f, "              {} = {} ({})", v.name, v.value, v.source)?;
            }
        }
        if let Some(step) = self.clock_step {
            writeln!(
                f,
                "  clock stepped by {:+.3} s at +{}",
                step.offset_us as f64 / 1e6,
                ms(step.at_us)
            )?;
        }
        if let Some(t) = &self.time {
            writeln!(
                f,
                "  clock: offset {:+.3} s, class {}{}, startup step {}{}",
                t.clock_offset_us as f64 / 1e6,
                t.time_class,
                t.required_class
                    .map(|c| format!(" (required {c})"))
                    .unwrap_or_default(),
                t.startup_step,
                if t.tls_time_corrected {
                    ", TLS checked against NTP time"
                } else {
                    ""
                }
            )?;
        }
        for w in &self.warnings {
            writeln!(f, "  WARNING [{}] {}", w.step.name(), w.message)?;
            writeln!(f, "          action: {}", w.action)?;
        }
        Ok(())
    }
}

/// Progress as the sequence runs, for a modality's UI or a log.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Event {
    /// A step began.
    StepStarted {
        /// Which step.
        step: Step,
    },
    /// A step ended.
    StepFinished {
        /// Which step.
        step: Step,
        /// How.
        outcome: Outcome,
        /// How long it took, in microseconds.
        duration_us: u64,
        /// One line on what happened.
        detail: String,
    },
    /// A warning was raised.
    Warning(Warning),
    /// The clock was stepped.
    ClockStepped {
        /// The correction, in microseconds.
        offset_us: i64,
    },
    /// The background refinement after the startup's first-sample decision:
    /// every sample of every server, and what became of it.
    TimeRefined {
        /// What NTP says to add to the device clock now, in microseconds.
        offset_us: i64,
        /// The round-trip delay of the sample used, in microseconds.
        delay_us: u64,
        /// Valid samples over all servers.
        samples: usize,
        /// The class the device's time reaches now.
        time_class: TimeClass,
        /// What was done with it.
        correction: Refinement,
    },
}

/// What the background refinement did with its measurement. It never takes
/// a second startup step: the ongoing loop slews, and steps only under the
/// post-startup rules (step-out interval, step budget, consent).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Refinement {
    /// Measured and reported only (`[time] set_clock` is off).
    Reported,
    /// The clock is slewed at `rate` (a fraction; 1e-4 = 0.01 %).
    Slewed {
        /// The slew rate.
        rate: f64,
    },
    /// The clock was stepped under the post-startup rules.
    Stepped {
        /// The step, in microseconds.
        offset_us: i64,
    },
    /// The offset needs the device's consent before it is stepped.
    NeedsConsent,
    /// Correcting the clock failed.
    Failed,
}

/// Receives progress events. Closures `Fn(&Event)` are observers too.
pub trait Observer: Send + Sync {
    /// Called as each event happens, on the sequence's task: return quickly.
    fn event(&self, event: &Event);
}

impl<F: Fn(&Event) + Send + Sync> Observer for F {
    fn event(&self, event: &Event) {
        self(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_json_carry_steps_sources_and_actions() {
        let mut report = StartupReport::new(Some("CT-SCANNER-1".into()));
        report.configured = true;
        report.configuration_source = Some(Source::Cached);
        report.steps.push(StepReport {
            step: Step::Ldap,
            outcome: Outcome::Fallback,
            started_at_us: 1_500,
            duration_us: 2_000_000,
            round_trips: Some(2),
            detail: "ldap://ldap.hospital.example:389 unreachable".into(),
            values: vec![Value {
                name: "configuration".into(),
                value: "last applied".into(),
                source: Source::Cached,
            }],
        });
        report.warnings.push(Warning {
            step: Step::Ldap,
            message: "LDAP unreachable; running on the last applied configuration".into(),
            action: "check the network path to ldap.hospital.example:389".into(),
        });
        let text = report.to_string();
        assert!(text.contains("ldap      fallback"), "{text}");
        // Words, never a Debug form such as `Cached`.
        assert!(text.contains("configuration from: the store"), "{text}");
        assert!(
            text.contains("configuration = last applied (the store)"),
            "{text}"
        );
        assert!(
            !text.contains("Cached") && !text.contains("Fallback"),
            "{text}"
        );
        assert!(text.contains("action: check the network path"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["steps"][0]["outcome"], "fallback");
        assert_eq!(json["steps"][0]["values"][0]["source"], "cached");
        assert_eq!(json["configuration_source"], "cached");
    }

    #[test]
    fn closures_observe_events() {
        let seen = std::sync::Mutex::new(Vec::new());
        let observer = |e: &Event| seen.lock().unwrap().push(e.clone());
        observer.event(&Event::StepStarted { step: Step::Dns });
        let json = serde_json::to_string(&seen.lock().unwrap()[0]).unwrap();
        assert_eq!(json, r#"{"event":"step-started","step":"dns"}"#);
    }
}
