//! DCMTK DICOM peers: `storescp` (accepts Verification from anyone) and
//! `dcmqrscp` (knows its callers by AE title and host).

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;

use tempfile::TempDir;

use crate::process::{Readiness, ServerProcess, find_binary, version_of};
use crate::tls::LabCa;
use crate::{LabError, announce, with_port_retry};

/// How a [`Storescp`] negotiates.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Negotiation {
    /// DCMTK's defaults: Verification and storage in the usual syntaxes.
    Default,
    /// `--refuse`: every association is rejected (permanent, service user,
    /// no reason given).
    RefuseAll,
    /// Verification is accepted only in this one transfer syntax (an
    /// association negotiation profile, `-xf`).
    OnlyTransferSyntax(String),
}

/// Configures a [`Storescp`] before it starts.
#[derive(Debug, Clone)]
pub struct StorescpBuilder {
    ae_title: String,
    negotiation: Negotiation,
    tls: bool,
}

impl Default for StorescpBuilder {
    fn default() -> Self {
        StorescpBuilder {
            ae_title: "STORESCP".into(),
            negotiation: Negotiation::Default,
            tls: false,
        }
    }
}

impl StorescpBuilder {
    /// Its own AE title (default `STORESCP`). storescp accepts any called AE.
    pub fn ae_title(mut self, ae_title: &str) -> Self {
        self.ae_title = ae_title.to_string();
        self
    }

    /// Reject every association request (`storescp --refuse`).
    pub fn refuse_all(mut self) -> Self {
        self.negotiation = Negotiation::RefuseAll;
        self
    }

    /// Accept Verification only in the transfer syntax with this UID, so a
    /// caller that does not offer it gets "transfer syntaxes not supported".
    pub fn only_transfer_syntax(mut self, uid: &str) -> Self {
        self.negotiation = Negotiation::OnlyTransferSyntax(uid.to_string());
        self
    }

    /// Accept only TLS connections (`storescp +tls`, DICOM Basic TLS
    /// profile), with a server certificate from a CA the lab generates
    /// ([`Storescp::ca_cert_path`]); client certificates are not asked for.
    pub fn tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }

    /// Starts storescp and waits until it accepts TCP connections.
    pub fn start(self) -> Result<Storescp, LabError> {
        let binary = find_binary("storescp", "storescp", "dcmtk")?;
        let version = version_of(&binary, &["--version"]);
        let dir = tempfile::Builder::new()
            .prefix("annexr-storescp-")
            .tempdir()?;
        let received = dir.path().join("received");
        std::fs::create_dir_all(&received)?;
        let mut args: Vec<String> = vec!["--aetitle".into(), self.ae_title.clone()];
        let ca = if self.tls {
            let ca = LabCa::generate(dir.path())?;
            args.extend([
                "+tls".into(),
                ca.server_key.display().to_string(),
                ca.server_cert.display().to_string(),
                "--null-passwd".into(),
                "--ignore-peer-cert".into(),
            ]);
            Some(ca)
        } else {
            None
        };
        match &self.negotiation {
            Negotiation::Default => {}
            Negotiation::RefuseAll => args.push("--refuse".into()),
            Negotiation::OnlyTransferSyntax(uid) => {
                if !uid.chars().all(|c| c.is_ascii_digit() || c == '.') {
                    return Err(LabError::Invalid(format!("not a UID: {uid:?}")));
                }
                let profile = dir.path().join("profile.cfg");
                std::fs::write(
                    &profile,
                    format!(
                        "[[TransferSyntaxes]]\n[OnlyThis]\nTransferSyntax1 = {uid}\n\n\
                         [[PresentationContexts]]\n[Verification]\n\
                         PresentationContext1 = 1.2.840.10008.1.1\\OnlyThis\n\n\
                         [[Profiles]]\n[Restricted]\nPresentationContexts = Verification\n"
                    ),
                )?;
                args.extend([
                    "-xf".into(),
                    profile.display().to_string(),
                    "Restricted".into(),
                ]);
            }
        }
        let (addr, process) = with_port_retry(|port| {
            let mut cmd = Command::new(&binary);
            cmd.args(&args)
                .arg("--output-directory")
                .arg(&received)
                .arg(port.to_string());
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let process = ServerProcess::spawn(
                "storescp",
                cmd,
                &dir.path().join("storescp.log"),
                Readiness::Tcp(addr),
            )?;
            Ok((addr, process))
        })?;
        announce(
            &format!("storescp {}", self.ae_title),
            &version,
            &addr.to_string(),
            process.ready_after,
        );
        Ok(Storescp {
            addr,
            ae_title: self.ae_title,
            version,
            ca,
            process,
            _dir: dir,
        })
    }
}

/// A running DCMTK storescp.
#[derive(Debug)]
pub struct Storescp {
    addr: SocketAddr,
    ae_title: String,
    version: String,
    ca: Option<LabCa>,
    process: ServerProcess,
    _dir: TempDir,
}

