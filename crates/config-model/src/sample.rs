//! Sample devices for examples, tests and benchmarks.

use crate::model::*;
use crate::{AeTitle, Attribute, Dn, LdapEntry, Result};

/// A CT modality `name` with `aes` Network AEs (`<PREFIX>1`…), a plain and a TLS
/// connection, Verification and CT Image Storage transfer capabilities, and a
/// dcm4che-style vendor extension on the device and the first AE.
///
/// `prefix` plus the AE number must make a valid AE title (≤ 16 characters).
pub fn sample_modality(name: &str, prefix: &str, aes: usize) -> Result<Device> {
    let mut d = Device::new(name)
        .with_device_type("CT")
        .with_connection(NetworkConnection::new("dicom", "127.0.0.1", Some(11112)))
        .with_connection(
            NetworkConnection::new("dicom-tls", "ct.example.org", Some(2762))
                .tls(["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"])
                .installed(false),
        );
    d.description = Some(format!("CT scanner {name}, room 1"));
    d.manufacturer = Some("ACME Medical".into());
    d.manufacturer_model_name = Some("Scanomat 3000".into());
    d.software_versions = vec!["3.1.4".into(), "firmware 7".into()];
    d.station_name = Some("CTROOM1".into());
    d.institution_names = vec!["St. Example Hospital".into()];
    d.institution_department_names = vec!["Radiology".into()];
    d.device_uid = Some("1.2.826.0.1.3680043.9.7433.1.1".into());
    d.vendor_data = vec![vec![0x00, 0xff, 0x10, b'\n']];
    d.extensions.object_classes.push("dcmDevice".into());
    d.extensions.attributes.push(Attribute {
        name: "dcmKeyStoreType".into(),
        values: vec![b"PKCS12".to_vec()],
    });
    for i in 1..=aes {
        let mut ae = NetworkAe::new(AeTitle::new(&format!("{prefix}{i}"))?)
            .with_connection("dicom")
            .roles(true, i == 1)
            .description(&format!("AE number {i}"))
            .with_transfer_capability(TransferCapability::verification(TransferRole::Scu))
            .with_transfer_capability(TransferCapability::verification(TransferRole::Scp))
            .with_transfer_capability(TransferCapability::new(
                "CT Image Storage SCU",
                "1.2.840.10008.5.1.4.1.1.2",
                TransferRole::Scu,
                [
                    IMPLICIT_VR_LITTLE_ENDIAN,
                    EXPLICIT_VR_LITTLE_ENDIAN,
                    "1.2.840.10008.1.2.4.70",
                ],
            ));
        if i == 1 {
            ae.connections.push("dicom-tls".into());
            ae.supported_character_sets = vec!["ISO_IR 100".into()];
            ae.preferred_called_ae_titles = vec![AeTitle::new("ARCHIVE")?];
        }
        if i == 2 {
            ae.installed = Some(false);
        }
        d.network_aes.push(ae);
    }
    if let Some(ae) = d.network_aes.first_mut() {
        ae.extensions.object_classes.push("dcmNetworkAE".into());
        ae.extensions.attributes.push(Attribute {
            name: "dcmAcceptedCallingAETitle".into(),
            values: vec![b"PACS".to_vec()],
        });
    }
    d.other_entries.push(
        LdapEntry::new(Dn::root().child("cn", "vendor settings"))
            .with("objectClass", "applicationProcess")
            .with("cn", "vendor settings"),
    );
    Ok(d)
}
