//! `annexr schema`: the PS3.15 Annex H schema as the files a site loads into
//! its directory, generated from the same tables the library checks against.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::exit;

/// The directory format of the schema.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum SchemaFormat {
    /// An OpenLDAP `.schema` file, for `include` in slapd.conf.
    Openldap,
    /// An OpenLDAP cn=config entry, for `ldapadd -Y EXTERNAL -H ldapi:///`.
    Ldif,
    /// A 389 Directory Server schema file (`dn: cn=schema`), for the
    /// instance's schema directory.
    #[value(name = "389")]
    Ds389,
}

#[derive(Debug, Args)]
pub(crate) struct SchemaArgs {
    /// Which file to write.
    #[arg(long, value_enum, default_value = "ldif")]
    pub format: SchemaFormat,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// Writes the schema; the exit code says whether it could.
pub(crate) fn run(args: SchemaArgs) -> u8 {
    let text = match args.format {
        SchemaFormat::Openldap => annexr_model::openldap_schema(),
        SchemaFormat::Ldif => annexr_model::openldap_schema_ldif(),
        SchemaFormat::Ds389 => annexr_model::ds389_schema_ldif(),
    };
    let written = match &args.output {
        Some(path) => std::fs::write(path, &text).map_err(|e| format!("{}: {e}", path.display())),
        None => std::io::stdout()
            .write_all(text.as_bytes())
            .map_err(|e| format!("standard output: {e}")),
    };
    match written {
        Ok(()) => exit::OK,
        Err(message) => {
            eprintln!("annexr: cannot write the schema to {message}");
            exit::FAILED
        }
    }
}
