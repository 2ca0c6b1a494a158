//! R.4 step 1: the IP parameters and the NTP and DNS server lists, from
//! DHCP or from static settings (the legacy note of R.1.2.2).

use std::net::Ipv4Addr;
use std::time::Duration;

use serde::Serialize;

use crate::config::{NetworkMode, StartupConfig};
use crate::recorder::{Finished, Recorder};
use crate::report::{Outcome, Source, Step};
use crate::store::StoredLease;

/// What the network step settled on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
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
}

/// Runs the network step.
pub(crate) async fn obtain(
    config: &StartupConfig,
    remembered: Option<Ipv4Addr>,
    recorder: &Recorder,
) -> (NetworkParams, Option<LeaseKeeper>) {
    let running = recorder.begin(Step::Dhcp);
    match config.network.mode {
        NetworkMode::Static => {
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
        NetworkMode::Dhcp => match dhcp(config, remembered).await {
            Ok((params, trips, keeper)) => {
                let finished = describe(
                    Finished::new(Outcome::Done, "lease obtained").round_trips(trips),
                    &params,
                    Source::Dhcp,
                );
                recorder.finish(running, finished);
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

async fn dhcp(
    config: &StartupConfig,
    remembered: Option<Ipv4Addr>,
) -> Result<(NetworkParams, u32, LeaseKeeper), String> {
    let interface = config
        .network
        .interface
        .clone()
        .ok_or("[network] interface is not set")?;
    let timeout = Duration::from_millis(config.network.dhcp_timeout_ms);
    let (lease, mac, driver) = lease_driver(
        &interface,
        config.device.name.as_deref(),
        remembered,
        None,
        timeout,
    )
    .await
    .map_err(|e| e.to_string())?;
    // INIT-REBOOT is one REQUEST/ACK; DISCOVER adds OFFER first.
    let trips = if remembered == Some(lease.address) {
        1
    } else {
        2
    };
    Ok((
        from_lease(&lease, Some(mac)),
        trips,
        LeaseKeeper::spawn(driver),
    ))
}

type ReportOnlyDriver = annexr_dhcp::driver::Driver<annexr_dhcp::os::ReportOnly>;

/// Keeps the lease (renewal at T1, rebinding at T2) for as long as the
/// device runs, and releases it at shutdown (R.5.1).
#[derive(Debug)]
pub(crate) struct LeaseKeeper {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<ReportOnlyDriver>,
}

impl LeaseKeeper {
    fn spawn(mut driver: ReportOnlyDriver) -> LeaseKeeper {
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

    /// Stops maintaining the lease and sends DHCPRELEASE.
    pub(crate) async fn release(self) -> Result<(), String> {
        let _ = self.stop.send(true);
        let driver = self.task.await.map_err(|e| e.to_string())?;
        driver
            .release()
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// Asks the DHCP server on `interface`: DISCOVER (or INIT-REBOOT of the
/// `remembered` address) until BOUND, or DHCPINFORM from the fixed address
/// `inform`. The OS is not changed (report-only); returns the lease and the
/// interface's MAC address.
pub async fn request_lease(
    interface: &str,
    desired_name: Option<&str>,
    remembered: Option<Ipv4Addr>,
    inform: Option<Ipv4Addr>,
) -> Result<(annexr_dhcp::Lease, String), crate::Error> {
    let (lease, mac, _) =
        lease_driver(interface, desired_name, remembered, inform, DHCP_TIMEOUT).await?;
    Ok((lease, mac))
}

async fn lease_driver(
    interface: &str,
    desired_name: Option<&str>,
    remembered: Option<Ipv4Addr>,
    inform: Option<Ipv4Addr>,
    timeout: Duration,
) -> Result<(annexr_dhcp::Lease, String, ReportOnlyDriver), annexr_dhcp::Error> {
    let mac = annexr_dhcp::interface_mac(interface)?;
    let mut client_config = annexr_dhcp::ClientConfig::new(mac);
    if let Some(name) = desired_name {
        // The desired machine name (R.1.2.2 step 1); a name that is not a
        // valid host name is simply not proposed.
        if let Ok(with_name) = client_config.clone().with_host_name(name) {
            client_config = with_name;
        }
    }
    let client = match (inform, remembered) {
        (Some(address), _) => annexr_dhcp::Client::inform(client_config, address),
        (None, Some(address)) => annexr_dhcp::Client::init_reboot(client_config, address),
        (None, None) => annexr_dhcp::Client::new(client_config),
    };
    let mut driver = annexr_dhcp::driver::Driver::new(
        interface,
        client,
        annexr_dhcp::os::ReportOnly::default(),
    )?;
    let lease = if inform.is_some() {
        driver.informed(timeout).await
    } else {
        driver.bound(timeout).await
    }?;
    Ok((lease, mac.to_string(), driver))
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
        }),
        dns_servers: lease.dns_servers.iter().map(Ipv4Addr::to_string).collect(),
        ntp_servers: lease.ntp_servers.iter().map(Ipv4Addr::to_string).collect(),
        domain: lease.domain_name.clone(),
        search: lease.domain_search.clone(),
        time_offset: lease.time_offset,
        posix_tz: lease.posix_tz.clone(),
        tz_name: lease.tz_name.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(ip: [u8; 4], mac: Option<&str>) -> StoredLease {
        StoredLease {
            address: Ipv4Addr::from(ip),
            mac: mac.map(str::to_string),
            source: "dhcp".into(),
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
