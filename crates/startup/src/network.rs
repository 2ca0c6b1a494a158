//! R.4 step 1: the IP parameters and the NTP and DNS server lists, from
//! DHCP or from static settings (the legacy note of R.1.2.2).

use std::net::Ipv4Addr;
use std::time::Duration;

use serde::Serialize;

use annexr_dhcp::{Applied, Apply, IpCommand, ReportOnly};

use crate::config::{LeaseApply, NetworkMode, StartupConfig};
use crate::recorder::{Finished, Recorder};
use crate::report::{Outcome, Source, Step};
use crate::store::StoredLease;

/// What the network step settled on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct NetworkParams {
    /// Where the values came from.
    pub source: Option<Source>,
    /// The device's address, when known (DHCP, or the static settings).
    pub lease: Option<StoredLease>,
    /// Name servers, `ip` or `ip:port` (DHCP option 6).
    pub dns_servers: Vec<String>,
    /// NTP servers, `host` or `host:port` (DHCP option 42).
    pub ntp_servers: Vec<String>,
    /// The domain for the SRV query (DHCP option 15).
    pub domain: Option<String>,
    /// Further search domains (DHCP option 119).
    pub search: Vec<String>,
    /// Seconds east of UTC (DHCP option 2).
    pub time_offset: Option<i32>,
    /// POSIX TZ string (DHCP option 100).
    pub posix_tz: Option<String>,
    /// tz database name (DHCP option 101).
    pub tz_name: Option<String>,
    /// The machine name the DHCP server granted (option 81, else option
    /// 12 of its answer): R.1.2.2 step 1 asks for the desired name, but
    /// the server need not grant it.
    pub granted_name: Option<String>,
}

/// Runs the network step.
pub(crate) async fn obtain(
    config: &StartupConfig,
    remembered: Option<Ipv4Addr>,
    recorder: &Recorder,
) -> (NetworkParams, Option<LeaseKeeper>) {
    let running = recorder.begin(Step::Dhcp);
    match config.network.effective_mode() {
        NetworkMode::Static | NetworkMode::Auto => {
            let params = from_static(config);
            let finished = describe(
                Finished::new(
                    Outcome::Skipped,
                    "pre-configured network (legacy note of R.1.2.2): DHCP skipped",
                ),
                &params,
                Source::Static,
            );
            recorder.finish(running, finished);
            (params, None)
        }
        NetworkMode::Dhcp => match dhcp(config, remembered, recorder).await {
            Ok((params, trips, keeper, desired)) => {
                let detail = match config.network.apply {
                    LeaseApply::Report => "lease obtained (reported, not applied)".to_string(),
                    LeaseApply::Ip => format!(
                        "lease obtained and applied to {}",
                        config
                            .network
                            .interface
                            .as_deref()
                            .unwrap_or("the interface")
                    ),
                };
                let finished = describe(
                    Finished::new(Outcome::Done, detail).round_trips(trips),
                    &params,
                    Source::Dhcp,
                );
                recorder.finish(running, finished);
                if let (Some(desired), Some(granted)) = (&desired, &params.granted_name)
                    && !granted.eq_ignore_ascii_case(desired)
                    && !granted
                        .to_ascii_lowercase()
                        .starts_with(&format!("{}.", desired.to_ascii_lowercase()))
                {
                    recorder.warn(
                        Step::Dhcp,
                        format!("the DHCP server granted the machine name {granted:?}, not the desired {desired:?}"),
                        "reserve the desired name for this device's MAC address on the DHCP server, or rename the device",
                    );
                }
                (params, Some(keeper))
            }
            Err(why) => {
                let params = from_static(config);
                let finished = describe(
                    Finished::new(
                        Outcome::Fallback,
                        format!("DHCP failed ({why}); using the static settings"),
                    ),
                    &params,
                    Source::Static,
                );
                recorder.finish(running, finished);
                recorder.warn(
                    Step::Dhcp,
                    format!("no DHCP lease: {why}"),
                    "check the DHCP server and that the interface is connected; the static settings are in use",
                );
                (params, None)
            }
        },
    }
}

