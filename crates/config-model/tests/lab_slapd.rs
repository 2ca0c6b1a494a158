//! The model's LDIF against a real OpenLDAP slapd (annexr-lab): what the writer
//! emits imports with the stock `ldapadd`/`ldapmodify`, and what `slapcat` and
//! `ldapsearch -LLL` print reads back into equal models.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use annexr_lab::{Slapd, or_skip};
use annexr_model::{
    AeTitle, Attribute, Configuration, ConfigurationRoot, Device, Dn, Extensions, Filter, Layout,
    LdapEntry, ModifyStyle, NetworkAe, NetworkConnection, TransferCapability, TransferRole,
    UniqueAeTitle, diff, export_device, operations, parse_entries, write_ldif,
};

fn aet(s: &str) -> AeTitle {
    AeTitle::new(s).unwrap()
}

/// A device with 3 AEs, 2 connections and transfer capabilities, whose extensions
/// use classes the lab's schema has (stock `extensibleObject`, `applicationProcess`).
fn device(name: &str, prefix: &str) -> Device {
    let mut d = annexr_model::sample_modality(name, prefix, 3).unwrap();
    d.extensions = Extensions {
        object_classes: vec!["extensibleObject".into()],
        attributes: vec![Attribute {
            name: "labeledURI".into(),
            values: vec![b"https://ct.example.org/ info".to_vec()],
        }],
    };
    d.network_aes[0].extensions = Extensions {
        object_classes: vec!["extensibleObject".into()],
        attributes: vec![Attribute {
            name: "seeAlso".into(),
            values: vec![b"cn=somewhere,dc=example,dc=org".to_vec()],
        }],
    };
    d
}

fn layout(slapd: &Slapd) -> Layout {
    Layout::at(Dn::parse(&slapd.config_dn()).unwrap())
}

fn read_back(slapd: &Slapd) -> Configuration {
    let dump = slapd.slapcat().unwrap();
    Configuration::from_entries(&parse_entries(&dump).unwrap()).unwrap()
}

#[test]
fn ldapadd_imports_the_export_and_slapcat_reads_it_back() {
    let Some(slapd) = or_skip(Slapd::builder().read_only(false).start()) else {
        return;
    };
    let d = device("ct-1", "CT");
    assert_eq!(d.validate(), Ok(()));
    let text = export_device(&d, &layout(&slapd));
    slapd.ldapadd(&text).unwrap();

    let cfg = read_back(&slapd);
    assert_eq!(cfg.devices.len(), 1);
    assert_eq!(cfg.devices[0].clone().canonical(), d.clone().canonical());
    let titles: Vec<&str> = cfg
        .unique_ae_titles
        .iter()
        .map(|u| u.ae_title.as_str())
        .collect();
    assert_eq!(titles, ["CT1", "CT2", "CT3"]);

    // ldapsearch -LLL of the device subtree reads back the same way.
    let dn = d.dn(&layout(&slapd)).to_string();
    let out = slapd.ldapsearch(&dn, "(objectClass=*)").unwrap();
    let back = Device::from_entries(&parse_entries(&out).unwrap()).unwrap();
    assert_eq!(back.canonical(), d.canonical());
}

#[test]
fn diff_operations_apply_with_ldapmodify_and_guard_against_concurrent_edits() {
    let Some(slapd) = or_skip(Slapd::builder().read_only(false).start()) else {
        return;
    };
    let l = layout(&slapd);
    let old = device("mr-1", "MR");
    slapd.ldapadd(&export_device(&old, &l)).unwrap();

    let mut new = old.clone();
    new.connections[0].port = Some(104);
    new.connections
        .push(NetworkConnection::new("dicom2", "10.1.2.3", Some(11113)));
    new.network_aes[1].connections.push("dicom2".into());
    new.network_aes[1].association_acceptor = true;
    new.network_aes.remove(2);
    new.network_aes[0].transfer_capabilities.pop();
    new.software_versions = vec!["4.0".into()];
    new.description = None;
    new.installed = false;
    let ops = operations(&diff(&old, &new, &l), ModifyStyle::Guarded);
    let ldif = write_ldif(&ops);
    slapd.ldapmodify(&ldif).unwrap();
    let cfg = read_back(&slapd);
    assert_eq!(
        cfg.device("mr-1").unwrap().clone().canonical(),
        new.clone().canonical()
    );

    // Applying the same guarded change again finds other values than it expects: refused.
    let again = operations(
        &diff(&old, &new, &l)
            .into_iter()
            .filter(|c| matches!(c, annexr_model::Change::Modified { .. }))
            .collect::<Vec<_>>(),
        ModifyStyle::Guarded,
    );
    let err = slapd.ldapmodify(&write_ldif(&again)).unwrap_err();
    eprintln!("refused as expected: {err}");
    assert!(err.to_string().contains("(16)"), "{err}");
}