impl Storescp {
    /// A builder: AE title `STORESCP`, DCMTK's default negotiation.
    pub fn builder() -> StorescpBuilder {
        StorescpBuilder::default()
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its AE title.
    pub fn ae_title(&self) -> &str {
        &self.ae_title
    }

    /// storescp's version line.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Time from spawn to the first accepted connection.
    pub fn ready_after(&self) -> std::time::Duration {
        self.process.ready_after
    }

    /// The PEM file of the CA that signed its certificate, when started with
    /// TLS (the certificate names `localhost` and 127.0.0.1).
    pub fn ca_cert_path(&self) -> Option<&std::path::Path> {
        self.ca.as_ref().map(|ca| ca.ca_cert.as_path())
    }
}

/// Configures a [`Dcmqrscp`] before it starts.
#[derive(Debug, Clone)]
pub struct DcmqrscpBuilder {
    ae_title: String,
    peers: Vec<(String, String, u16)>,
}

impl Default for DcmqrscpBuilder {
    fn default() -> Self {
        DcmqrscpBuilder {
            ae_title: "PICKY".into(),
            peers: Vec::new(),
        }
    }
}

impl DcmqrscpBuilder {
    /// Its own AE title (default `PICKY`); other called titles are rejected.
    pub fn ae_title(mut self, ae_title: &str) -> Self {
        self.ae_title = ae_title.to_string();
        self
    }

    /// A calling AE it accepts. DCMTK compares the caller's host by name, and
    /// a loopback caller is seen as `localhost`, so `127.0.0.1` is written as
    /// `localhost`. With no peers at all it accepts no one.
    pub fn peer(mut self, ae_title: &str, host: &str, port: u16) -> Self {
        let host = if host == "127.0.0.1" {
            "localhost"
        } else {
            host
        };
        self.peers
            .push((ae_title.to_string(), host.to_string(), port));
        self
    }

    /// Starts dcmqrscp and waits until it accepts TCP connections.
    pub fn start(self) -> Result<Dcmqrscp, LabError> {
        let binary = find_binary("dcmqrscp", "dcmqrscp", "dcmtk")?;
        let version = version_of(&binary, &["--version"]);
        let dir = tempfile::Builder::new()
            .prefix("annexr-dcmqrscp-")
            .tempdir()?;
        let storage = dir.path().join("db");
        std::fs::create_dir_all(&storage)?;
        for text in std::iter::once(&self.ae_title).chain(self.peers.iter().map(|p| &p.0)) {
            if text.is_empty() || text.contains([' ', ',', '(', ')', '\n']) {
                return Err(LabError::Invalid(format!(
                    "AE title {text:?} cannot be written to dcmqrscp.cfg"
                )));
            }
        }
        let (addr, process) = with_port_retry(|port| {
            let mut hosts = String::new();
            let mut names = Vec::new();
            for (i, (aet, host, peer_port)) in self.peers.iter().enumerate() {
                hosts.push_str(&format!("peer{i} = ({aet}, {host}, {peer_port})\n"));
                names.push(format!("peer{i}"));
            }
            let peers = if names.is_empty() {
                "nobody".to_string()
            } else {
                names.join(", ")
            };
            let conf = dir.path().join("dcmqrscp.cfg");
            std::fs::write(
                &conf,
                format!(
                    "NetworkTCPPort = {port}\nMaxPDUSize = 16384\nMaxAssociations = 16\n\
                     HostTable BEGIN\n{hosts}nobody = (NOBODY, nowhere.invalid, 1)\nHostTable END\n\
                     VendorTable BEGIN\nVendorTable END\n\
                     AETable BEGIN\n{aet} {storage} RW (10, 1024mb) {peers}\nAETable END\n",
                    aet = self.ae_title,
                    storage = storage.display(),
                ),
            )?;
            // Fork mode: DCMTK 3.6.7's single-process mode crashes after the
            // first association. The lab stops the forked children with the
            // process group.
            let mut cmd = Command::new(&binary);
            cmd.arg("-c").arg(&conf);
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let process = ServerProcess::spawn(
                "dcmqrscp",
                cmd,
                &dir.path().join("dcmqrscp.log"),
                Readiness::Tcp(addr),
            )?;
            Ok((addr, process))
        })?;
        announce(
            &format!("dcmqrscp {}", self.ae_title),
            &version,
            &addr.to_string(),
            process.ready_after,
        );
        Ok(Dcmqrscp {
            addr,
            ae_title: self.ae_title,
            version,
            process,
            _dir: dir,
        })
    }
}

/// A running DCMTK dcmqrscp: it rejects a called AE title other than its
/// own, and a calling AE title (or host) not in its peer list, both with
/// A-ASSOCIATE-RJ permanent / service user / reason 7 ("called AE title not
/// recognized": DCMTK reports both cases with that reason).
#[derive(Debug)]
pub struct Dcmqrscp {
    addr: SocketAddr,
    ae_title: String,
    version: String,
    process: ServerProcess,
    _dir: TempDir,
}

impl Dcmqrscp {
    /// A builder: AE title `PICKY`, no known peers.
    pub fn builder() -> DcmqrscpBuilder {
        DcmqrscpBuilder::default()
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its AE title.
    pub fn ae_title(&self) -> &str {
        &self.ae_title
    }

    /// dcmqrscp's version line.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Time from spawn to the first accepted connection.
    pub fn ready_after(&self) -> std::time::Duration {
        self.process.ready_after
    }
}
