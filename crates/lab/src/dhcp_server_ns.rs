//! Code run inside the DHCP lab's server namespace: what a second (rogue
//! or merely busy) host on the link sends.

use crate::{DhcpLab, LabError};

impl DhcpLab {
    /// Runs `f` on a new thread that has entered the server namespace and
    /// returns its result: sockets it opens are on the server's side of the
    /// link (10.231.0.1), as another host on the LAN.
    pub fn in_server_ns<R: Send>(&self, f: impl FnOnce() -> R + Send) -> Result<R, LabError> {
        crate::process::run_in_netns(self.server_netns(), "the server namespace", f)
    }
}
