//! The seed-000 guard: remember the last lease; when the address differs
//! from the previous boot, say so with the MAC address, so the site can set
//! a DHCP reservation (legacy peers address this device by IP, and its AE
//! title, IP and port must stay stable for them).
//!
//! The remembered address is also what INIT-REBOOT asks for
//! ([`crate::Client::init_reboot`]), which keeps the address stable with
//! most servers even without a reservation.

use std::fmt;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::lease::{Lease, Mac};

/// What is remembered between boots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remembered {
    /// The interface.
    pub interface: String,
    /// Its MAC.
    pub mac: Mac,
    /// The address it had.
    pub address: Ipv4Addr,
}

/// The warning for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AddressChanged {
    /// The interface.
    pub interface: String,
    /// Its MAC, for the reservation.
    pub mac: Mac,
    /// Last boot's address.
    pub previous: Ipv4Addr,
    /// This boot's address.
    pub current: Ipv4Addr,
}

impl fmt::Display for AddressChanged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the IP address of {} changed since the last boot ({} -> {}); legacy peers that use \
             IP addresses will fail: ask for a DHCP reservation of {} for MAC {}",
            self.interface, self.previous, self.current, self.current, self.mac
        )
    }
}

/// Compares this boot's lease with the remembered one.
pub fn address_changed(
    previous: Option<&Remembered>,
    interface: &str,
    mac: Mac,
    lease: &Lease,
) -> Option<AddressChanged> {
    let prev = previous?;
    // Another interface or another NIC is not "the same device moved".
    if prev.interface != interface || prev.mac != mac || prev.address == lease.address {
        return None;
    }
    Some(AddressChanged {
        interface: interface.to_owned(),
        mac,
        previous: prev.address,
        current: lease.address,
    })
}

/// The non-volatile file holding the last lease.
#[derive(Debug, Clone)]
pub struct LeaseMemory {
    path: PathBuf,
}

impl LeaseMemory {
    /// Memory kept in `path`.
    pub fn new(path: impl Into<PathBuf>) -> LeaseMemory {
        LeaseMemory { path: path.into() }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The remembered lease; `None` when there is none or the file is
    /// unreadable as a lease (a corrupt memory must not stop the boot).
    pub fn load(&self) -> Result<Option<Remembered>, Error> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(cause) => {
                return Err(Error::Memory {
                    path: self.path.clone(),
                    step: "read",
                    cause,
                });
            }
        };
        let mut interface = None;
        let mut mac = None;
        let mut address = None;
        for line in text.lines() {
            match line.split_once('=') {
                Some(("interface", v)) => interface = Some(v.to_owned()),
                Some(("mac", v)) => mac = v.parse::<Mac>().ok(),
                Some(("address", v)) => address = v.parse::<Ipv4Addr>().ok(),
                _ => {}
            }
        }
        match (interface, mac, address) {
            (Some(interface), Some(mac), Some(address)) => Ok(Some(Remembered {
                interface,
                mac,
                address,
            })),
            _ => {
                tracing::warn!(path = %self.path.display(), "lease memory unreadable, ignored");
                Ok(None)
            }
        }
    }

    /// Stores `r` atomically: temp file, fsync, rename, fsync directory, so
    /// a power cut leaves the old or the new memory, never a mix.
    pub fn store(&self, r: &Remembered) -> Result<(), Error> {
        let fail = |step: &'static str| {
            let path = self.path.clone();
            move |cause| Error::Memory { path, step, cause }
        };
        let dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        // A name of this process's own (no other writer shares it), mode
        // 0600, created new so that no planted file is followed.
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(format!(".lease-tmp-{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        let _ = std::fs::remove_file(&tmp);
        let text = format!(
            "interface={}\nmac={}\naddress={}\n",
            r.interface, r.mac, r.address
        );
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(&tmp).map_err(fail("create temp file"))?;
        f.write_all(text.as_bytes()).map_err(fail("write"))?;
        f.sync_all().map_err(fail("fsync"))?;
        drop(f);
        std::fs::rename(&tmp, &self.path).map_err(fail("rename"))?;
        // Windows cannot open a directory as a file (nor needs this).
        #[cfg(not(windows))]
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(fail("fsync directory"))?;
        #[cfg(windows)]
        let _ = dir;
        Ok(())
    }

    /// Checks this boot's lease against the memory, then remembers it.
    pub fn check_and_remember(
        &self,
        interface: &str,
        mac: Mac,
        lease: &Lease,
    ) -> Result<Option<AddressChanged>, Error> {
        let previous = self.load()?;
        let warning = address_changed(previous.as_ref(), interface, mac, lease);
        if let Some(w) = &warning {
            tracing::warn!("{w}");
        }
        self.store(&Remembered {
            interface: interface.to_owned(),
            mac,
            address: lease.address,
        })?;
        Ok(warning)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lease::LeaseSource;

    const MAC: Mac = Mac([0x00, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e]);

    fn lease(last: u8) -> Lease {
        Lease::new(LeaseSource::Dhcp, Ipv4Addr::new(10, 231, 0, last))
    }

    #[test]
    fn first_boot_same_address_and_changed_address() {
        let dir = tempfile::tempdir().unwrap();
        let mem = LeaseMemory::new(dir.path().join("lease"));
        assert_eq!(mem.load().unwrap(), None);
        assert_eq!(
            mem.check_and_remember("eth0", MAC, &lease(100)).unwrap(),
            None
        );
        assert_eq!(
            mem.check_and_remember("eth0", MAC, &lease(100)).unwrap(),
            None
        );
        let w = mem
            .check_and_remember("eth0", MAC, &lease(101))
            .unwrap()
            .unwrap();
        assert_eq!(w.previous, Ipv4Addr::new(10, 231, 0, 100));
        assert_eq!(w.current, Ipv4Addr::new(10, 231, 0, 101));
        let text = w.to_string();
        assert!(text.contains("MAC 00:1a:2b:3c:4d:5e"), "{text}");
        assert!(text.contains("reservation"), "{text}");
        assert_eq!(
            mem.load().unwrap().unwrap().address,
            Ipv4Addr::new(10, 231, 0, 101)
        );
        // Only the memory itself is left, private to its owner.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("lease")]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("lease"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn other_interface_or_nic_is_not_a_change_and_corrupt_memory_is_ignored() {
        let prev = Remembered {
            interface: "eth0".into(),
            mac: MAC,
            address: Ipv4Addr::new(10, 231, 0, 100),
        };
        assert_eq!(address_changed(Some(&prev), "eth1", MAC, &lease(7)), None);
        assert_eq!(
            address_changed(Some(&prev), "eth0", Mac([2; 6]), &lease(7)),
            None
        );
        assert!(address_changed(Some(&prev), "eth0", MAC, &lease(7)).is_some());
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("m"), "garbage").unwrap();
        assert_eq!(LeaseMemory::new(dir.path().join("m")).load().unwrap(), None);
    }
}
