//! dnsmasq as an authoritative-only DNS server for SRV, A/AAAA and TXT records.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Command;

use tempfile::TempDir;

use crate::process::{Readiness, ServerProcess, find_binary, version_of};
use crate::{LabError, announce, with_port_retry};

/// One SRV record: `name` is the full owner, e.g. `_ldap._tcp.example.org`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrvRecord {
    name: String,
    target: String,
    port: u16,
    priority: u16,
    weight: u16,
}

impl SrvRecord {
    /// A record with priority 0 and weight 0.
    pub fn new(name: &str, target: &str, port: u16) -> Self {
        SrvRecord {
            name: name.to_string(),
            target: target.to_string(),
            port,
            priority: 0,
            weight: 0,
        }
    }

    /// Sets the priority (lower is tried first).
    pub fn priority(mut self, priority: u16) -> Self {
        self.priority = priority;
        self
    }

    /// Sets the weight (share within one priority).
    pub fn weight(mut self, weight: u16) -> Self {
        self.weight = weight;
        self
    }

    fn to_arg(&self) -> String {
        format!(
            "--srv-host={},{},{},{},{}",
            self.name, self.target, self.port, self.priority, self.weight
        )
    }
}

/// Configures a [`Dnsmasq`] before it starts.
#[derive(Debug, Clone, Default)]
pub struct DnsmasqBuilder {
    args: Vec<String>,
    ttl: Option<u32>,
}

impl DnsmasqBuilder {
    /// Adds an SRV record.
    pub fn srv(mut self, record: SrvRecord) -> Self {
        self.args.push(record.to_arg());
        self
    }

    /// Adds the single SRV record with target "." that says the service is
    /// decidedly not offered under `name` (RFC 2782).
    pub fn srv_not_offered(mut self, name: &str) -> Self {
        self.args.push(format!("--srv-host={name}"));
        self
    }

    /// Adds an A or AAAA record (a name may be given several times).
    pub fn host(mut self, name: &str, addr: IpAddr) -> Self {
        self.args.push(format!("--host-record={name},{addr}"));
        self
    }

    /// Adds a TXT record.
    pub fn txt(mut self, name: &str, text: &str) -> Self {
        self.args.push(format!("--txt-record={name},{text}"));
        self
    }

    /// Adds a CNAME record (`alias` points at `target`).
    pub fn cname(mut self, alias: &str, target: &str) -> Self {
        self.args.push(format!("--cname={alias},{target}"));
        self
    }

    /// Makes dnsmasq authoritative for `domain` (`--local=/domain/`): a name
    /// under it without records answers NXDOMAIN, a name with records of
    /// another type answers with no data (NODATA), instead of REFUSED.
    pub fn local_domain(mut self, domain: &str) -> Self {
        self.args.push(format!("--local=/{domain}/"));
        self
    }

    /// The TTL in seconds of every record (dnsmasq `--local-ttl`; default 0).
    pub fn ttl(mut self, seconds: u32) -> Self {
        self.ttl = Some(seconds);
        self
    }

    /// Starts dnsmasq and waits until it accepts TCP connections.
    pub fn start(self) -> Result<Dnsmasq, LabError> {
        let binary = find_binary("dnsmasq", "dnsmasq", "dnsmasq")?;
        let version = version_of(&binary, &["--version"]);
        let dir = tempfile::Builder::new()
            .prefix("annexr-dnsmasq-")
            .tempdir()?;
        let server = with_port_retry(|port| {
            let mut cmd = Command::new(&binary);
            cmd.args([
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--no-poll",
                "--bind-interfaces",
                "--listen-address=127.0.0.1",
                "--log-facility=-",
                "--log-queries",
            ])
            .arg(format!("--port={port}"))
            .arg(format!(
                "--pid-file={}",
                dir.path().join("dnsmasq.pid").display()
            ))
            .arg(format!("--local-ttl={}", self.ttl.unwrap_or(0)))
            .args(&self.args);
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let process = ServerProcess::spawn(
                "dnsmasq",
                cmd,
                &dir.path().join("dnsmasq.log"),
                Readiness::Tcp(addr),
            )?;
            Ok((addr, process))
        })?;
        let (addr, process) = server;
        announce("dnsmasq", &version, &addr.to_string(), process.ready_after);
        Ok(Dnsmasq {
            addr,
            version,
            process,
            dir,
        })
    }
}

/// A running dnsmasq answering only the records it was given (no upstream).
#[derive(Debug)]
pub struct Dnsmasq {
    addr: SocketAddr,
    version: String,
    process: ServerProcess,
    dir: TempDir,
}

impl Dnsmasq {
    /// A builder with no records.
    pub fn builder() -> DnsmasqBuilder {
        DnsmasqBuilder::default()
    }

    /// The address it answers on, over UDP and TCP.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// dnsmasq's version line.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Time from spawn to the first accepted connection.
    pub fn ready_after(&self) -> std::time::Duration {
        self.process.ready_after
    }

    /// The query log so far (dnsmasq `--log-queries`): one line per query,
    /// which lets tests count the queries a client sent.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dnsmasq.log")).unwrap_or_default()
    }
}
