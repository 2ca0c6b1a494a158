//! The hardware address of an interface, as the DHCP client needs it for
//! `chaddr` and the client identifier.

use crate::{Error, Mac};

/// The MAC address of `interface`, asked of the kernel through
/// getifaddrs(3), which answers for the calling thread's network namespace
/// (sysfs would show the mount's namespace instead).
#[cfg(unix)]
pub fn interface_mac(interface: &str) -> Result<Mac, Error> {
    let addrs = nix::ifaddrs::getifaddrs()
        .map_err(|e| Error::Config(format!("interface {interface}: getifaddrs: {e}")))?;
    addrs
        .filter(|a| a.interface_name == interface)
        .find_map(|a| a.address.as_ref()?.as_link_addr()?.addr())
        .map(Mac)
        .ok_or_else(|| {
            Error::Config(format!(
                "interface {interface} not found or has no MAC address"
            ))
        })
}

/// Without getifaddrs(3) (Windows) the MAC cannot be asked for by
/// interface name: the configuration must give it.
#[cfg(not(unix))]
pub fn interface_mac(interface: &str) -> Result<Mac, Error> {
    Err(Error::Config(format!(
        "interface {interface}: reading its MAC address needs getifaddrs (Unix); give the MAC address in the configuration"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_has_no_mac_and_a_missing_interface_is_an_error() {
        assert!(interface_mac("annexr-none0").is_err());
        // lo has a link address of all zeros, or none on some kernels.
        if let Ok(mac) = interface_mac("lo") {
            assert_eq!(mac, Mac([0; 6]));
        }
    }
}
