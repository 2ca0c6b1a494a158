//! Applying a lease to the operating system.
//!
//! [`ReportOnly`] is for hosts where the OS owns the interface: it only
//! says what it would do. [`IpCommand`] configures Linux with iproute2's
//! `ip` (address with lifetimes, routes, MTU) and optionally writes a
//! resolv.conf; it runs in the caller's network namespace.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;

use crate::error::Error;
use crate::lease::Lease;

/// What applying a lease found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Applied {
    /// The lease is in use.
    Applied,
    /// The address is already used by another host: the client declines it.
    Conflict,
}

/// Puts a lease into effect (and takes it out again).
pub trait Apply {
    /// Configure `interface` with `lease`; `renewed` when only the
    /// lifetimes changed.
    fn apply(&mut self, interface: &str, lease: &Lease, renewed: bool) -> Result<Applied, Error>;
    /// Remove `address/prefix_len` from `interface`.
    fn remove(&mut self, interface: &str, address: Ipv4Addr, prefix_len: u8) -> Result<(), Error>;
}

/// Changes nothing; records what it would have done, line by line.
#[derive(Debug, Default, Clone)]
pub struct ReportOnly {
    /// The plan so far, e.g. `add 10.231.0.100/24 to eth0`.
    pub log: Vec<String>,
}

impl Apply for ReportOnly {
    fn apply(&mut self, interface: &str, lease: &Lease, renewed: bool) -> Result<Applied, Error> {
        let verb = if renewed { "renew" } else { "add" };
        self.log.push(format!(
            "{verb} {}/{} to {interface}",
            lease.address,
            lease.prefix_len()
        ));
        for r in lease.routes() {
            self.log.push(format!(
                "route {}/{} via {} dev {interface}",
                r.destination, r.prefix_len, r.gateway
            ));
        }
        if !lease.dns_servers.is_empty() {
            let dns: Vec<String> = lease.dns_servers.iter().map(|a| a.to_string()).collect();
            self.log.push(format!("dns {}", dns.join(" ")));
        }
        Ok(Applied::Applied)
    }

    fn remove(&mut self, interface: &str, address: Ipv4Addr, prefix_len: u8) -> Result<(), Error> {
        self.log
            .push(format!("remove {address}/{prefix_len} from {interface}"));
        Ok(())
    }
}

/// Linux: `ip addr replace`, `ip route replace`, `ip link set mtu`, and a
/// resolv.conf when a path is given.
#[derive(Debug, Clone)]
pub struct IpCommand {
    /// The `ip` binary.
    pub ip: PathBuf,
    /// Where to write nameservers and the search list (`None`: leave DNS to
    /// the host, e.g. systemd-resolved).
    pub resolv_conf: Option<PathBuf>,
}

impl Default for IpCommand {
    fn default() -> Self {
        IpCommand {
            ip: PathBuf::from("ip"),
            resolv_conf: None,
        }
    }
}

