//! dnsmasq as an authoritative-only DNS server for SRV, A/AAAA and TXT records.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;

use crate::dns::{DnsServer, DnsServerKind, DnsZone, Record};
use crate::process::{Readiness, ServerProcess, find_binary, version_of};
use crate::{LabError, announce, with_port_retry};

/// The lab's default DNS server: [`DnsServer`] started by [`DnsZone::start`].
pub type Dnsmasq = DnsServer;
/// Builds the records of a [`Dnsmasq`] (or of any [`DnsServerKind`]).
pub type DnsmasqBuilder = DnsZone;

/// The dnsmasq options that serve one record.
fn option(record: &Record) -> String {
    match record {
        Record::Srv(s) => format!(
            "--srv-host={},{},{},{},{}",
            s.name, s.target, s.port, s.priority, s.weight
        ),
        // Target "." with port 0, as the other families serve it (a bare
        // `--srv-host=NAME` would say port 1).
        Record::NotOffered(name) => format!("--srv-host={name},.,0"),
        Record::Host(name, addr) => format!("--host-record={name},{addr}"),
        Record::Txt(name, text) => format!("--txt-record={name},{text}"),
        Record::Cname(alias, target) => format!("--cname={alias},{target}"),
    }
}

/// Starts dnsmasq with the zone's records and waits until it accepts TCP
/// connections.
pub(crate) fn start(zone: &DnsZone) -> Result<DnsServer, LabError> {
    let binary = find_binary("dnsmasq", "dnsmasq", "dnsmasq")?;
    let version = version_of(&binary, &["--version"]);
    let dir = tempfile::Builder::new()
        .prefix("annexr-dnsmasq-")
        .tempdir()?;
    let log_path = dir.path().join("dnsmasq.log");
    let (addr, process) = with_port_retry(|port| {
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
        .arg(format!("--local-ttl={}", zone.record_ttl()))
        .args(zone.records.iter().map(option))
        .args(zone.local_domains.iter().map(|d| format!("--local=/{d}/")));
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let process = ServerProcess::spawn("dnsmasq", cmd, &log_path, Readiness::Tcp(addr))?;
        Ok((addr, process))
    })?;
    announce("dnsmasq", &version, &addr.to_string(), process.ready_after);
    Ok(DnsServer {
        kind: DnsServerKind::Dnsmasq,
        addr,
        version,
        process,
        log_path,
        _dir: dir,
    })
}
