//! unbound as a DNS server for local data only: a static local zone per
//! domain of a [`DnsZone`], everything else REFUSED, so that it never
//! recurses to the internet. Every query is logged.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;

use crate::dns::{DnsServer, DnsServerKind, DnsZone};
use crate::process::{Readiness, ServerProcess, find_binary, version_of};
use crate::{LabError, announce, with_port_retry};

/// Starts `unbound -d` with the zone's records on a free loopback port and
/// waits until it accepts TCP connections.
pub(crate) fn start(zone: &DnsZone) -> Result<DnsServer, LabError> {
    let binary = find_binary("unbound", "unbound", "unbound")?;
    let version = version_of(&binary, &["-V"]);
    let dir = tempfile::Builder::new()
        .prefix("annexr-unbound-")
        .tempdir()?;
    let log_path = dir.path().join("unbound.log");
    let (addr, process) = with_port_retry(|port| {
        let conf = dir.path().join("unbound.conf");
        std::fs::write(&conf, unbound_conf(zone, dir.path(), port))?;
        let mut cmd = Command::new(&binary);
        // -d: foreground; the log goes to stderr (logfile "").
        cmd.arg("-d").arg("-c").arg(&conf);
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let process = ServerProcess::spawn("unbound", cmd, &log_path, Readiness::Tcp(addr))?;
        Ok((addr, process))
    })?;
    announce("unbound", &version, &addr.to_string(), process.ready_after);
    Ok(DnsServer {
        kind: DnsServerKind::Unbound,
        addr,
        version,
        process,
        log_path,
        _dir: dir,
    })
}

fn unbound_conf(zone: &DnsZone, dir: &Path, port: u16) -> String {
    let mut conf = format!(
        r#"server:
    interface: 127.0.0.1
    port: {port}
    do-ip6: no
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "{dir}"
    pidfile: "{dir}/unbound.pid"
    use-syslog: no
    logfile: ""
    log-queries: yes
    verbosity: 1
    num-threads: 1
    so-reuseport: no
    access-control: 127.0.0.0/8 allow
    module-config: "iterator"
    # Nothing outside the local zones: no query ever leaves the machine.
    local-zone: "." refuse
"#,
        dir = dir.display()
    );
    let ttl = zone.record_ttl();
    for (apex, records) in zone.zones() {
        let _ = writeln!(conf, "    local-zone: \"{apex}.\" static");
        for record in records {
            // Single quotes: TXT data carries double quotes.
            let _ = writeln!(conf, "    local-data: '{}'", record.master_file_line(ttl));
        }
    }
    conf.push_str("remote-control:\n    control-enable: no\n");
    conf
}