impl IpCommand {
    fn run(
        &self,
        interface: &str,
        address: Ipv4Addr,
        step: &str,
        args: &[String],
    ) -> Result<(), Error> {
        let fail = |cause: String| Error::Apply {
            interface: interface.to_owned(),
            address,
            step: step.to_owned(),
            cause,
        };
        let out = Command::new(&self.ip)
            .args(args)
            .output()
            .map_err(|e| fail(format!("cannot run {}: {e}", self.ip.display())))?;
        if !out.status.success() {
            return Err(fail(format!(
                "`ip {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| (*x).to_owned()).collect()
}

impl Apply for IpCommand {
    fn apply(&mut self, interface: &str, lease: &Lease, _renewed: bool) -> Result<Applied, Error> {
        let a = lease.address;
        // The kernel removes the address itself if we die and never renew.
        let lft = lease
            .lease_time
            .map_or("forever".to_owned(), |d| d.as_secs().to_string());
        let cidr = format!("{a}/{}", lease.prefix_len());
        let mut args = s(&["addr", "replace", &cidr, "dev", interface]);
        if let Some(b) = lease.broadcast {
            args.extend(s(&["broadcast", &b.to_string()]));
        }
        args.extend(s(&["valid_lft", &lft, "preferred_lft", &lft]));
        self.run(interface, a, "add address", &args)?;
        // RFC 791: every IPv4 host takes 576-byte datagrams; a smaller MTU
        // from the server would cripple the link.
        if let Some(mtu) = lease.mtu.filter(|m| *m >= 576) {
            self.run(
                interface,
                a,
                "set MTU",
                &s(&["link", "set", "dev", interface, "mtu", &mtu.to_string()]),
            )?;
        }
        for r in lease.routes() {
            let dest = format!("{}/{}", r.destination, r.prefix_len);
            let mut args = s(&["route", "replace", &dest]);
            if r.gateway.is_unspecified() {
                args.extend(s(&["dev", interface, "scope", "link"]));
            } else {
                args.extend(s(&["via", &r.gateway.to_string(), "dev", interface]));
            }
            self.run(interface, a, "add route", &args)?;
        }
        if let Some(path) = &self.resolv_conf {
            write_resolv_conf(path, &resolv_conf_text(lease)).map_err(|e| Error::Apply {
                interface: interface.to_owned(),
                address: a,
                step: format!("write {}", path.display()),
                cause: e.to_string(),
            })?;
        }
        Ok(Applied::Applied)
    }

    fn remove(&mut self, interface: &str, address: Ipv4Addr, prefix_len: u8) -> Result<(), Error> {
        // Routes through the address go with it.
        let cidr = format!("{address}/{prefix_len}");
        self.run(
            interface,
            address,
            "remove address",
            &s(&["addr", "del", &cidr, "dev", interface]),
        )
    }
}

/// True for a domain name safe on a resolv.conf line: letters, digits,
/// `-`, `_` and `.` only. Option 15/119 text may hold anything, e.g. a
/// newline followed by a `nameserver` line.
fn safe_domain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The resolver file for `lease`; unsafe domain names are left out.
fn resolv_conf_text(lease: &Lease) -> String {
    let mut text = String::from("# written by annexr-dhcp\n");
    let search: Vec<&str> = if lease.domain_search.is_empty() {
        lease.domain_name.iter().map(String::as_str).collect()
    } else {
        lease.domain_search.iter().map(String::as_str).collect()
    };
    let (safe, unsafe_names): (Vec<&str>, Vec<&str>) =
        search.into_iter().partition(|d| safe_domain(d));
    if !unsafe_names.is_empty() {
        tracing::warn!(
            "domain names with unsafe characters left out of resolv.conf: {unsafe_names:?}"
        );
    }
    if !safe.is_empty() {
        text.push_str(&format!("search {}\n", safe.join(" ")));
    }
    for ns in &lease.dns_servers {
        text.push_str(&format!("nameserver {ns}\n"));
    }
    text
}

/// Replaces `path` atomically: a new file beside it, fsync, rename.
fn write_resolv_conf(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut tmp_name = path.as_os_str().to_os_string();
    tmp_name.push(format!(".annexr-{}", std::process::id()));
    let tmp = PathBuf::from(tmp_name);
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)?;
    let written = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lease::LeaseSource;
    use crate::options::Route;

    #[test]
    fn report_only_says_what_it_would_do() {
        let mut l = Lease::new(LeaseSource::Dhcp, Ipv4Addr::new(10, 231, 0, 100));
        l.subnet_mask = Some(Ipv4Addr::new(255, 255, 255, 0));
        l.routers = vec![Ipv4Addr::new(10, 231, 0, 1)];
        l.dns_servers = vec![Ipv4Addr::new(10, 231, 0, 1)];
        let mut r = ReportOnly::default();
        assert_eq!(r.apply("eth0", &l, false).unwrap(), Applied::Applied);
        r.remove("eth0", l.address, 24).unwrap();
        assert_eq!(
            r.log,
            [
                "add 10.231.0.100/24 to eth0",
                "route 0.0.0.0/0 via 10.231.0.1 dev eth0",
                "dns 10.231.0.1",
                "remove 10.231.0.100/24 from eth0",
            ]
        );
        // RFC 3442: option 121 replaces routers for routing.
        l.classless_routes = vec![Route {
            destination: Ipv4Addr::new(10, 9, 0, 0),
            prefix_len: 16,
            gateway: Ipv4Addr::new(10, 231, 0, 254),
        }];
        assert_eq!(l.routes().len(), 1);
    }

    #[test]
    fn ip_command_failure_names_interface_step_and_cause() {
        let mut ip = IpCommand {
            ip: PathBuf::from("/nonexistent/ip"),
            resolv_conf: None,
        };
        let l = Lease::new(LeaseSource::Dhcp, Ipv4Addr::new(10, 231, 0, 100));
        let e = ip.apply("eth7", &l, false).unwrap_err().to_string();
        assert!(
            e.contains("eth7") && e.contains("add address") && e.contains("/nonexistent/ip"),
            "{e}"
        );
    }

    #[test]
    fn resolv_conf_leaves_out_injected_lines() {
        let mut lease = Lease::new(LeaseSource::Dhcp, Ipv4Addr::new(10, 0, 0, 5));
        lease.domain_search = vec!["hospital.example".into(), "x\nnameserver 6.6.6.6".into()];
        lease.dns_servers = vec![Ipv4Addr::new(10, 0, 0, 53)];
        let text = resolv_conf_text(&lease);
        assert_eq!(
            text,
            "# written by annexr-dhcp\nsearch hospital.example\nnameserver 10.0.0.53\n"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("resolv.conf");
        std::fs::write(&path, "old").unwrap();
        write_resolv_conf(&path, &text).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
