//! `annexr schema` prints exactly the schema files the lab's slapd loads in
//! every lab test (crates/lab/schema), in both OpenLDAP formats and the
//! 389 Directory Server format.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::process::Command;

fn schema(format: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_annexr"))
        .args(["schema", "--format", format])
        .output()
        .expect("run annexr");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).expect("UTF-8")
}

fn lab_file(name: &str) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../lab/schema/");
    std::fs::read_to_string(format!("{path}{name}")).expect("lab schema file")
}

#[test]
fn schema_openldap_is_the_file_slapd_includes() {
    assert_eq!(schema("openldap"), lab_file("dicom.schema"));
}

#[test]
fn schema_ldif_is_the_cn_config_entry_slapd_loads() {
    let ldif = schema("ldif");
    assert!(ldif.contains("dn: cn=dicom,cn=schema,cn=config"));
    assert_eq!(ldif, lab_file("dicom.ldif"));
}

#[test]
fn schema_389_is_the_file_389_ds_loads() {
    let ldif = schema("389");
    assert!(ldif.contains("\ndn: cn=schema\n"));
    assert_eq!(ldif, lab_file("98dicom-389ds.ldif"));
}

#[test]
fn schema_output_file_and_unknown_format() {
    let dir = std::env::temp_dir().join(format!("annexr-schema-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("dicom.ldif");
    let out = Command::new(env!("CARGO_BIN_EXE_annexr"))
        .args(["schema", "--output"])
        .arg(&file)
        .output()
        .expect("run annexr");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(&file).expect("written"),
        lab_file("dicom.ldif")
    );
    let bad = Command::new(env!("CARGO_BIN_EXE_annexr"))
        .args(["schema", "--format", "ad"])
        .output()
        .expect("run annexr");
    assert_eq!(bad.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}