#[test]
fn modrdn_and_delete_records_apply_with_ldapmodify() {
    use annexr_model::LdifRecord;
    use annexr_model::Rdn;
    let Some(slapd) = or_skip(Slapd::builder().read_only(false).start()) else {
        return;
    };
    let l = layout(&slapd);
    let d = device("us-1", "US");
    slapd.ldapadd(&export_device(&d, &l)).unwrap();
    let dev_dn = d.dn(&l);
    let ae_dn = annexr_model::ae_dn(&dev_dn, &aet("US1"));
    let records = vec![
        LdifRecord::ModRdn {
            dn: ae_dn.child("cn", "CT Image Storage SCU"),
            new_rdn: Rdn::new("cn", "CT Storage, renamed"),
            delete_old_rdn: true,
            new_superior: None,
        },
        LdifRecord::Delete(ae_dn.child("cn", "Verification SCP")),
    ];
    slapd.ldapmodify(&write_ldif(&records)).unwrap();
    let back = read_back(&slapd);
    let ae = back.device("us-1").unwrap().ae(&aet("US1")).unwrap();
    let names: Vec<&str> = ae
        .transfer_capabilities
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(
        names.contains(&"Verification SCU") && names.contains(&"CT Storage, renamed"),
        "{names:?}"
    );
}

#[test]
fn generated_schema_is_the_one_the_lab_loads() {
    assert_eq!(annexr_model::openldap_schema(), annexr_lab::DICOM_SCHEMA);
    assert_eq!(
        annexr_model::openldap_schema_ldif(),
        annexr_lab::DICOM_SCHEMA_LDIF
    );
}

#[test]
fn hostile_names_stay_values_in_dns_and_filters() {
    let Some(slapd) = or_skip(Slapd::builder().read_only(false).start()) else {
        return;
    };
    let l = layout(&slapd);
    // Valid AE titles may contain filter and DN metacharacters.
    let hostile = Device::new("a,b=c+d;<x> #\"q")
        .with_connection(NetworkConnection::new(
            "*)(objectClass=*",
            "127.0.0.1",
            Some(11112),
        ))
        .with_ae(
            NetworkAe::new(aet("*)(OBJECTCLASS=*"))
                .with_connection("*)(objectClass=*")
                .roles(true, true),
        )
        .with_ae(
            NetworkAe::new(aet("a,b=c"))
                .with_connection("*)(objectClass=*")
                .roles(true, false),
        );
    assert_eq!(hostile.validate(), Ok(()));
    slapd.ldapadd(&export_device(&hostile, &l)).unwrap();
    let cfg = read_back(&slapd);
    assert_eq!(cfg.device(&hostile.name).unwrap(), &hostile);

    let filter = Filter::and([
        Filter::object_class("dicomNetworkAE"),
        Filter::eq("dicomAETitle", "*)(OBJECTCLASS=*"),
    ]);
    let out = slapd
        .ldapsearch(&slapd.devices_dn(), &filter.to_string())
        .unwrap();
    let found = parse_entries(&out).unwrap();
    assert_eq!(found.len(), 1, "{out}");
    assert_eq!(found[0].first("dicomAETitle"), Some("*)(OBJECTCLASS=*"));
    // Without escaping, the same text would match every AE.
    let none = slapd
        .ldapsearch(
            &slapd.devices_dn(),
            &Filter::eq("dicomAETitle", "*").to_string(),
        )
        .unwrap();
    assert!(parse_entries(&none).unwrap().is_empty());
}

/// The seed is written by hand (not by this crate's writer), loaded with slapadd.
const SEED: &str = "\
dn: dicomAETitle=MR-2,cn=Unique AE Titles Registry,cn=DICOM Configuration,dc=example,dc=org
objectClass: dicomUniqueAETitle
dicomAETitle: MR-2

