//! Every LDAP server family of the lab (OpenLDAP slapd, 389 Directory
//! Server) serves the same DICOM tree under the same rules, checked with the
//! stock OpenLDAP client tools.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::process::{Command, Output};

use annexr_lab::{Ds389, LdapServer, LdapServerKind, or_skip};

const SEED: &str = "dn: dicomDeviceName=CT1,cn=Devices,cn=DICOM Configuration,dc=example,dc=org
objectClass: dicomDevice
dicomDeviceName: CT1
dicomInstalled: TRUE
";

const REGISTRY_ENTRY: &str =
    "dn: dicomAETitle=CT1,cn=Unique AE Titles Registry,cn=DICOM Configuration,dc=example,dc=org
objectClass: dicomUniqueAETitle
dicomAETitle: CT1
";

/// The stock ldapsearch/ldapadd with verified TLS under the server's lab CA.
fn tool(server: &dyn LdapServer, tool: &str, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    // The certificate names localhost, so the URL must too.
    let url = server.url().replace("127.0.0.1", "localhost");
    let mut child = Command::new(tool)
        .env("LDAPTLS_CACERT", server.ca_cert_path().unwrap())
        .env("LDAPTLS_REQCERT", "demand")
        .args(["-x", "-ZZ", "-H", &url])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    if let Some(input) = stdin {
        pipe.write_all(input.as_bytes()).unwrap();
    }
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn every_family_serves_the_dicom_tree_under_the_same_access_rules() {
    for kind in LdapServerKind::all() {
        let Some(server) = or_skip(kind.builder().seed_ldif(SEED).start()) else {
            return;
        };
        assert_eq!(server.kind(), kind);
        // Anonymous read of the tree over StartTLS verified by the lab CA.
        let anonymous = tool(
            &server,
            "ldapsearch",
            &[
                "-LLL",
                "-b",
                &server.devices_dn(),
                "(dicomDeviceName=CT1)",
                "dicomInstalled",
            ],
            None,
        );
        assert!(anonymous.status.success(), "{kind}: {}", text(&anonymous));
        assert!(
            text(&anonymous).contains("dicomInstalled: TRUE"),
            "{kind}: {}",
            text(&anonymous)
        );
        // Passwords are not readable, not even by their owner's peers.
        let password = tool(
            &server,
            "ldapsearch",
            &["-LLL", "-b", server.suffix(), "(cn=device)", "userPassword"],
            None,
        );
        assert!(password.status.success(), "{kind}: {}", text(&password));
        assert!(text(&password).contains("dn: cn=device,"), "{kind}");
        assert!(!text(&password).contains("userPassword"), "{kind}");
        // The device account writes the registry; a second add is 68.
        let device = ["-D", &server.device_dn(), "-w", server.device_password()];
        let first = tool(&server, "ldapadd", &device, Some(REGISTRY_ENTRY));
        assert!(first.status.success(), "{kind}: {}", text(&first));
        let again = tool(&server, "ldapadd", &device, Some(REGISTRY_ENTRY));
        assert_eq!(again.status.code(), Some(68), "{kind}: {}", text(&again));
        // Anonymous writes are refused: slapd asks for a bind first
        // (strongerAuthRequired, 8), 389-DS finds no ACI granting the add
        // (insufficientAccessRights, 50).
        let anonymous_add = tool(
            &server,
            "ldapadd",
            &[],
            Some(&REGISTRY_ENTRY.replace("CT1", "CT2")),
        );
        let refused = match kind {
            LdapServerKind::OpenLdap => 8,
            _ => 50,
        };
        assert_eq!(
            anonymous_add.status.code(),
            Some(refused),
            "{kind}: {}",
            text(&anonymous_add)
        );
        // An entry of an unknown class is refused by the schema: slapd
        // rejects the value (invalidAttributeSyntax, 21), 389-DS the entry
        // (objectClassViolation, 65).
        let bad = tool(
            &server,
            "ldapadd",
            &device,
            Some(
                &REGISTRY_ENTRY
                    .replace("CT1", "CT3")
                    .replace("dicomUniqueAETitle\n", "noSuchClass\n"),
            ),
        );
        let unknown_class = match kind {
            LdapServerKind::OpenLdap => 21,
            _ => 65,
        };
        assert_eq!(
            bad.status.code(),
            Some(unknown_class),
            "{kind}: {}",
            text(&bad)
        );
    }
}

#[test]
fn a_read_only_server_refuses_the_device_account_with_50() {
    for kind in LdapServerKind::all() {
        let Some(server) = or_skip(kind.builder().read_only(true).start()) else {
            return;
        };
        let device = ["-D", &server.device_dn(), "-w", server.device_password()];
        let add = tool(&server, "ldapadd", &device, Some(REGISTRY_ENTRY));
        assert_eq!(add.status.code(), Some(50), "{kind}: {}", text(&add));
        // The administrator still writes.
        server.ldapadd(REGISTRY_ENTRY).unwrap();
    }
}

#[test]
fn a_389_instance_lives_in_its_directory_and_leaves_nothing_behind() {
    let Some(mut server) = or_skip(Ds389::builder().start()) else {
        return;
    };
    assert!(
        server.version().starts_with("389-Directory/"),
        "{}",
        server.version()
    );
    let pid = server.pid().unwrap();
    let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap();
    let config_dir = cmdline.split('\0').nth(2).unwrap().to_string();
    assert!(
        config_dir.starts_with(&std::env::temp_dir().display().to_string()),
        "{cmdline:?}"
    );
    // Stopped and started again: the data stays.
    server.ldapadd(REGISTRY_ENTRY).unwrap();
    server.restart().unwrap();
    let found = server
        .ldapsearch_scope(&server.registry_dn(), "one", "(dicomAETitle=CT1)")
        .unwrap();
    assert!(found.contains("dicomAETitle: CT1"), "{found}");
    assert!(
        server.log().contains(" ADD dn=\"dicomAETitle=CT1,"),
        "{}",
        server.log()
    );
    drop(server);
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert!(!std::path::Path::new(&config_dir).exists(), "{config_dir}");
}
