//! A DHCP server on a private link: two network namespaces of the lab's own
//! joined by a veth pair, 10.231.0.0/24 inside them only. The server
//! (dnsmasq or ISC kea) runs in one; the client under test in the other.
//! Needs root; everything is torn down on drop.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use tempfile::TempDir;

use crate::process::{Readiness, ServerProcess, find_binary, is_root, run_tool, version_of};
use crate::{LabError, announce};

/// Which DHCP server implementation serves the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// Test harness: tests match every lab server so that a new one is handled everywhere.
#[allow(clippy::exhaustive_enums)]
pub enum DhcpServer {
    /// dnsmasq's DHCP server (pings an address before offering it, ~3 s).
    Dnsmasq,
    /// ISC kea-dhcp4 (raw sockets).
    Kea,
}

/// The values the lab's DHCP server hands out, for tests to compare with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpExpected {
    /// The server's own address (also router, DNS and NTP server).
    pub server: Ipv4Addr,
    /// First address of the pool.
    pub pool_start: Ipv4Addr,
    /// Last address of the pool.
    pub pool_end: Ipv4Addr,
    /// Option 1.
    pub netmask: Ipv4Addr,
    /// Option 3.
    pub router: Ipv4Addr,
    /// Option 6.
    pub dns_servers: Vec<Ipv4Addr>,
    /// Option 42.
    pub ntp_servers: Vec<Ipv4Addr>,
    /// Option 15.
    pub domain_name: String,
    /// Option 2, seconds east of UTC.
    pub time_offset: i32,
    /// Option 100 (RFC 4833 PCode).
    pub posix_tz: String,
    /// Option 101 (RFC 4833 TCode).
    pub tz_database_name: String,
    /// Option 119.
    pub domain_search: Vec<String>,
    /// Option 51, seconds.
    pub lease_secs: u32,
}

impl DhcpExpected {
    fn new(lease_secs: u32) -> Self {
        let server = Ipv4Addr::new(10, 231, 0, 1);
        DhcpExpected {
            server,
            pool_start: Ipv4Addr::new(10, 231, 0, 100),
            pool_end: Ipv4Addr::new(10, 231, 0, 150),
            netmask: Ipv4Addr::new(255, 255, 255, 0),
            router: server,
            dns_servers: vec![server],
            ntp_servers: vec![server],
            domain_name: "hospital.example".into(),
            time_offset: 3600,
            posix_tz: "CET-1CEST,M3.5.0,M10.5.0/3".into(),
            tz_database_name: "Europe/Vienna".into(),
            domain_search: vec![
                "hospital.example".into(),
                "radiology.hospital.example".into(),
            ],
            lease_secs,
        }
    }
}

/// Configures a [`DhcpLab`] before it starts.
#[derive(Debug, Clone)]
pub struct DhcpLabBuilder {
    server: DhcpServer,
    lease_secs: u32,
    assigned_name: Option<String>,
}

impl DhcpLabBuilder {
    /// Lease time in seconds (default 120; T1 and T2 follow as 1/2 and 7/8).
    pub fn lease_secs(mut self, secs: u32) -> Self {
        self.lease_secs = secs;
        self
    }

    /// A machine name the server assigns to every client (dnsmasq only: a
    /// `dhcp-host` entry for any hardware address), as a site does with a
    /// reservation (R.1.2.2 step 1).
    pub fn assigned_name(mut self, name: &str) -> Self {
        self.assigned_name = Some(name.to_string());
        self
    }

    /// Creates the namespaces and the link, starts the server, and waits
    /// until it runs.
    pub fn start(self) -> Result<DhcpLab, LabError> {
        let ip = find_binary("dhcp lab", "ip", "iproute2")?;
        let (server_name, binary, package) = match self.server {
            DhcpServer::Dnsmasq => ("dnsmasq-dhcp", "dnsmasq", "dnsmasq"),
            DhcpServer::Kea => ("kea-dhcp4", "kea-dhcp4", "kea-dhcp4-server"),
        };
        let server_binary = find_binary(server_name, binary, package)?;
        if !is_root() {
            return Err(LabError::NotPermitted {
                server: server_name,
                reason: "network namespaces need root (CI runs as root)".into(),
            });
        }
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let unique = format!(
            "{}{}",
            std::process::id() % 100_000,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let dir = tempfile::Builder::new().prefix("annexr-dhcp-").tempdir()?;
        let mut lab = DhcpLab {
            server_ns: format!("annexr-s{unique}"),
            client_ns: format!("annexr-c{unique}"),
            server_if: format!("axs{unique}"),
            client_if: format!("axc{unique}"),
            ip,
            expected: DhcpExpected::new(self.lease_secs),
            kind: self.server,
            assigned_name: self.assigned_name.clone(),
            process: None,
            dir,
        };
        lab.create_link()?;
        let version = match self.server {
            DhcpServer::Dnsmasq => version_of(&server_binary, &["--version"]),
            DhcpServer::Kea => version_of(&server_binary, &["-V"]),
        };
        let process = match self.server {
            DhcpServer::Dnsmasq => lab.spawn_dnsmasq(&server_binary)?,
            DhcpServer::Kea => lab.spawn_kea(&server_binary)?,
        };
        announce(
            server_name,
            &version,
            &format!("{}@netns:{}", lab.server_if, lab.server_ns),
            process.ready_after,
        );
        lab.process = Some(process);
        Ok(lab)
    }
}

/// Two network namespaces joined by a veth pair with a DHCP server in one.
#[derive(Debug)]
pub struct DhcpLab {
    server_ns: String,
    client_ns: String,
    server_if: String,
    client_if: String,
    ip: PathBuf,
    expected: DhcpExpected,
    kind: DhcpServer,
    assigned_name: Option<String>,
    process: Option<ServerProcess>,
    dir: TempDir,
}

impl DhcpLab {
    /// A builder for `server` with a 120 s lease.
    pub fn builder(server: DhcpServer) -> DhcpLabBuilder {
        DhcpLabBuilder {
            server,
            lease_secs: 120,
            assigned_name: None,
        }
    }

