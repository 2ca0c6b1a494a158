//! The annexr lab: real servers on 127.0.0.1 for tests, benches and the demo.
//!
//! Each server starts in a temporary directory of its own, on a free port,
//! from a configuration the lab writes; `start()` returns once the server
//! answers, and dropping the handle stops it (its whole process group, so
//! forked children go too). A server also dies with the thread that started
//! it (parent-death signal), so start servers on the thread that owns them.
//!
//! | server | what it stands for |
//! |---|---|
//! | [`Slapd`] | the site's LDAP server with the PS3.15 Annex H schema |
//! | [`Ds389`] | the same on 389 Directory Server; [`LdapServerKind`] runs a test on both |
//! | [`Dnsmasq`] | the site's DNS server (SRV, A, TXT records) |
//! | [`DnsServer`] | the same records on dnsmasq, BIND 9 or unbound ([`DnsZone::start_on`]) |
//! | [`Chronyd`] | the site's NTP server, optionally with a shifted clock |
//! | [`Ntpsec`] | ntpsec's ntpd in a network namespace: unsynchronized (Kiss-o'-Death INIT) or synchronized to a chronyd |
//! | [`Storescp`] | a DICOM peer (archive, printer) that answers C-ECHO |
//! | [`Dcmqrscp`] | a DICOM peer that knows its callers by AE title |
//! | [`Orthanc`] | Orthanc as a DICOM peer, in a network namespace |
//! | [`PynetdicomScp`] | a pynetdicom peer that rejects, aborts or misbehaves as the called AE title says |
//! | [`SlapdPair`] | a provider and a read-only replica (referrals on write) |
//! | [`DhcpLab`] | dnsmasq or kea DHCP on a veth link between two network namespaces |
//! | [`DelayRelay`] | a WAN link: a fixed delay in front of any of them (TCP and UDP) |
//! | [`VfatMount`] | a device's FAT flash partition (vfat image, kernel loop mount or fusefat) |
//! | [`SampleSite`] | all of the above, seeded with a small hospital |
//!
//! When a server's binary is missing, `start()` returns
//! [`LabError::Missing`] naming the Debian package. Tests pass that through
//! [`or_skip`]: it skips the test with a printed reason, unless the
//! environment says `ANNEXR_LAB=require` (CI does), where a missing server is
//! a failure.

mod bind;
mod chronyd;
mod dhcp;
mod dhcp_server_ns;
mod dicom;
mod directory;
mod dns;
mod dnsmasq;
mod ds389;
mod evil_ldap;
mod ntpsec;
mod orthanc;
mod process;
mod pynetdicom;
mod relay;
mod site;
mod slapd;
mod tls;
mod unbound;
mod vfat;

use std::time::Duration;

pub use chronyd::{Chronyd, ChronydBuilder};
pub use dhcp::{DhcpExpected, DhcpLab, DhcpLabBuilder, DhcpServer};
pub use dicom::{Dcmqrscp, DcmqrscpBuilder, Storescp, StorescpBuilder};
pub use directory::{AnyLdapServer, LdapServer, LdapServerBuilder, LdapServerKind};
pub use dns::{DnsServer, DnsServerKind, DnsZone, LoggedQuery, SrvRecord};
pub use dnsmasq::{Dnsmasq, DnsmasqBuilder};
pub use ds389::{DICOM_SCHEMA_389, Ds389, Ds389Builder};
pub use evil_ldap::{EvilLdap, Misbehaviour};
pub use ntpsec::Ntpsec;
pub use orthanc::{Orthanc, OrthancBuilder};
pub use pynetdicom::{PynetdicomScp, called_ae};
pub use relay::DelayRelay;
pub use site::{LDAP_HOST, SITE_DOMAIN};
pub use site::{SampleSite, SiteDevice};
pub use slapd::{DICOM_SCHEMA, DICOM_SCHEMA_LDIF, Slapd, SlapdBuilder, SlapdPair};
pub use tls::LabCa;
pub use vfat::{VfatDriver, VfatMount};

