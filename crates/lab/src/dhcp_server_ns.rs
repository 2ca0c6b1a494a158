//! Code run inside the DHCP lab's server namespace: what a second (rogue
//! or merely busy) host on the link sends.

use std::path::Path;

use crate::process::enter_netns;
use crate::{DhcpLab, LabError};

impl DhcpLab {
    /// Runs `f` on a new thread that has entered the server namespace and
    /// returns its result: sockets it opens are on the server's side of the
    /// link (10.231.0.1), as another host on the LAN.
    pub fn in_server_ns<R: Send>(&self, f: impl FnOnce() -> R + Send) -> Result<R, LabError> {
        let path = Path::new("/run/netns").join(self.server_netns());
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    enter_netns(&path)?;
                    Ok(f())
                })
                .join()
                .map_err(|_| {
                    LabError::Invalid("the closure run in the server namespace panicked".into())
                })?
        })
    }
}