    /// Starts `server` with the defaults.
    pub fn start(server: DhcpServer) -> Result<DhcpLab, LabError> {
        Self::builder(server).start()
    }

    /// The client-side interface (inside [`DhcpLab::client_netns`]).
    pub fn client_ifname(&self) -> &str {
        &self.client_if
    }

    /// The client namespace's name (`ip netns exec NAME …`).
    pub fn client_netns(&self) -> &str {
        &self.client_ns
    }

    /// The server namespace's name.
    pub fn server_netns(&self) -> &str {
        &self.server_ns
    }

    /// Which server runs.
    pub fn server_kind(&self) -> DhcpServer {
        self.kind
    }

    /// What the server hands out.
    pub fn expected(&self) -> &DhcpExpected {
        &self.expected
    }

    /// Runs `f` on a new thread that has entered the client namespace and
    /// returns its result. Build a current-thread tokio runtime inside `f`
    /// for async code: every socket it opens lives in the namespace.
    pub fn in_client_ns<R: Send>(&self, f: impl FnOnce() -> R + Send) -> Result<R, LabError> {
        crate::process::run_in_netns(&self.client_ns, "the client namespace", f)
    }

    /// A command that runs `program` inside the client namespace (for stock
    /// clients such as busybox udhcpc).
    pub fn client_command(&self, program: &str) -> Command {
        let mut cmd = Command::new(&self.ip);
        cmd.args(["netns", "exec", &self.client_ns, program]);
        cmd
    }

    /// Stops the DHCP server, keeping the link: clients then get no answer.
    pub fn stop_server(&mut self) {
        self.process = None;
    }

