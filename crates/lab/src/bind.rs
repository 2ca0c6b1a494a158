//! BIND 9's named as an authoritative-only DNS server: one zone file per
//! domain of a [`DnsZone`], recursion off, every query logged.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;

use crate::dns::{DnsServer, DnsServerKind, DnsZone};
use crate::process::{Readiness, ServerProcess, find_binary, version_of};
use crate::{LabError, announce, with_port_retry};

/// Starts `named -g` (foreground, log to stderr) with the zone's records on
/// a free loopback port and waits until it accepts TCP connections.
pub(crate) fn start(zone: &DnsZone) -> Result<DnsServer, LabError> {
    let binary = find_binary("bind9", "named", "bind9")?;
    let version = version_of(&binary, &["-v"]);
    let dir = tempfile::Builder::new().prefix("annexr-bind9-").tempdir()?;
    let log_path = dir.path().join("named.log");
    let zones = write_zone_files(zone, dir.path())?;
    let (addr, process) = with_port_retry(|port| {
        let conf = dir.path().join("named.conf");
        std::fs::write(&conf, named_conf(dir.path(), port, &zones))?;
        let mut cmd = Command::new(&binary);
        // -g: foreground, all logging (the query log too) to stderr;
        // -4: IPv4 only; -n 1: one worker thread is plenty for a test.
        cmd.args(["-g", "-4", "-n", "1", "-c"]).arg(&conf);
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let process = ServerProcess::spawn("bind9", cmd, &log_path, Readiness::Tcp(addr))?;
        Ok((addr, process))
    })?;
    announce("bind9", &version, &addr.to_string(), process.ready_after);
    Ok(DnsServer {
        kind: DnsServerKind::Bind,
        addr,
        version,
        process,
        log_path,
        _dir: dir,
    })
}

/// Writes `APEX.zone` for every zone; returns the apexes and file names.
fn write_zone_files(zone: &DnsZone, dir: &Path) -> Result<Vec<(String, String)>, LabError> {
    let ttl = zone.record_ttl();
    let mut written = Vec::new();
    for (apex, records) in zone.zones() {
        // SOA minimum = the record TTL, so negative answers live as long.
        let mut text = format!(
            "$TTL {ttl}\n@ IN SOA ns.annexr-lab. hostmaster.annexr-lab. 1 3600 600 86400 {ttl}\n@ IN NS ns.annexr-lab.\n"
        );
        for record in records {
            let _ = writeln!(text, "{}", record.master_file_line(ttl));
        }
        let file = format!("{apex}.zone");
        std::fs::write(dir.join(&file), text)?;
        written.push((apex, file));
    }
    Ok(written)
}

fn named_conf(dir: &Path, port: u16, zones: &[(String, String)]) -> String {
    let mut conf = format!(
        r#"options {{
    directory "{dir}";
    pid-file "named.pid";
    session-keyfile "session.key";
    managed-keys-directory "{dir}";
    listen-on port {port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    recursion no;
    dnssec-validation no;
    minimal-responses no;
    querylog yes;
    notify no;
}};
controls {{ }};
"#,
        dir = dir.display()
    );
    for (apex, file) in zones {
        let _ = writeln!(
            conf,
            "zone \"{apex}\" {{ type primary; file \"{file}\"; }};"
        );
    }
    conf
}
