//! The host clock on Linux: `adjtimex(2)` for steps (ADJ_SETOFFSET) and slews
//! (ADJ_FREQUENCY). The one module of the crate that needs `unsafe` (FFI).
//! Tests never call `step`/`slew` on it: they must not touch the host clock.
#![allow(unsafe_code)]

use jiff::{SignedDuration, Timestamp};

use crate::{Clock, Error};

/// The kernel's frequency limit (MAXFREQ, 500 ppm).
const MAX_KERNEL_RATE: f64 = 500e-6;

/// The operating system clock (CLOCK_REALTIME). Stepping and slewing need
/// CAP_SYS_TIME.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl SystemClock {
    /// The kernel's current frequency correction, as a fraction (read only).
    pub fn frequency(&self) -> Result<f64, Error> {
        #[cfg(target_os = "linux")]
        {
            let mut tx = zeroed_timex();
            adjtimex(&mut tx, "read frequency")?;
            #[allow(clippy::cast_precision_loss)]
            let ppm = tx.freq as f64 / 65536.0;
            Ok(ppm * 1e-6)
        }
        #[cfg(not(target_os = "linux"))]
        Err(unsupported("read frequency"))
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    fn step(&self, by: SignedDuration) -> Result<(), Error> {
        #[cfg(target_os = "linux")]
        {
            let mut tx = zeroed_timex();
            tx.modes = libc::ADJ_SETOFFSET | libc::ADJ_NANO;
            // The kernel wants a non-negative nanosecond part: floor the seconds.
            let ns = by.as_nanos();
            let secs = ns.div_euclid(1_000_000_000);
            let nanos = ns.rem_euclid(1_000_000_000);
            tx.time.tv_sec = libc::time_t::try_from(secs).map_err(|_| Error::Clock {
                step: "step",
                cause: format!("offset {by} out of range"),
            })?;
            tx.time.tv_usec = libc::suseconds_t::try_from(nanos).unwrap_or(0);
            adjtimex(&mut tx, "step")
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = by;
            Err(unsupported("step"))
        }
    }

    fn slew(&self, rate: f64) -> Result<(), Error> {
        if !rate.is_finite() || rate.abs() > MAX_KERNEL_RATE {
            return Err(Error::Clock {
                step: "slew",
                cause: format!("rate {rate} outside the kernel's ±500 ppm"),
            });
        }
        #[cfg(target_os = "linux")]
        {
            let mut tx = zeroed_timex();
            tx.modes = libc::ADJ_FREQUENCY;
            // freq is in ppm with a 16-bit fraction.
            #[allow(clippy::cast_possible_truncation)]
            let freq = (rate * 1e6 * 65536.0).round() as libc::c_long;
            tx.freq = freq;
            adjtimex(&mut tx, "slew")
        }
        #[cfg(not(target_os = "linux"))]
        Err(unsupported("slew"))
    }
}

#[cfg(target_os = "linux")]
fn zeroed_timex() -> libc::timex {
    // SAFETY: `timex` is a plain C struct of integers and padding; all-zero is a
    // valid value (modes = 0 means "change nothing").
    unsafe { std::mem::zeroed() }
}

#[cfg(target_os = "linux")]
fn adjtimex(tx: &mut libc::timex, step: &'static str) -> Result<(), Error> {
    // SAFETY: `tx` is a valid, exclusively borrowed `timex` for the duration of
    // the call; the kernel reads and writes only within it.
    let rc = unsafe { libc::adjtimex(tx) };
    if rc == -1 {
        return Err(Error::Clock {
            step,
            cause: std::io::Error::last_os_error().to_string(),
        });
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn unsupported(step: &'static str) -> Error {
    Error::Clock {
        step,
        cause: "only implemented for Linux".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reading (modes = 0) changes nothing and needs no privilege.
    #[cfg(target_os = "linux")]
    #[test]
    fn reads_kernel_frequency() {
        let f = SystemClock.frequency().unwrap();
        assert!(f.abs() <= MAX_KERNEL_RATE, "{f}");
        let d = SystemClock.now().as_second() - Timestamp::now().as_second();
        assert!(d.abs() <= 1);
    }

    #[test]
    fn rejects_rates_beyond_the_kernel_limit() {
        assert!(SystemClock.slew(1e-3).is_err());
        assert!(SystemClock.slew(f64::NAN).is_err());
    }
}
