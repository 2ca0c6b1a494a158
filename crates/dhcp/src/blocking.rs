//! A blocking facade for firmware that is not async: [`Driver`] is the
//! twin of [`crate::Driver`] and owns a current-thread tokio
//! runtime. The DHCP client has no background work between calls (timers
//! and retransmissions happen inside [`Driver::step`] and the calls built
//! on it), so a current-thread runtime is enough.
//!
//! ```no_run
//! use std::time::Duration;
//! use annexr_dhcp::{Client, ClientConfig, ReportOnly, interface_mac};
//!
//! let mac = interface_mac("eth0")?;
//! let client = Client::new(ClientConfig::new(mac));
//! let mut driver = annexr_dhcp::blocking::Driver::new("eth0", client, ReportOnly::default())?;
//! let lease = driver.bound(Duration::from_secs(30))?;
//! println!("{}", lease.address);
//! # Ok::<(), annexr_dhcp::Error>(())
//! ```

use std::time::Duration;

use crate::client::Client;
use crate::driver::{Happened, Stats};
use crate::error::Error;
use crate::lease::Lease;
use crate::os::Apply;

/// Blocking twin of [`crate::driver::Driver`]: one client on one interface,
/// with the runtime it runs on.
///
/// # Panics
/// Every method that waits (all but the accessors) panics when called from
/// within a tokio runtime: tokio refuses to block a thread that drives
/// async tasks. Use [`crate::driver::Driver`] there.
#[derive(Debug)]
pub struct Driver<A: Apply> {
    // Declared before the runtime: the socket is dropped while its runtime
    // is still there.
    inner: crate::driver::Driver<A>,
    runtime: tokio::runtime::Runtime,
}

impl<A: Apply> Driver<A> {
    /// See [`crate::driver::Driver::new`].
    ///
    /// # Errors
    /// [`Error::Runtime`] when the runtime cannot start; the socket errors
    /// of [`crate::driver::Driver::new`].
    pub fn new(interface: &str, client: Client, applier: A) -> Result<Self, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        // The socket registers with the runtime's I/O driver.
        let inner = {
            let _entered = runtime.enter();
            crate::driver::Driver::new(interface, client, applier)?
        };
        Ok(Driver { inner, runtime })
    }

    /// See [`crate::driver::Driver::keep_packets`].
    pub fn keep_packets(&mut self, on: bool) {
        self.inner.keep_packets(on);
    }

    /// See [`crate::driver::Driver::client`].
    pub fn client(&self) -> &Client {
        self.inner.client()
    }

    /// See [`crate::driver::Driver::applier`].
    pub fn applier(&self) -> &A {
        self.inner.applier()
    }

    /// [`crate::driver::Driver::stats`]: counters and the latest messages.
    pub fn stats(&self) -> &Stats {
        &self.inner.stats
    }

    /// See [`crate::driver::Driver::start`].
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn start(&mut self) -> Result<Vec<Happened>, Error> {
        self.runtime.block_on(self.inner.start())
    }

    /// See [`crate::driver::Driver::step`].
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn step(&mut self) -> Result<Vec<Happened>, Error> {
        self.runtime.block_on(self.inner.step())
    }

    /// See [`crate::driver::Driver::run_until`].
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn run_until<T>(
        &mut self,
        timeout: Duration,
        pick: impl FnMut(Happened) -> Option<T>,
    ) -> Result<T, Error> {
        self.runtime.block_on(self.inner.run_until(timeout, pick))
    }

    /// See [`crate::driver::Driver::bound`].
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn bound(&mut self, timeout: Duration) -> Result<Lease, Error> {
        self.runtime.block_on(self.inner.bound(timeout))
    }

    /// See [`crate::driver::Driver::informed`].
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn informed(&mut self, timeout: Duration) -> Result<Lease, Error> {
        self.runtime.block_on(self.inner.informed(timeout))
    }

    /// See [`crate::driver::Driver::decline`].
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn decline(&mut self) -> Result<Vec<Happened>, Error> {
        self.runtime.block_on(self.inner.decline())
    }

    /// See [`crate::driver::Driver::release`].
    ///
    /// # Panics
    /// When called from within a tokio runtime (tokio refuses to block there).
    pub fn release(self) -> Result<Stats, Error> {
        let Driver { inner, runtime } = self;
        runtime.block_on(inner.release())
    }
}
