//! A throw-away certificate authority for the lab's TLS servers, made with
//! the stock `openssl` tool: one CA and one server certificate for
//! `localhost` and 127.0.0.1.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::LabError;
use crate::process::{find_binary, run_tool};

/// PEM files of a lab CA and of a server certificate it signed.
#[derive(Debug, Clone)]
pub struct LabCa {
    /// The CA certificate (trust anchor for clients).
    pub ca_cert: PathBuf,
    /// The server certificate (subject CN=localhost, SAN localhost and 127.0.0.1).
    pub server_cert: PathBuf,
    /// The server's private key (unencrypted).
    pub server_key: PathBuf,
}

impl LabCa {
    /// Generates a CA and a server certificate valid for 30 days in `dir`.
    pub fn generate(dir: &Path) -> Result<LabCa, LabError> {
        let openssl = find_binary("lab CA", "openssl", "openssl")?;
        let ca = LabCa {
            ca_cert: dir.join("ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
        };
        let ca_key = dir.join("ca.key");
        let csr = dir.join("server.csr");
        let ext = dir.join("server.ext");
        // OpenLDAP's libldap checks the name a reverse lookup of the peer
        // gives, which is this machine's host name on many hosts, so the
        // certificate names it too.
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default();
        // The sample site's SRV target name too, so TLS to it verifies.
        let mut san = format!(
            "DNS:localhost,IP:127.0.0.1,DNS:{},DNS:*.{}",
            crate::site::LDAP_HOST,
            crate::site::SITE_DOMAIN
        );
        if !hostname.is_empty()
            && hostname
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            san.push_str(&format!(",DNS:{hostname}"));
        }
        std::fs::write(
            &ext,
            format!(
                "subjectAltName={san}\nbasicConstraints=CA:FALSE\n\
                 keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
            ),
        )?;
        // RSA keys: DCMTK's default BCP 195 profile offers ECDHE-RSA suites.
        run_tool(
            "openssl req (CA)",
            Command::new(&openssl)
                .args([
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
                ])
                .args(["-subj", "/CN=annexr lab CA", "-keyout"])
                .arg(&ca_key)
                .arg("-out")
                .arg(&ca.ca_cert),
            None,
        )?;
        run_tool(
            "openssl req (server)",
            Command::new(&openssl)
                .args([
                    "req",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-subj",
                    "/CN=localhost",
                ])
                .arg("-keyout")
                .arg(&ca.server_key)
                .arg("-out")
                .arg(&csr),
            None,
        )?;
        run_tool(
            "openssl x509 (sign)",
            Command::new(&openssl)
                .args(["x509", "-req", "-days", "30", "-CAcreateserial", "-in"])
                .arg(&csr)
                .arg("-CA")
                .arg(&ca.ca_cert)
                .arg("-CAkey")
                .arg(&ca_key)
                .arg("-extfile")
                .arg(&ext)
                .arg("-out")
                .arg(&ca.server_cert),
            None,
        )?;
        Ok(ca)
    }
}
