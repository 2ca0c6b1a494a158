//! Errors of the DHCP client, each naming the server (or file), the step
//! and the cause.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

/// A received message that cannot be a DHCP message at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// Shorter than the fixed BOOTP header plus the magic cookie.
    #[error("message of {len} bytes is shorter than a DHCP header")]
    TooShort {
        /// Bytes received.
        len: usize,
    },
    /// The RFC 2131 magic cookie is missing.
    #[error("no DHCP magic cookie")]
    NoMagicCookie,
    /// dhcproto could not decode the header.
    #[error("undecodable header: {0}")]
    Header(String),
    /// Encoding an outgoing message failed.
    #[error("cannot encode {kind}: {cause}")]
    Encode {
        /// The message being built.
        kind: &'static str,
        /// What dhcproto said.
        cause: String,
    },
}

/// Everything that can go wrong in the DHCP client and lease sources.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Socket setup or I/O on the interface failed.
    #[error("DHCP on interface {interface}: {step}: {cause}")]
    Socket {
        /// Interface name.
        interface: String,
        /// What was being done (bind, send DISCOVER, …).
        step: String,
        /// The OS error.
        cause: std::io::Error,
    },
    /// No lease within the time allowed.
    #[error("DHCP on interface {interface}: no lease after {waited:?} (last state {state})")]
    Timeout {
        /// Interface name.
        interface: String,
        /// Time waited.
        waited: Duration,
        /// State the client was in.
        state: &'static str,
    },
    /// DHCPINFORM got no answer after every retransmission.
    #[error("DHCPINFORM from {address} on {interface}: no DHCPACK after {attempts} attempts")]
    InformUnanswered {
        /// Interface name.
        interface: String,
        /// The fixed address that asked.
        address: Ipv4Addr,
        /// How many INFORMs were sent.
        attempts: u32,
    },
    /// Applying the lease to the operating system failed.
    #[error("applying lease {address} to {interface}: {step}: {cause}")]
    Apply {
        /// Interface name.
        interface: String,
        /// Leased address.
        address: Ipv4Addr,
        /// Step (add address, default route, resolv.conf …).
        step: String,
        /// What went wrong.
        cause: String,
    },
    /// A lease file could not be read or parsed.
    #[error("lease file {path}: {cause}")]
    LeaseFile {
        /// The file.
        path: PathBuf,
        /// What went wrong (line numbers included).
        cause: String,
    },
    /// The lease memory (seed-000 guard) could not be read or written.
    #[error("lease memory {path}: {step}: {cause}")]
    Memory {
        /// The file.
        path: PathBuf,
        /// Read or write.
        step: &'static str,
        /// The OS error.
        cause: std::io::Error,
    },
    /// The client configuration is unusable.
    #[error("DHCP client configuration: {0}")]
    Config(String),
    /// An outgoing message could not be encoded.
    #[error("DHCP: {0}")]
    Codec(#[from] CodecError),
    /// The blocking facade could not start its runtime.
    #[error("blocking facade: cannot start the tokio runtime: {0}")]
    Runtime(#[source] std::io::Error),
}