/// Everything that can go wrong while starting or using a lab server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LabError {
    /// The server's binary is not installed.
    #[error(
        "{server}: `{binary}` is not installed (apt-get install -y {package}, or run `cargo xtask test` as root)"
    )]
    Missing {
        /// Which lab server.
        server: &'static str,
        /// The binary that was looked for.
        binary: &'static str,
        /// The Debian package that ships it.
        package: &'static str,
    },
    /// The server process could not be started or exited early.
    #[error("{server} did not start: {reason}\n--- last log lines ---\n{log}")]
    Start {
        /// Which lab server.
        server: &'static str,
        /// What happened.
        reason: String,
        /// The tail of the server's log.
        log: String,
    },
    /// The server runs but did not answer in time.
    #[error("{server} did not answer within {waited:?}\n--- last log lines ---\n{log}")]
    NotReady {
        /// Which lab server.
        server: &'static str,
        /// How long the lab waited.
        waited: Duration,
        /// The tail of the server's log.
        log: String,
    },
    /// A stock tool (slapadd, ldapadd, …) failed.
    #[error("{tool} failed (exit status {status:?}): {stderr}")]
    Tool {
        /// The tool that failed.
        tool: &'static str,
        /// Its exit code, if it exited.
        status: Option<i32>,
        /// What it printed on stderr.
        stderr: String,
    },
    /// The server needs a privilege this process lacks (root for network
    /// namespaces).
    #[error("{server}: {reason}")]
    NotPermitted {
        /// Which lab server.
        server: &'static str,
        /// What is missing.
        reason: String,
    },
    /// The test asked for something the lab cannot provide.
    #[error("invalid lab setup: {0}")]
    Invalid(String),
    /// Filesystem or socket error in the lab itself.
    #[error("lab I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// True when the environment demands every lab server (`ANNEXR_LAB=require`).
pub fn lab_required() -> bool {
    std::env::var("ANNEXR_LAB").is_ok_and(|v| v.eq_ignore_ascii_case("require"))
}

/// Turns a lab start result into `Some(server)`, or `None` (after printing
/// why) when the server binary is missing and the lab is not required.
///
/// # Panics
/// On any other error, and on a missing binary under `ANNEXR_LAB=require`:
/// in a test that is the failure it should be.
#[allow(clippy::panic)]
pub fn or_skip<T>(result: Result<T, LabError>) -> Option<T> {
    match result {
        Ok(server) => Some(server),
        Err(missing @ (LabError::Missing { .. } | LabError::NotPermitted { .. }))
            if !lab_required() =>
        {
            eprintln!("SKIPPED (lab server unavailable): {missing}");
            None
        }
        Err(other) => panic!("lab server failed: {other}"),
    }
}

/// Prints the one line per started server that the test log shows: name,
/// version, address and start-to-ready time.
/// With `ANNEXR_LAB_LOG=FILE` the line is also appended to FILE, so that a
/// test run (whose output cargo captures) can list every server it started.
fn announce(server: &str, version: &str, addr: &str, ready_after: Duration) {
    let line = format!(
        "annexr-lab: {server} ready on {addr} in {:.1} ms [{version}]",
        ready_after.as_secs_f64() * 1000.0
    );
    eprintln!("{line}");
    if let Some(path) = std::env::var_os("ANNEXR_LAB_LOG") {
        let _ = append_line(std::path::Path::new(&path), &line);
    }
}

/// Appends `line` and its newline to `path` in one write(2) on an O_APPEND
/// file: test binaries append concurrently, and `writeln!` may write a line
/// and its newline separately, gluing another process's line in between.
fn append_line(path: &std::path::Path, line: &str) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(format!("{line}\n").as_bytes())
}

/// Starts a server with a freshly chosen port, retrying a few times when
/// another process grabbed the port between choosing and binding it.
fn with_port_retry<T>(mut attempt: impl FnMut(u16) -> Result<T, LabError>) -> Result<T, LabError> {
    let mut last = None;
    for _ in 0..3 {
        let port = process::free_port()?;
        match attempt(port) {
            Ok(server) => return Ok(server),
            Err(e @ LabError::Start { .. }) => last = Some(e),
            Err(other) => return Err(other),
        }
    }
    Err(last.unwrap_or_else(|| LabError::Invalid("no start attempt ran".into())))
}

#[cfg(test)]
mod tests {
    #[test]
    fn concurrent_appends_keep_every_line_whole() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string());
        let path = dir
            .as_ref()
            .map(|d| d.path().join("servers.log"))
            .unwrap_or_default();
        let writers: Vec<_> = (0..8)
            .map(|w| {
                let path = path.clone();
                std::thread::spawn(move || {
                    for i in 0..200 {
                        let _ =
                            super::append_line(&path, &format!("annexr-lab: w{w} line {i} end"));
                    }
                })
            })
            .collect();
        for writer in writers {
            let _ = writer.join();
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(text.lines().count(), 8 * 200);
        assert!(
            text.lines().all(|l| l.starts_with("annexr-lab: w")
                && l.ends_with(" end")
                && l.matches("annexr-lab").count() == 1),
            "{text}"
        );
    }
}