pub(crate) fn from_static(config: &StartupConfig) -> NetworkParams {
    let n = &config.network;
    NetworkParams {
        source: Some(Source::Static),
        lease: None,
        dns_servers: n.dns_servers.clone(),
        ntp_servers: n.ntp_servers.clone(),
        domain: n.domain.clone(),
        search: n.search.clone(),
        time_offset: None,
        posix_tz: None,
        tz_name: None,
        granted_name: None,
    }
}

fn describe(mut finished: Finished, params: &NetworkParams, source: Source) -> Finished {
    if let Some(lease) = &params.lease {
        finished = finished.value("ip-address", lease.address.to_string(), source);
    }
    for s in &params.dns_servers {
        finished = finished.value("dns-server", s.clone(), source);
    }
    for s in &params.ntp_servers {
        finished = finished.value("ntp-server", s.clone(), source);
    }
    if let Some(d) = &params.domain {
        finished = finished.value("domain", d.clone(), source);
    }
    for d in &params.search {
        finished = finished.value("search-domain", d.clone(), source);
    }
    if let Some(tz) = params.tz_name.as_ref().or(params.posix_tz.as_ref()) {
        finished = finished.value("time-zone", tz.clone(), source);
    }
    if let Some(name) = &params.granted_name {
        finished = finished.value("host-name", name.clone(), source);
    }
    finished
}

/// The warning of seed 000: legacy peers address this device by IP.
pub(crate) fn address_change(
    previous: &StoredLease,
    current: &StoredLease,
) -> Option<(String, String)> {
    if previous.address == current.address {
        return None;
    }
    let mac = current
        .mac
        .clone()
        .or_else(|| previous.mac.clone())
        .unwrap_or_else(|| "of this device".into());
    Some((
        format!(
            "the IP address changed since the last boot ({} -> {}); legacy peers configured with the IP address will fail",
            previous.address, current.address
        ),
        format!(
            "ask the network administrator for a DHCP reservation of {} for MAC {mac}, or update the peers",
            previous.address
        ),
    ))
}

/// The desired machine name made a DNS label for options 12 and 81, with a
/// warning when that changed it ("CT 7" is asked for as "ct-7").
fn desired_label(name: Option<&str>, recorder: Option<&Recorder>) -> Option<String> {
    let name = name?;
    let label = annexr_dhcp::dns_label(name);
    if label.as_deref() != Some(name) {
        let message = match &label {
            Some(label) => format!(
                "the device name {name:?} is not a DNS label; DHCP was asked for the machine name {label:?}"
            ),
            None => format!(
                "the device name {name:?} has no letter or digit; no machine name was asked of DHCP"
            ),
        };
        match recorder {
            Some(recorder) => recorder.warn(
                Step::Dhcp,
                message,
                "name the device with letters, digits and hyphens (at most 63) to have the same name in DNS",
            ),
            None => tracing::warn!("{message}"),
        }
    }
    label
}

async fn dhcp(
    config: &StartupConfig,
    remembered: Option<Ipv4Addr>,
    recorder: &Recorder,
) -> Result<(NetworkParams, u32, LeaseKeeper, Option<String>), String> {
    let interface = config
        .network
        .interface
        .clone()
        .ok_or("[network] interface is not set")?;
    let timeout = Duration::from_millis(config.network.dhcp_timeout_ms);
    let label = desired_label(config.device.name.as_deref(), Some(recorder));
    let applier = match config.network.apply {
        LeaseApply::Report => Applier::Report(ReportOnly::default()),
        LeaseApply::Ip => Applier::Ip(IpCommand {
            ip: ip_binary(),
            resolv_conf: config.network.resolv_conf.clone(),
        }),
    };
    let want = Wanted {
        label: label.clone(),
        domain: config.network.domain.clone(),
        remembered,
        inform: None,
    };
    let (lease, mac, driver) = lease_driver(&interface, &want, timeout, applier)
        .await
        .map_err(|e| e.to_string())?;
    // INIT-REBOOT is one REQUEST/ACK; DISCOVER adds OFFER first.
    let trips = if remembered == Some(lease.address) {
        1
    } else {
        2
    };
    let client_id = hex(&driver.client().config().client_id);
    let mut params = from_lease(&lease, Some(mac));
    if let Some(stored) = params.lease.as_mut() {
        stored.client_id = Some(client_id);
    }
    Ok((params, trips, LeaseKeeper::spawn(driver), label))
}