dn: dicomDeviceName=mr-2,cn=Devices,cn=DICOM Configuration,dc=example,dc=org
objectClass: dicomDevice
objectClass: extensibleObject
dicomDeviceName: mr-2
dicomDescription: MR scanner, basement
dicomManufacturer: ACME
dicomSoftwareVersion: 1.0
dicomSoftwareVersion: 1.1
dicomVendorData:: AP8Q
dicomPrimaryDeviceType: MR
dicomInstalled: TRUE
dicomInstitutionName:: U3QuIETDvHJlciBIb3NwaXRhbA==
dicomIssuerOfPatientID: HOSP
dicomDeviceUID: 1.2.3.4.5
labeledURI: http://mr-2.example.org/

dn: cn=dicom,dicomDeviceName=mr-2,cn=Devices,cn=DICOM Configuration,dc=example,dc=org
objectClass: dicomNetworkConnection
cn: dicom
dicomHostname: mr-2.example.org
dicomPort: 11112

dn: dicomAETitle=MR-2,dicomDeviceName=mr-2,cn=Devices,cn=DICOM Configuration,dc=example,dc=org
objectClass: dicomNetworkAE
dicomAETitle: MR-2
dicomNetworkConnectionReference: cn=dicom,dicomDeviceName=mr-2,cn=Devices,cn=DICOM Configuration,dc=example,dc=org
dicomAssociationInitiator: TRUE
dicomAssociationAcceptor: TRUE
dicomInstalled: FALSE
dicomSupportedCharacterSet: ISO_IR 192

dn: cn=Verification SCP,dicomAETitle=MR-2,dicomDeviceName=mr-2,cn=Devices,cn=DICOM Configuration,dc=example,dc=org
objectClass: dicomTransferCapability
cn: Verification SCP
dicomSOPClass: 1.2.840.10008.1.1
dicomTransferRole: SCP
dicomTransferSyntax: 1.2.840.10008.1.2
dicomTransferSyntax: 1.2.840.10008.1.2.1
";

fn seed_model() -> Device {
    let mut d = Device::new("mr-2")
        .with_device_type("MR")
        .with_connection(NetworkConnection::new(
            "dicom",
            "mr-2.example.org",
            Some(11112),
        ))
        .with_ae(
            NetworkAe::new(aet("MR-2"))
                .with_connection("dicom")
                .roles(true, true)
                .installed(false)
                .with_transfer_capability(TransferCapability::verification(TransferRole::Scp)),
        );
    d.description = Some("MR scanner, basement".into());
    d.manufacturer = Some("ACME".into());
    d.software_versions = vec!["1.0".into(), "1.1".into()];
    d.vendor_data = vec![vec![0x00, 0xff, 0x10]];
    d.institution_names = vec!["St. Dürer Hospital".into()];
    d.issuer_of_patient_id = Some("HOSP".into());
    d.device_uid = Some("1.2.3.4.5".into());
    d.network_aes[0].supported_character_sets = vec!["ISO_IR 192".into()];
    d.extensions.object_classes.push("extensibleObject".into());
    d.extensions.attributes.push(Attribute {
        name: "labeledURI".into(),
        values: vec![b"http://mr-2.example.org/".to_vec()],
    });
    d
}

#[test]
fn slapcat_of_the_seed_reads_back_into_the_seed_model() {
    let Some(slapd) = or_skip(Slapd::builder().seed_ldif(SEED).read_only(true).start()) else {
        return;
    };
    let expected = seed_model();
    assert_eq!(
        Device::from_entries(&parse_entries(SEED).unwrap()[1..]).unwrap(),
        expected
    );

    let dump = slapd.slapcat().unwrap();
    assert!(
        dump.contains("entryUUID"),
        "slapcat prints operational attributes, which the model drops"
    );
    let cfg = read_back(&slapd);
    assert_eq!(cfg.devices, vec![expected.clone()]);
    assert_eq!(cfg.unique_ae_titles, vec![UniqueAeTitle::new(aet("MR-2"))]);
    assert_eq!(cfg.layout.config_dn.to_string(), slapd.config_dn());
    assert_eq!(cfg.root, ConfigurationRoot::default());
    // Writing the read-back tree again yields the same entries as the dump (minus operational attributes).
    let rewritten = cfg.to_entries();
    let dumped: Vec<LdapEntry> = parse_entries(&dump)
        .unwrap()
        .into_iter()
        .filter(|e| e.dn.is_within(&cfg.layout.config_dn))
        .collect();
    assert_eq!(rewritten.len(), dumped.len());
}
