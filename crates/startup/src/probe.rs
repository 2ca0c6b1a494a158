//! After configuration: verify the peers this device works with (AEs of the
//! configured device types) with real associations, and summarize.

use annexr_ldap::{AeAddress, DeviceTypeQuery, LdapClient};
use annexr_model::Device;
use annexr_probe::{ProbeOptions, SweepOptions, Target};

use crate::config::{StartupConfig, millis};
use crate::recorder::{Finished, Recorder};
use crate::report::{Outcome, Source, Step};

/// Probes on the LDAP connection the configure step used; without one (LDAP
/// was unavailable) the peers cannot be listed.
pub(crate) async fn peers(
    config: &StartupConfig,
    device: &Device,
    client: Option<&LdapClient>,
    recorder: &Recorder,
) {
    let running = recorder.begin(Step::Probe);
    let Some(calling) = device.network_aes.first().map(|ae| ae.ae_title.to_string()) else {
        recorder.finish(
            running,
            Finished::new(Outcome::Skipped, "the device has no AE to call from"),
        );
        return;
    };
    let Some(client) = client else {
        recorder.finish(
            running,
            Finished::new(
                Outcome::Skipped,
                "LDAP is unavailable: the peers cannot be listed",
            ),
        );
        return;
    };
    let mut targets = Vec::new();
    let mut trips = 0;
    for device_type in &config.probe.device_types {
        let mut query = DeviceTypeQuery::new(device_type);
        query.installed_only = true;
        match client.find_aes_by_device_type(&query).await {
            Ok(found) => {
                trips += found.stats.round_trips;
                for ae in found.value {
                    if let Some(AeAddress { host, port, tls }) = ae.address()
                        && !tls
                    {
                        targets.push(Target::new(
                            host,
                            port,
                            ae.ae_title.clone(),
                            calling.clone(),
                        ));
                    }
                }
            }
            Err(e) => recorder.warn(
                Step::Probe,
                format!("peers of type {device_type} could not be listed: {e}"),
                "check the LDAP server",
            ),
        }
    }
    let timeout = millis(config.probe.timeout_ms);
    let options = SweepOptions {
        concurrency: 16,
        probe: ProbeOptions::default().total_timeout(Some(timeout)),
    };
    let sweep = annexr_probe::sweep(&targets, &options).await;
    let mut finished = Finished::new(
        if sweep.summary.all_good == sweep.summary.peers {
            Outcome::Done
        } else {
            Outcome::Failed
        },
        format!(
            "{} of {} peer(s) answered C-ECHO",
            sweep.summary.all_good, sweep.summary.peers
        ),
    )
    .round_trips(trips);
    for item in &sweep.items {
        let verdict = item
            .report
            .as_ref()
            .map(|r| r.verdict.to_string())
            .or_else(|| item.error.as_ref().map(ToString::to_string))
            .unwrap_or_default();
        finished = finished.value(
            "peer",
            format!(
                "{}@{}:{} {verdict}",
                item.target.called_ae, item.target.host, item.target.port
            ),
            Source::Ldap,
        );
        if item
            .report
            .as_ref()
            .is_none_or(|r| !matches!(r.verdict, annexr_probe::Verdict::AllGood))
        {
            recorder.warn(
                Step::Probe,
                format!(
                    "peer {} at {}:{} failed: {verdict}",
                    item.target.called_ae, item.target.host, item.target.port
                ),
                "check that the peer knows this device's AE title and that the port is open",
            );
        }
    }
    recorder.finish(running, finished);
}
