//! Targets from `annexr-model` Network AEs and Network Connections, so that
//! a configuration loaded from LDAP is probed as it is written.

use annexr_model::{Device, NetworkAe, NetworkConnection, TransferRole};

use crate::pdu::ProposedContext;
use crate::report::Error;
use crate::target::{ProbeOptions, Target};
use crate::tls::TlsOptions;

/// PS3.8 allows at most 128 presentation contexts in one association.
const MAX_CONTEXTS: usize = 128;

impl Target {
    /// The target for `ae` reached through `connection` (one of the AE's
    /// `dicomNetworkConnectionReference`s), called by `calling_ae`.
    ///
    /// A connection with `dicomTLSCipherSuite` needs `tls` (the model holds
    /// no trust anchors); a connection without `dicomPort` only initiates and
    /// cannot be probed.
    pub fn from_model(
        ae: &NetworkAe,
        connection: &NetworkConnection,
        calling_ae: &str,
        tls: Option<&TlsOptions>,
    ) -> Result<Target, Error> {
        let peer = format!("{}@{}", ae.ae_title.as_str(), connection.hostname);
        let port = connection.port.ok_or_else(|| Error::InvalidTarget {
            peer: peer.clone(),
            cause: format!(
                "connection {:?} has no dicomPort: it only initiates associations",
                connection.name
            ),
        })?;
        let target = Target::new(
            connection.hostname.clone(),
            port,
            ae.ae_title.as_str(),
            calling_ae,
        );
        if connection.is_tls() {
            let tls = tls.ok_or_else(|| Error::TlsSetup {
                peer,
                cause: format!(
                    "connection {:?} uses TLS ({}) but no TLS settings were given",
                    connection.name,
                    connection.tls_cipher_suites.join(", ")
                ),
            })?;
            Ok(target.tls(tls.clone()))
        } else {
            Ok(target)
        }
    }
}

/// Every probe-able target of `device`: each installed AE that accepts
/// associations, through each of its installed connections that has a port.
/// TLS connections get `tls`, and are skipped when it is `None`.
pub fn targets_of_device(
    device: &Device,
    calling_ae: &str,
    tls: Option<&TlsOptions>,
) -> Vec<Target> {
    device
        .network_aes
        .iter()
        .filter(|ae| ae.association_acceptor && ae.effective_installed(device))
        .flat_map(|ae| {
            ae.connections_in(device)
                .filter(|c| c.effective_installed(device))
                .filter_map(move |c| Target::from_model(ae, c, calling_ae, tls).ok())
        })
        .collect()
}

impl ProbeOptions {
    /// Options that propose, besides Verification, every SCP transfer
    /// capability `ae` is configured with: "does the peer accept what its
    /// configuration says?" (at most 128 contexts, as PS3.8 allows).
    pub fn for_capabilities(ae: &NetworkAe) -> ProbeOptions {
        let mut contexts = vec![ProposedContext::verification()];
        contexts.extend(
            ae.transfer_capabilities
                .iter()
                .filter(|tc| tc.role == TransferRole::Scp && tc.sop_class != crate::VERIFICATION)
                .map(|tc| ProposedContext::new(tc.sop_class.clone(), tc.transfer_syntaxes.clone()))
                .take(MAX_CONTEXTS - 1),
        );
        ProbeOptions::default().contexts(contexts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use annexr_model::{AeTitle, TransferCapability};

    fn device() -> Device {
        Device::new("pacs")
            .with_connection(NetworkConnection::new(
                "dicom",
                "pacs.example.org",
                Some(11112),
            ))
            .with_connection(
                NetworkConnection::new("dicom-tls", "pacs.example.org", Some(2762))
                    .tls(["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]),
            )
            .with_connection(NetworkConnection::new("out", "pacs.example.org", None))
            .with_ae(
                NetworkAe::new(AeTitle::new("PACS").unwrap())
                    .with_connection("dicom")
                    .with_connection("dicom-tls")
                    .with_connection("out")
                    .roles(true, true)
                    .with_transfer_capability(TransferCapability::new(
                        "CT",
                        "1.2.840.10008.5.1.4.1.1.2",
                        TransferRole::Scp,
                        ["1.2.840.10008.1.2.4.50"],
                    ))
                    .with_transfer_capability(TransferCapability::new(
                        "CT out",
                        "1.2.840.10008.5.1.4.1.1.2",
                        TransferRole::Scu,
                        ["1.2.840.10008.1.2"],
                    )),
            )
            .with_ae(
                NetworkAe::new(AeTitle::new("PACS_SCU").unwrap())
                    .with_connection("out")
                    .roles(true, false),
            )
    }

    #[test]
    fn targets_follow_the_model() {
        let d = device();
        let plain = targets_of_device(&d, "ANNEXR", None);
        assert_eq!(plain.len(), 1);
        assert_eq!(plain[0].called_ae, "PACS");
        assert_eq!(plain[0].port, 11112);
        assert!(plain[0].tls.is_none());
        let tls = TlsOptions::with_ca_pem(b"-".to_vec());
        let all = targets_of_device(&d, "ANNEXR", Some(&tls));
        assert_eq!(all.len(), 2);
        assert!(all[1].tls.is_some());
        assert_eq!(all[1].port, 2762);

        let ae = &d.network_aes[0];
        let out = d.connection("out").unwrap();
        assert!(matches!(
            Target::from_model(ae, out, "ANNEXR", None),
            Err(Error::InvalidTarget { .. })
        ));
        let tls_conn = d.connection("dicom-tls").unwrap();
        assert!(matches!(
            Target::from_model(ae, tls_conn, "ANNEXR", None),
            Err(Error::TlsSetup { .. })
        ));
    }

    #[test]
    fn capabilities_become_proposed_contexts() {
        let d = device();
        let o = ProbeOptions::for_capabilities(&d.network_aes[0]);
        assert_eq!(o.contexts.len(), 2);
        assert_eq!(o.contexts[0].abstract_syntax, crate::VERIFICATION);
        assert_eq!(o.contexts[1].transfer_syntaxes, ["1.2.840.10008.1.2.4.50"]);
    }
}