/// The `ip` binary from the system directories, so that a `PATH` set by
/// whoever started the process does not choose what configures the
/// interface; `PATH` only when none is there.
fn ip_binary() -> std::path::PathBuf {
    ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| std::path::PathBuf::from("ip"))
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Applies the lease as `[network] apply` says.
#[derive(Debug)]
enum Applier {
    Report(ReportOnly),
    Ip(IpCommand),
}

impl Apply for Applier {
    fn apply(
        &mut self,
        interface: &str,
        lease: &annexr_dhcp::Lease,
        renewed: bool,
    ) -> Result<Applied, annexr_dhcp::Error> {
        match self {
            Applier::Report(a) => a.apply(interface, lease, renewed),
            Applier::Ip(a) => a.apply(interface, lease, renewed),
        }
    }

    fn remove(
        &mut self,
        interface: &str,
        address: Ipv4Addr,
        prefix_len: u8,
    ) -> Result<(), annexr_dhcp::Error> {
        match self {
            Applier::Report(a) => a.remove(interface, address, prefix_len),
            Applier::Ip(a) => a.remove(interface, address, prefix_len),
        }
    }
}

type LeaseDriver = annexr_dhcp::Driver<Applier>;

/// Keeps the lease (renewal at T1, rebinding at T2) for as long as the
/// device runs, and releases it at shutdown (R.5.1).
#[derive(Debug)]
pub(crate) struct LeaseKeeper {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<LeaseDriver>,
}

impl LeaseKeeper {
    fn spawn(mut driver: LeaseDriver) -> LeaseKeeper {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    step = driver.step() => {
                        if let Err(e) = step {
                            tracing::warn!("DHCP lease maintenance: {e}");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                    _ = stopped.changed() => break,
                }
            }
            driver
        });
        LeaseKeeper { stop, task }
    }

    /// Stops maintaining the lease and sends DHCPRELEASE: true when it was
    /// sent. Only a binding under annexr's own client identifier is
    /// released, never the OS client's (`01:MAC`).
    pub(crate) async fn release(self) -> Result<bool, String> {
        let _ = self.stop.send(true);
        let driver = self.task.await.map_err(|e| e.to_string())?;
        let stats = driver.release().await.map_err(|e| e.to_string())?;
        Ok(stats.sent_by_kind.contains_key("RELEASE"))
    }
}

/// Asks the DHCP server on `interface`: DISCOVER (or INIT-REBOOT of the
/// `remembered` address) until BOUND, or DHCPINFORM from the fixed address
/// `inform`. The OS is not changed (report-only); returns the lease and the
/// interface's MAC address. The desired name is sent as a DNS label
/// (options 12 and 81), sanitized with a logged warning when needed.
pub async fn request_lease(
    interface: &str,
    desired_name: Option<&str>,
    remembered: Option<Ipv4Addr>,
    inform: Option<Ipv4Addr>,
) -> Result<(annexr_dhcp::Lease, String), crate::Error> {
    let want = Wanted {
        label: desired_label(desired_name, None),
        domain: None,
        remembered,
        inform,
    };
    let applier = Applier::Report(ReportOnly::default());
    let (lease, mac, _) = lease_driver(interface, &want, DHCP_TIMEOUT, applier).await?;
    Ok((lease, mac))
}

/// What the client asks for.
struct Wanted {
    /// The desired machine name, a DNS label (options 12 and 81).
    label: Option<String>,
    /// The domain for option 81's FQDN, when known before DHCP.
    domain: Option<String>,
    remembered: Option<Ipv4Addr>,
    inform: Option<Ipv4Addr>,
}

