//! ntpsec's ntpd as a second NTP server family beside chronyd.
//!
//! ntpd always serves on UDP port 123, so each one runs in a network
//! namespace of its own (root only, like the DHCP lab), on that namespace's
//! loopback. Its Debian package conflicts with chrony's, so `cargo xtask`
//! extracts it under target/lab-pkgs/ntpsec instead of installing it.
//!
//! ntpd runs without the CAP_SYS_TIME capability (`setpriv`), so it cannot
//! touch the host clock whatever its configuration says.
//!
//! Synchronized, its time source is a chronyd (`-x`, also without
//! CAP_SYS_TIME) in a second namespace joined by a veth pair: ntpd does not
//! take one of its own addresses, 127.0.0.2 included, as a server.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::process::{Readiness, ServerProcess, find_binary, is_root, run_tool, version_of};
use crate::{LabError, announce};

/// ntpd's side of the veth link to its time source.
const NTPD_LINK_ADDR: Ipv4Addr = Ipv4Addr::new(10, 233, 0, 1);
/// The time source's (chronyd's) side.
const SOURCE_LINK_ADDR: Ipv4Addr = Ipv4Addr::new(10, 233, 0, 2);
/// How long ntpd may take to synchronize to its source (iburst: seconds).
const SYNC_TIMEOUT: Duration = Duration::from_secs(60);

/// A running ntpsec ntpd in a network namespace of its own.
///
/// Unsynchronized, it has no time source and answers every client with leap
/// indicator 3 and the Kiss-o'-Death code INIT ("not synchronized yet"), as
/// any ntpd does between its start and its first synchronization.
/// Synchronized, it serves the time of a lab chronyd at stratum 9.
#[derive(Debug)]
pub struct Ntpsec {
    netns: String,
    /// The time source's namespace, when synchronized.
    source_netns: Option<String>,
    ip: PathBuf,
    version: String,
    process: Option<ServerProcess>,
    source: Option<ServerProcess>,
    dir: TempDir,
}

impl Ntpsec {
    /// Creates a network namespace, starts ntpd in it without a time source
    /// and waits until it listens on the namespace's 127.0.0.1:123.
    pub fn start_unsynchronized() -> Result<Ntpsec, LabError> {
        Self::start(false)
    }

    /// Creates two network namespaces joined by a veth pair, starts chronyd
    /// (`local stratum 8`, host clock untouched) in one and ntpd using it as
    /// its server in the other, and waits until ntpd serves synchronized
    /// time (leap indicator 0-2, a stratum below 16): a few seconds.
    pub fn start_synchronized() -> Result<Ntpsec, LabError> {
        Self::start(true)
    }

