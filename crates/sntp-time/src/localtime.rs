//! Local time from DHCP (R.2, R.6.5): option 101 (tz database name), 100
//! (POSIX TZ string) or 2 (fixed offset). The device keeps UTC; this converts.

use jiff::tz::{Offset, TimeZone};
use jiff::{Timestamp, Zoned};

use crate::Error;

/// Where the time zone came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ZoneSource {
    /// DHCP option 101 (RFC 4833 TCode), a tz database name.
    TzName,
    /// DHCP option 100 (RFC 4833 PCode), a POSIX TZ string with summer rules.
    PosixTz,
    /// DHCP option 2, a fixed offset in seconds (no summer time).
    FixedOffset,
    /// Nothing given: UTC.
    Utc,
}

/// A UTC ↔ local converter.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LocalTime {
    zone: TimeZone,
    source: ZoneSource,
    /// Options that were given but could not be used, and why.
    pub ignored: Vec<String>,
}

impl LocalTime {
    /// From the raw DHCP option payloads. Preference: 101, then 100, then 2
    /// (the more specific first); an unusable option is skipped and noted.
    pub fn from_dhcp(
        option2: Option<&[u8]>,
        option100: Option<&[u8]>,
        option101: Option<&[u8]>,
    ) -> Self {
        let mut ignored = Vec::new();
        if let Some(raw) = option101 {
            match text(raw).and_then(|n| TimeZone::get(&n).map_err(|e| e.to_string())) {
                Ok(zone) => {
                    return LocalTime {
                        zone,
                        source: ZoneSource::TzName,
                        ignored,
                    };
                }
                Err(e) => ignored.push(format!("option 101: {e}")),
            }
        }
        if let Some(raw) = option100 {
            match text(raw).and_then(|s| TimeZone::posix(&s).map_err(|e| e.to_string())) {
                Ok(zone) => {
                    return LocalTime {
                        zone,
                        source: ZoneSource::PosixTz,
                        ignored,
                    };
                }
                Err(e) => ignored.push(format!("option 100: {e}")),
            }
        }
        if let Some(raw) = option2 {
            match fixed(raw) {
                Ok(zone) => {
                    return LocalTime {
                        zone,
                        source: ZoneSource::FixedOffset,
                        ignored,
                    };
                }
                Err(e) => ignored.push(format!("option 2: {e}")),
            }
        }
        LocalTime {
            zone: TimeZone::UTC,
            source: ZoneSource::Utc,
            ignored,
        }
    }

    /// From a tz database name or POSIX TZ string given by configuration.
    pub fn from_config(zone: &str) -> Result<Self, Error> {
        let tz = TimeZone::get(zone)
            .map(|z| (z, ZoneSource::TzName))
            .or_else(|_| TimeZone::posix(zone).map(|z| (z, ZoneSource::PosixTz)))
            .map_err(|e| Error::LocalTime {
                option: 0,
                cause: format!("{zone:?}: {e}"),
            })?;
        Ok(LocalTime {
            zone: tz.0,
            source: tz.1,
            ignored: Vec::new(),
        })
    }

    /// Where the zone came from.
    pub fn source(&self) -> ZoneSource {
        self.source
    }

    /// The time zone.
    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }

    /// UTC instant to local civil time (with the offset in force, DST included).
    pub fn to_local(&self, t: Timestamp) -> Zoned {
        t.to_zoned(self.zone.clone())
    }

    /// Offset from UTC in force at `t`, seconds.
    pub fn offset_at(&self, t: Timestamp) -> i32 {
        self.zone.to_offset(t).seconds()
    }
}

/// RFC 4833 strings are NVT ASCII, sometimes NUL-terminated.
fn text(raw: &[u8]) -> Result<String, String> {
    let s = std::str::from_utf8(raw).map_err(|_| "not ASCII".to_string())?;
    let s = s.trim_end_matches('\0').trim();
    if s.is_empty() {
        return Err("empty".into());
    }
    Ok(s.to_string())
}

/// Option 2: a signed 32-bit offset in seconds east of UTC.
fn fixed(raw: &[u8]) -> Result<TimeZone, String> {
    let b: [u8; 4] = raw
        .try_into()
        .map_err(|_| format!("length {} (want 4)", raw.len()))?;
    let secs = i32::from_be_bytes(b);
    let off = Offset::from_seconds(secs).map_err(|e| e.to_string())?;
    Ok(TimeZone::fixed(off))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn posix_string_with_summer_time() {
        let lt = LocalTime::from_dhcp(None, Some(b"CET-1CEST,M3.5.0,M10.5.0/3\0"), None);
        assert_eq!(lt.source(), ZoneSource::PosixTz);
        assert_eq!(lt.offset_at(ts("2026-01-15T12:00:00Z")), 3600);
        assert_eq!(lt.offset_at(ts("2026-07-15T12:00:00Z")), 7200);
        assert_eq!(lt.to_local(ts("2026-07-15T12:00:00Z")).time().hour(), 14);
    }

    #[test]
    fn tz_name_preferred_and_bad_options_noted() {
        let lt = LocalTime::from_dhcp(
            Some(&(-18000i32).to_be_bytes()),
            Some(b"garbage,,"),
            Some(b"America/New_York"),
        );
        assert_eq!(lt.source(), ZoneSource::TzName);
        assert_eq!(lt.offset_at(ts("2026-07-01T00:00:00Z")), -4 * 3600);
        let lt = LocalTime::from_dhcp(
            Some(&3600i32.to_be_bytes()),
            Some(b"garbage,,"),
            Some(b"No/Such_Zone"),
        );
        assert_eq!(lt.source(), ZoneSource::FixedOffset);
        assert_eq!(lt.ignored.len(), 2);
        assert_eq!(lt.offset_at(ts("2026-07-01T00:00:00Z")), 3600);
    }

    #[test]
    fn nothing_or_garbage_is_utc() {
        assert_eq!(
            LocalTime::from_dhcp(None, None, None).source(),
            ZoneSource::Utc
        );
        let lt = LocalTime::from_dhcp(Some(&[1, 2, 3]), None, Some(&[0xff, 0xfe]));
        assert_eq!(lt.source(), ZoneSource::Utc);
        assert_eq!(lt.ignored.len(), 2);
    }
}