#[cfg(feature = "dhcp")]
async fn lease_driver(
    interface: &str,
    want: &Wanted,
    timeout: Duration,
    applier: Applier,
) -> Result<(annexr_dhcp::Lease, String, LeaseDriver), annexr_dhcp::Error> {
    let mac = annexr_dhcp::interface_mac(interface)?;
    let mut client_config = annexr_dhcp::ClientConfig::new(mac);
    if let Some(label) = &want.label {
        // R.1.2.2 step 1: the desired machine name; option 81 with the S
        // flag asks the server to put it in DNS (PS3.15 Annex F).
        client_config = client_config.host_name(label)?;
        let fqdn = match &want.domain {
            Some(domain) => format!("{label}.{}", domain.trim_end_matches('.')),
            None => label.clone(),
        };
        client_config = match client_config.clone().fqdn(&fqdn) {
            Ok(with_fqdn) => with_fqdn,
            Err(_) => client_config.fqdn(label)?,
        };
    }
    let client = match (want.inform, want.remembered) {
        (Some(address), _) => annexr_dhcp::Client::inform(client_config, address),
        (None, Some(address)) => annexr_dhcp::Client::init_reboot(client_config, address),
        (None, None) => annexr_dhcp::Client::new(client_config),
    };
    let mut driver = annexr_dhcp::Driver::new(interface, client, applier)?;
    let lease = if want.inform.is_some() {
        driver.informed(timeout).await
    } else {
        driver.bound(timeout).await
    }?;
    Ok((lease, mac.to_string(), driver))
}

/// A build without the DHCP client: a typed error before any packet, so
/// that the startup falls back to the static settings and says why.
#[cfg(not(feature = "dhcp"))]
async fn lease_driver(
    interface: &str,
    want: &Wanted,
    timeout: Duration,
    applier: Applier,
) -> Result<(annexr_dhcp::Lease, String, LeaseDriver), annexr_dhcp::Error> {
    let _ = (&want.label, &want.domain, want.remembered, want.inform);
    let _ = (timeout, applier);
    Err(annexr_dhcp::Error::Socket {
        interface: interface.to_string(),
        step: "start the DHCP client".into(),
        cause: std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "this build has no DHCP client (annexr feature `dhcp` is off)",
        ),
    })
}

/// How long `request_lease` waits for the server.
const DHCP_TIMEOUT: Duration = Duration::from_secs(30);

fn from_lease(lease: &annexr_dhcp::Lease, mac: Option<String>) -> NetworkParams {
    NetworkParams {
        source: Some(Source::Dhcp),
        lease: Some(StoredLease {
            address: lease.address,
            mac,
            source: "dhcp".into(),
            client_id: None,
        }),
        dns_servers: lease.dns_servers.iter().map(Ipv4Addr::to_string).collect(),
        ntp_servers: lease.ntp_servers.iter().map(Ipv4Addr::to_string).collect(),
        domain: lease.domain_name.clone(),
        search: lease.domain_search.clone(),
        time_offset: lease.time_offset,
        posix_tz: lease.posix_tz.clone(),
        tz_name: lease.tz_name.clone(),
        granted_name: granted_name(lease),
    }
}

/// The name the server granted: option 81's name, else option 12.
fn granted_name(lease: &annexr_dhcp::Lease) -> Option<String> {
    lease
        .client_fqdn
        .as_ref()
        .map(|f| f.name.clone())
        .filter(|n| !n.is_empty())
        .or_else(|| lease.host_name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(ip: [u8; 4], mac: Option<&str>) -> StoredLease {
        StoredLease {
            address: Ipv4Addr::from(ip),
            mac: mac.map(str::to_string),
            source: "dhcp".into(),
            client_id: None,
        }
    }

    #[test]
    fn a_changed_address_warns_with_the_mac_for_a_reservation() {
        let before = lease([10, 0, 0, 5], None);
        let now = lease([10, 0, 0, 9], Some("02:00:00:aa:bb:cc"));
        let (message, action) = address_change(&before, &now).unwrap();
        assert!(message.contains("10.0.0.5 -> 10.0.0.9"), "{message}");
        assert!(action.contains("MAC 02:00:00:aa:bb:cc"), "{action}");
        assert!(address_change(&now, &now).is_none());
    }
}