    /// The DHCP server's log so far (every DISCOVER, REQUEST, RELEASE, …).
    pub fn server_log(&self) -> String {
        std::fs::read(self.dir.path().join("server.log"))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The server's lease database file as text.
    pub fn leases(&self) -> String {
        let name = match self.kind {
            DhcpServer::Dnsmasq => "leases",
            DhcpServer::Kea => "leases.csv",
        };
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    /// Adds `ms` of delay to every packet the server side sends (netem), to
    /// make the link behave like a WAN.
    pub fn add_delay_ms(&self, ms: u32) -> Result<(), LabError> {
        self.ip_cmd(&["-n", &self.server_ns, "link", "set", &self.server_if, "up"])?;
        let tc = find_binary("dhcp lab", "tc", "iproute2")?;
        run_tool(
            "tc",
            Command::new(tc)
                .args([
                    "-n",
                    &self.server_ns,
                    "qdisc",
                    "replace",
                    "dev",
                    &self.server_if,
                    "root",
                    "netem",
                    "delay",
                ])
                .arg(format!("{ms}ms")),
            None,
        )
        .map(|_| ())
    }

    fn ip_cmd(&self, args: &[&str]) -> Result<String, LabError> {
        run_tool("ip", Command::new(&self.ip).args(args), None)
    }

    fn create_link(&self) -> Result<(), LabError> {
        let (s, c) = (self.server_ns.as_str(), self.client_ns.as_str());
        let (si, ci) = (self.server_if.as_str(), self.client_if.as_str());
        let server_addr = format!("{}/24", self.expected.server);
        let steps: [&[&str]; 9] = [
            &["netns", "add", s],
            &["netns", "add", c],
            &["link", "add", si, "type", "veth", "peer", "name", ci],
            &["link", "set", si, "netns", s],
            &["link", "set", ci, "netns", c],
            &["-n", s, "addr", "add", &server_addr, "dev", si],
            &["-n", s, "link", "set", si, "up"],
            &["-n", c, "link", "set", ci, "up"],
            &["-n", c, "link", "set", "lo", "up"],
        ];
        for step in steps {
            self.ip_cmd(step)?;
        }
        self.ip_cmd(&["-n", s, "link", "set", "lo", "up"])?;
        Ok(())
    }

    fn spawn_dnsmasq(&self, binary: &Path) -> Result<ServerProcess, LabError> {
        let e = &self.expected;
        let mut cmd = Command::new(&self.ip);
        cmd.args(["netns", "exec", &self.server_ns])
            .arg(binary)
            .args([
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--port=0",
                "--bind-interfaces",
                "--log-dhcp",
                "--log-facility=-",
            ])
            .arg(format!("--interface={}", self.server_if))
            .arg(format!(
                "--dhcp-range={},{},{}",
                e.pool_start, e.pool_end, e.lease_secs
            ))
            .arg(format!(
                "--dhcp-leasefile={}",
                self.dir.path().join("leases").display()
            ))
            .arg(format!(
                "--pid-file={}",
                self.dir.path().join("dnsmasq.pid").display()
            ))
            .arg(format!("--dhcp-option=6,{}", join(&e.dns_servers)))
            .arg(format!("--dhcp-option=42,{}", join(&e.ntp_servers)))
            .arg(format!("--dhcp-option=15,{}", e.domain_name))
            .arg(format!("--dhcp-option=2,{}", e.time_offset))
            // Unquoted: on the command line dnsmasq would keep quotes in the value.
            .arg(format!("--dhcp-option=100,{}", e.posix_tz))
            .arg(format!("--dhcp-option=101,{}", e.tz_database_name))
            .arg(format!("--dhcp-option=119,{}", e.domain_search.join(",")));
        if let Some(name) = &self.assigned_name {
            cmd.arg(format!("--dhcp-host=*:*:*:*:*:*,{name}"));
        }
        ServerProcess::spawn(
            "dnsmasq-dhcp",
            cmd,
            &self.dir.path().join("server.log"),
            Readiness::LogLine("DHCP, IP range".into()),
        )
    }

    fn spawn_kea(&self, binary: &Path) -> Result<ServerProcess, LabError> {
        let e = &self.expected;
        let conf = format!(
            r#"{{ "Dhcp4": {{
  "interfaces-config": {{ "interfaces": ["{iface}"], "dhcp-socket-type": "raw" }},
  "lease-database": {{ "type": "memfile", "persist": true, "name": "{leases}", "lfc-interval": 0 }},
  "valid-lifetime": {lease}, "renew-timer": {t1}, "rebind-timer": {t2},
  "authoritative": true,
  "subnet4": [ {{ "id": 1, "subnet": "10.231.0.0/24",
     "pools": [ {{ "pool": "{start} - {end}" }} ],
     "option-data": [
       {{ "name": "routers", "data": "{router}" }},
       {{ "name": "domain-name-servers", "data": "{dns}" }},
       {{ "name": "ntp-servers", "data": "{ntp}" }},
       {{ "name": "domain-name", "data": "{domain}" }},
       {{ "name": "time-offset", "data": "{offset}" }},
       {{ "name": "pcode", "data": "{pcode_escaped}" }},
       {{ "name": "tcode", "data": "{tcode}" }},
       {{ "name": "domain-search", "data": "{search}" }}
     ] }} ],
  "loggers": [ {{ "name": "kea-dhcp4", "output_options": [ {{ "output": "stdout" }} ],
                 "severity": "DEBUG", "debuglevel": 40 }} ]
}} }}"#,
            iface = self.server_if,
            leases = self.dir.path().join("leases.csv").display(),
            lease = e.lease_secs,
            t1 = e.lease_secs / 2,
            t2 = e.lease_secs / 8 * 7,
            start = e.pool_start,
            end = e.pool_end,
            router = e.router,
            dns = join(&e.dns_servers),
            ntp = join(&e.ntp_servers),
            domain = e.domain_name,
            offset = e.time_offset,
            // Kea splits option data at commas unless they are escaped.
            pcode_escaped = e.posix_tz.replace(',', "\\\\,"),
            tcode = e.tz_database_name,
            search = e.domain_search.join(", "),
        );
        let conf_path = self.dir.path().join("kea.json");
        std::fs::write(&conf_path, conf)?;
        let mut cmd = Command::new(&self.ip);
        cmd.args(["netns", "exec", &self.server_ns])
            .arg(binary)
            .arg("-c")
            .arg(&conf_path)
            .env("KEA_LOCKFILE_DIR", self.dir.path())
            .env("KEA_PIDFILE_DIR", self.dir.path());
        ServerProcess::spawn(
            "kea-dhcp4",
            cmd,
            &self.dir.path().join("server.log"),
            Readiness::LogLine("DHCP4_STARTED".into()),
        )
    }
}

fn join(addrs: &[Ipv4Addr]) -> String {
    addrs
        .iter()
        .map(Ipv4Addr::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

impl Drop for DhcpLab {
    fn drop(&mut self) {
        // Stop the server first: it holds the namespace's interface.
        self.process = None;
        for ns in [&self.server_ns, &self.client_ns] {
            let _ = Command::new(&self.ip)
                .args(["netns", "del", ns])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}
