//! Errors of the tools around the sequence. The sequence itself
//! ([`crate::Startup::run`]) never fails: it reports.

/// What went wrong in one of the standalone steps the `annexr` tool and
/// PACS products call directly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The settings are unusable (e.g. the password file cannot be read).
    #[error(transparent)]
    Config(#[from] crate::ConfigError),
    /// No LDAP server was found: DNS SRV gave none and none is configured.
    #[error("no LDAP server found: {why}; {action}")]
    NoLdapServer {
        /// What DNS SRV discovery said.
        why: String,
        /// What to do about it.
        action: String,
    },
    /// The LDAP client could not be set up.
    #[error(transparent)]
    Ldap(#[from] annexr_ldap::Error),
    /// DHCP on an interface failed.
    #[error(transparent)]
    Dhcp(#[from] annexr_dhcp::Error),
    /// No NTP server could be resolved.
    #[error("no NTP server could be resolved: {0}")]
    NtpServers(String),
    /// [`crate::Watch`] has nothing to follow.
    #[error("nothing to watch: {0}")]
    NothingToWatch(String),
    /// Measuring the clock failed.
    #[error(transparent)]
    Time(#[from] annexr_sntp::Error),
    /// The blocking facade could not start its runtime.
    #[error("blocking facade: cannot start the tokio runtime: {0}")]
    Runtime(#[source] std::io::Error),
}
