//! Typed errors naming the server, the step and the cause.

use std::net::SocketAddr;

use crate::select::ServerReport;

/// Everything time synchronization can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No NTP server given (DHCP option 42 empty, nothing configured).
    #[error("configuration: no NTP servers given")]
    NoServers,
    /// A local socket could not be opened.
    #[error("{server}: {step}: {cause}")]
    Socket {
        /// The server it was for.
        server: SocketAddr,
        /// What was being done.
        step: &'static str,
        /// The I/O error.
        #[source]
        cause: std::io::Error,
    },
    /// No server gave a usable sample.
    #[error("no usable NTP server: {}", summary(.servers))]
    NoUsableServer {
        /// Each server and why it was not used.
        servers: Vec<ServerReport>,
    },
    /// Reading or correcting the clock failed.
    #[error("clock {step}: {cause}")]
    Clock {
        /// step, slew, read.
        step: &'static str,
        /// Why.
        cause: String,
    },
    /// A local-time setting could not be used.
    #[error("local time (DHCP option {option}): {cause}")]
    LocalTime {
        /// The DHCP option (0: configuration).
        option: u8,
        /// Why.
        cause: String,
    },
    /// The blocking facade could not start its runtime.
    #[error("blocking facade: cannot start the tokio runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

fn summary(servers: &[ServerReport]) -> String {
    if servers.is_empty() {
        return "none asked".into();
    }
    servers
        .iter()
        .map(|r| {
            let why = r
                .discarded
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            let last = r
                .rejections
                .last()
                .map(|x| format!(" (last: {x})"))
                .unwrap_or_default();
            format!("{}: {why}{last}", r.server)
        })
        .collect::<Vec<_>>()
        .join("; ")
}
