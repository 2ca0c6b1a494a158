//! Builds the [`StartupReport`] as the steps run and tells the observer.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::report::Source;
use crate::report::{
    ClockStep, Event, Observer, Outcome, StartupReport, Step, StepReport, TimeReport, Value,
    Warning,
};

/// Shared by the steps of one run (the time step runs on its own task).
#[derive(Clone)]
pub(crate) struct Recorder {
    started: Instant,
    report: Arc<Mutex<StartupReport>>,
    observer: Option<Arc<dyn Observer>>,
    /// Values noted for a step before it finishes.
    notes: Arc<Mutex<Vec<(Step, Value)>>>,
}

/// A step in progress; [`Recorder::finish`] closes it.
pub(crate) struct Running {
    step: Step,
    started: Instant,
    started_at_us: u64,
}

/// How a step ended, with what it found.
pub(crate) struct Finished {
    pub outcome: Outcome,
    pub detail: String,
    pub values: Vec<Value>,
    pub round_trips: Option<u32>,
}

impl Finished {
    pub fn new(outcome: Outcome, detail: impl Into<String>) -> Self {
        Finished {
            outcome,
            detail: detail.into(),
            values: Vec::new(),
            round_trips: None,
        }
    }

    pub fn value(mut self, name: &str, value: impl Into<String>, source: Source) -> Self {
        self.values.push(Value {
            name: name.to_string(),
            value: value.into(),
            source,
        });
        self
    }

    pub fn round_trips(mut self, n: u32) -> Self {
        self.round_trips = Some(n);
        self
    }
}

fn micros(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX)
}

impl Recorder {
    pub fn new(device_name: Option<String>, observer: Option<Arc<dyn Observer>>) -> Self {
        Recorder {
            started: Instant::now(),
            report: Arc::new(Mutex::new(StartupReport::new(device_name))),
            observer,
            notes: Arc::default(),
        }
    }

    pub fn emit(&self, event: Event) {
        if let Some(observer) = &self.observer {
            observer.event(&event);
        }
    }

    fn with_report(&self, f: impl FnOnce(&mut StartupReport)) {
        // A poisoned lock only means another step panicked mid-update; the
        // report is still the best account there is.
        let mut report = match self.report.lock() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut report);
    }

    pub fn begin(&self, step: Step) -> Running {
        self.emit(Event::StepStarted { step });
        Running {
            step,
            started: Instant::now(),
            started_at_us: micros(self.started),
        }
    }

    /// Adds a value to `step`'s report when it finishes.
    pub fn note(&self, step: Step, name: &str, value: impl Into<String>, source: Source) {
        let value = Value {
            name: name.to_string(),
            value: value.into(),
            source,
        };
        if let Ok(mut notes) = self.notes.lock() {
            notes.push((step, value));
        }
    }

    pub fn finish(&self, running: Running, mut finished: Finished) {
        let duration_us = micros(running.started);
        if let Ok(mut notes) = self.notes.lock() {
            let (mine, others): (Vec<_>, Vec<_>) =
                notes.drain(..).partition(|(step, _)| *step == running.step);
            *notes = others;
            finished.values.extend(mine.into_iter().map(|(_, v)| v));
        }
        tracing::info!(
            step = running.step.name(),
            outcome = ?finished.outcome,
            duration_us,
            "{}",
            finished.detail
        );
        self.emit(Event::StepFinished {
            step: running.step,
            outcome: finished.outcome,
            duration_us,
            detail: finished.detail.clone(),
        });
        let step = StepReport {
            step: running.step,
            outcome: finished.outcome,
            started_at_us: running.started_at_us,
            duration_us,
            round_trips: finished.round_trips,
            detail: finished.detail,
            values: finished.values,
        };
        self.with_report(|r| {
            r.steps.push(step);
            r.steps.sort_by_key(|s| s.started_at_us);
        });
    }

    pub fn warn(&self, step: Step, message: impl Into<String>, action: impl Into<String>) {
        let warning = Warning {
            step,
            message: message.into(),
            action: action.into(),
        };
        tracing::warn!(step = step.name(), action = %warning.action, "{}", warning.message);
        self.emit(Event::Warning(warning.clone()));
        self.with_report(|r| r.warnings.push(warning));
    }

    pub fn clock_stepped(&self, offset_us: i64) {
        let at_us = micros(self.started);
        self.emit(Event::ClockStepped { offset_us });
        self.with_report(|r| r.clock_step = Some(ClockStep { at_us, offset_us }));
    }

    pub fn set_time(&self, time: TimeReport) {
        self.with_report(|r| r.time = Some(time));
    }

    pub fn tls_time_corrected(&self) {
        self.with_report(|r| {
            if let Some(t) = &mut r.time {
                t.tls_time_corrected = true;
            }
        });
    }

    pub fn set_device_name(&self, name: &str) {
        self.with_report(|r| r.device_name = Some(name.to_string()));
    }

    pub fn configured(&self, source: Source) {
        self.with_report(|r| {
            r.configured = true;
            r.configuration_source = Some(source);
        });
    }

    pub fn into_report(self) -> StartupReport {
        let total_us = micros(self.started);
        let mut report = match self.report.lock() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        report.total_us = total_us;
        report
    }
}