    fn start(synchronized: bool) -> Result<Ntpsec, LabError> {
        let ntpd = find_binary("ntpsec", "ntpd", "ntpsec")?;
        let ip = find_binary("ntpsec", "ip", "iproute2")?;
        let setpriv = find_binary("ntpsec", "setpriv", "util-linux")?;
        if !is_root() {
            return Err(LabError::NotPermitted {
                server: "ntpsec",
                reason: "ntpd serves on port 123 in a network namespace, which needs root (CI runs as root)".into(),
            });
        }
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let netns = format!(
            "annexr-ntp{}{}",
            std::process::id() % 100_000,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let dir = tempfile::Builder::new()
            .prefix("annexr-ntpsec-")
            .tempdir()?;
        let mut server = Ntpsec {
            source_netns: synchronized.then(|| format!("{netns}t")),
            netns,
            ip,
            version: version_of(&ntpd, &["--version"]),
            process: None,
            source: None,
            dir,
        };
        server.ip(&["netns", "add", &server.netns])?;
        server.ip(&["-n", &server.netns, "link", "set", "lo", "up"])?;
        if let Some(source_netns) = server.source_netns.clone() {
            server.start_source(&source_netns, &setpriv)?;
        }
        let conf = server.dir.path().join("ntp.conf");
        std::fs::write(
            &conf,
            ntp_conf(server.dir.path(), synchronized.then_some(SOURCE_LINK_ADDR))?,
        )?;
        let mut cmd = Command::new(&server.ip);
        // setpriv drops CAP_SYS_TIME from the bounding and inheritable sets:
        // ntpd (even as root) can then neither step nor slew the clock.
        cmd.args(["netns", "exec", &server.netns])
            .arg(&setpriv)
            .args([
                "--bounding-set",
                "-sys_time",
                "--inh-caps",
                "-sys_time",
                "--",
            ])
            .arg(&ntpd)
            .args(["-n", "-c"])
            .arg(&conf);
        let process = ServerProcess::spawn(
            "ntpsec",
            cmd,
            &server.dir.path().join("ntpd.log"),
            Readiness::LogLine("Listen normally on 2 lo 127.0.0.1:123".into()),
        )?;
        let spawned = Instant::now();
        let mut ready_after = process.ready_after;
        server.process = Some(process);
        if synchronized {
            server.wait_synchronized()?;
            ready_after += spawned.elapsed();
        }
        // Synchronized, "ready" includes the time to synchronize.
        let name = if synchronized {
            "ntpsec (synchronized)"
        } else {
            "ntpsec"
        };
        announce(
            name,
            &server.version,
            &format!("{}@netns:{}", server.addr(), server.netns),
            ready_after,
        );
        Ok(server)
    }

    fn ip(&self, args: &[&str]) -> Result<String, LabError> {
        run_tool("ip", Command::new(&self.ip).args(args), None)
    }

    /// The veth link and chronyd, ntpd's time source, in `source_netns`.
    fn start_source(&mut self, source_netns: &str, setpriv: &Path) -> Result<(), LabError> {
        let chronyd = find_binary("ntpsec (time source)", "chronyd", "chrony")?;
        let unique = &source_netns["annexr-ntp".len()..];
        let (ntpd_if, source_if) = (format!("axn{unique}"), format!("axt{unique}"));
        let (ns, sns) = (self.netns.clone(), source_netns.to_string());
        let ntpd_addr = format!("{NTPD_LINK_ADDR}/24");
        let source_addr = format!("{SOURCE_LINK_ADDR}/24");
        let steps: [&[&str]; 8] = [
            &["netns", "add", &sns],
            &[
                "link", "add", &ntpd_if, "type", "veth", "peer", "name", &source_if,
            ],
            &["link", "set", &ntpd_if, "netns", &ns],
            &["link", "set", &source_if, "netns", &sns],
            &["-n", &ns, "addr", "add", &ntpd_addr, "dev", &ntpd_if],
            &["-n", &sns, "addr", "add", &source_addr, "dev", &source_if],
            &["-n", &ns, "link", "set", &ntpd_if, "up"],
            &["-n", &sns, "link", "set", &source_if, "up"],
        ];
        for step in steps {
            self.ip(step)?;
        }
        let conf = self.dir.path().join("chrony.conf");
        std::fs::write(
            &conf,
            format!(
                "port 123\nbindaddress {SOURCE_LINK_ADDR}\nlocal stratum 8\nallow {NTPD_LINK_ADDR}\ncmdport 0\npidfile {}\n",
                self.dir.path().join("chronyd.pid").display()
            ),
        )?;
        let mut cmd = Command::new(&self.ip);
        // -x: never set the clock; setpriv makes sure of it.
        cmd.args(["netns", "exec", &sns])
            .arg(setpriv)
            .args([
                "--bounding-set",
                "-sys_time",
                "--inh-caps",
                "-sys_time",
                "--",
            ])
            .arg(&chronyd)
            .args(["-x", "-d", "-f"])
            .arg(&conf);
        self.source = Some(ServerProcess::spawn(
            "chronyd (ntpsec's time source)",
            cmd,
            &self.dir.path().join("chronyd.log"),
            Readiness::LogLine("chronyd version".into()),
        )?);
        Ok(())
    }

    /// Polls ntpd from inside its namespace until its replies say
    /// synchronized.
    fn wait_synchronized(&self) -> Result<(), LabError> {
        let addr = self.addr();
        let synchronized = self.in_netns(|| {
            let started = Instant::now();
            while started.elapsed() < SYNC_TIMEOUT {
                if let Some((leap, stratum)) = ntp_status(addr)
                    && leap != 3
                    && (1..16).contains(&stratum)
                {
                    return true;
                }
                // ntpd stops answering a client that asks several times a
                // second for long (rate limiting): once a second is fine.
                std::thread::sleep(Duration::from_secs(1));
            }
            false
        })?;
        if synchronized {
            Ok(())
        } else {
            Err(LabError::NotReady {
                server: "ntpsec (synchronized)",
                waited: SYNC_TIMEOUT,
                log: self.log(),
            })
        }
    }

    /// The address it serves on, inside [`Ntpsec::netns`]: 127.0.0.1:123,
    /// or, synchronized, its address on the link to its time source.
    pub fn addr(&self) -> SocketAddr {
        if self.source_netns.is_some() {
            SocketAddr::from((NTPD_LINK_ADDR, 123))
        } else {
            SocketAddr::from((Ipv4Addr::LOCALHOST, 123))
        }
    }

    /// The network namespace's name (`ip netns exec NAME …`).
    pub fn netns(&self) -> &str {
        &self.netns
    }

    /// ntpd's version line.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// ntpd's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("ntpd.log")).unwrap_or_default()
    }

