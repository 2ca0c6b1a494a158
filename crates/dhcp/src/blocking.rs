//! A blocking facade for firmware that is not async: each call runs the
//! tokio driver on a current-thread runtime of its own.

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::client::{Client, ClientConfig};
use crate::driver::Driver;
use crate::error::Error;
use crate::lease::Lease;
use crate::os::Apply;

fn runtime(interface: &str) -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|cause| Error::Socket {
            interface: interface.to_owned(),
            step: "start tokio runtime".into(),
            cause,
        })
}

/// DISCOVER (or INIT-REBOOT when `remembered` is given) until BOUND;
/// returns the lease. The lease is then not maintained: call again before
/// T1, or use [`crate::driver::Driver`] for a long-running client.
pub fn obtain<A: Apply>(
    interface: &str,
    config: ClientConfig,
    remembered: Option<Ipv4Addr>,
    applier: A,
    timeout: Duration,
) -> Result<Lease, Error> {
    runtime(interface)?.block_on(async {
        let client = match remembered {
            Some(a) => Client::init_reboot(config, a),
            None => Client::new(config),
        };
        Driver::new(interface, client, applier)?
            .bound(timeout)
            .await
    })
}

/// DHCPINFORM from the fixed `address`: the options without a lease.
pub fn inform<A: Apply>(
    interface: &str,
    config: ClientConfig,
    address: Ipv4Addr,
    applier: A,
    timeout: Duration,
) -> Result<Lease, Error> {
    runtime(interface)?.block_on(async {
        Driver::new(interface, Client::inform(config, address), applier)?
            .informed(timeout)
            .await
    })
}
