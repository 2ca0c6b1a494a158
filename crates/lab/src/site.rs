//! The sample site: a small hospital with one modality, one archive and one
//! printer, served by every lab server at once. Used by `cargo xtask demo`,
//! `cargo xtask lab` and the end-to-end tests.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::{Chronyd, Dnsmasq, LabError, Slapd, SrvRecord, Storescp};

/// The DNS domain of the sample site (`.example` is reserved, RFC 2606).
pub const SITE_DOMAIN: &str = "hospital.example";
/// The LDAP server's host name in the sample site's DNS.
pub const LDAP_HOST: &str = "ldap.hospital.example";

/// One device of the sample site's DICOM configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteDevice {
    /// `dicomDeviceName`.
    pub name: String,
    /// `dicomPrimaryDeviceType`.
    pub device_type: String,
    /// The AE title of its one Network AE.
    pub ae_title: String,
    /// Host of its one Network Connection.
    pub hostname: String,
    /// Port of its one Network Connection.
    pub port: u16,
}

/// Every lab server running together with the sample site's configuration.
#[derive(Debug)]
pub struct SampleSite {
    /// LDAP with the site's DICOM configuration.
    pub slapd: Slapd,
    /// DNS with `_ldap._tcp.hospital.example` pointing at `slapd`.
    pub dns: Dnsmasq,
    /// NTP, serving the host's time shifted by the requested offset.
    pub ntp: Chronyd,
    /// The archive's DICOM peer (AE `ARCHIVE`).
    pub archive: Storescp,
    /// The printer's DICOM peer (AE `PRINTER`; storescp answers C-ECHO for it).
    pub printer: Storescp,
    /// The devices the configuration holds.
    pub devices: Vec<SiteDevice>,
}

impl SampleSite {
    /// Starts all servers; chronyd serves the host time shifted by
    /// `clock_offset_secs` (0 for none).
    pub fn start(clock_offset_secs: i64) -> Result<SampleSite, LabError> {
        let archive = Storescp::builder().ae_title("ARCHIVE").start()?;
        let printer = Storescp::builder().ae_title("PRINTER").start()?;
        let devices = vec![
            SiteDevice {
                name: "CT-SCANNER-1".into(),
                device_type: "CT".into(),
                ae_title: "CT1".into(),
                hostname: "127.0.0.1".into(),
                port: 11112,
            },
            SiteDevice {
                name: "ARCHIVE-1".into(),
                device_type: "ARCHIVE".into(),
                ae_title: archive.ae_title().into(),
                hostname: "127.0.0.1".into(),
                port: archive.addr().port(),
            },
            SiteDevice {
                name: "PRINTER-1".into(),
                device_type: "PRINT".into(),
                ae_title: printer.ae_title().into(),
                hostname: "127.0.0.1".into(),
                port: printer.addr().port(),
            },
        ];
        let slapd = Slapd::builder()
            .suffix("dc=hospital,dc=example")
            .seed_ldif(&site_ldif("dc=hospital,dc=example", &devices))
            .start()?;
        let dns = Dnsmasq::builder()
            .srv(SrvRecord::new(
                &format!("_ldap._tcp.{SITE_DOMAIN}"),
                LDAP_HOST,
                slapd.port(),
            ))
            .host(LDAP_HOST, IpAddr::V4(Ipv4Addr::LOCALHOST))
            .ttl(60)
            .start()?;
        let ntp = Chronyd::builder().offset_secs(clock_offset_secs).start()?;
        Ok(SampleSite {
            slapd,
            dns,
            ntp,
            archive,
            printer,
            devices,
        })
    }

    /// The DNS server's address, as DHCP option 6 would give it.
    pub fn dns_addr(&self) -> SocketAddr {
        self.dns.addr()
    }

    /// A human-readable summary of what the site serves.
    pub fn describe(&self) -> String {
        let mut out = format!(
            "sample site {SITE_DOMAIN}\n  LDAP    {} (suffix {}, device account {} / {})\n  DNS     {} (_ldap._tcp.{SITE_DOMAIN} SRV -> {LDAP_HOST}:{})\n  NTP     {} (clock offset {:+} s)\n",
            self.slapd.url(),
            self.slapd.suffix(),
            self.slapd.device_dn(),
            self.slapd.device_password(),
            self.dns.addr(),
            self.slapd.port(),
            self.ntp.addr(),
            self.ntp.offset_secs(),
        );
        out.push_str("  devices:\n");
        for d in &self.devices {
            out.push_str(&format!(
                "    {:<14} type {:<8} AE {:<8} at {}:{}\n",
                d.name, d.device_type, d.ae_title, d.hostname, d.port
            ));
        }
        out
    }
}

/// The LDIF of the site's devices, their unique AE titles, connections, AEs
/// and one Verification transfer capability each.
fn site_ldif(suffix: &str, devices: &[SiteDevice]) -> String {
    let devices_dn = format!("cn=Devices,cn=DICOM Configuration,{suffix}");
    let registry_dn = format!("cn=Unique AE Titles Registry,cn=DICOM Configuration,{suffix}");
    let mut ldif = String::new();
    for d in devices {
        let device_dn = format!("dicomDeviceName={},{devices_dn}", d.name);
        let conn_dn = format!("cn=dicom,{device_dn}");
        let ae_dn = format!("dicomAETitle={},{device_dn}", d.ae_title);
        ldif.push_str(&format!(
            "dn: dicomAETitle={aet},{registry_dn}
objectClass: dicomUniqueAETitle
dicomAETitle: {aet}

dn: {device_dn}
objectClass: dicomDevice
dicomDeviceName: {name}
dicomPrimaryDeviceType: {dtype}
dicomManufacturer: annexr lab
dicomInstalled: TRUE

dn: {conn_dn}
objectClass: dicomNetworkConnection
cn: dicom
dicomHostname: {host}
dicomPort: {port}

dn: {ae_dn}
objectClass: dicomNetworkAE
dicomAETitle: {aet}
dicomNetworkConnectionReference: {conn_dn}
dicomAssociationInitiator: TRUE
dicomAssociationAcceptor: TRUE

dn: cn=Verification SCP,{ae_dn}
objectClass: dicomTransferCapability
cn: Verification SCP
dicomSOPClass: 1.2.840.10008.1.1
dicomTransferRole: SCP
dicomTransferSyntax: 1.2.840.10008.1.2

",
            aet = d.ae_title,
            name = d.name,
            dtype = d.device_type,
            host = d.hostname,
            port = d.port,
        ));
    }
    ldif
}