    /// Runs `f` on a new thread that has entered the server's namespace and
    /// returns its result: every socket `f` opens (a current-thread tokio
    /// runtime built inside it too) reaches [`Ntpsec::addr`].
    pub fn in_netns<R: Send>(&self, f: impl FnOnce() -> R + Send) -> Result<R, LabError> {
        crate::process::run_in_netns(&self.netns, "the ntpsec namespace", f)
    }
}

/// Without `source`, no `server`, `pool` or `refclock` line: ntpd never
/// synchronizes. With one, it polls it fast (iburst, 2 s). A drift file
/// (frequency 0) lets ntpd take its first good sample at once instead of
/// measuring the frequency for 5 minutes. Every file stays in `dir`.
fn ntp_conf(dir: &Path, source: Option<Ipv4Addr>) -> Result<String, LabError> {
    let drift = dir.join("ntp.drift");
    std::fs::write(&drift, "0.000\n")?;
    let mut conf = format!(
        "# annexr lab\n\
         statsdir {dir}/\n\
         driftfile {drift}\n\
         disable kernel\n\
         restrict default nomodify noquery\n",
        dir = dir.display(),
        drift = drift.display(),
    );
    if let Some(source) = source {
        conf.push_str(&format!("server {source} iburst minpoll 1 maxpoll 1\n"));
    }
    Ok(conf)
}

/// Leap indicator and stratum of one reply to an NTP client request.
fn ntp_status(addr: SocketAddr) -> Option<(u8, u8)> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .ok()?;
    let mut request = [0u8; 48];
    request[0] = 0x23; // LI 0, version 4, mode 3 (client)
    socket.send_to(&request, addr).ok()?;
    let mut reply = [0u8; 68];
    match socket.recv_from(&mut reply) {
        Ok((n, _)) if n >= 48 => Some((reply[0] >> 6, reply[1])),
        _ => None,
    }
}

impl Drop for Ntpsec {
    fn drop(&mut self) {
        // Stop the servers first: they hold the namespaces' sockets.
        self.process = None;
        self.source = None;
        for ns in std::iter::once(&self.netns).chain(&self.source_netns) {
            let _ = Command::new(&self.ip)
                .args(["netns", "del", ns])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}
