//! The checked-in C header must be what cbindgen generates from the source
//! now: a stale header fails here (so in CI). `ANNEXR_BLESS_HEADER=1`
//! rewrites it instead.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

fn generate() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).unwrap();
    // Parsing lib.rs alone (not the crate through `cargo metadata`) keeps
    // the test free of a nested cargo call; every exported item lives there.
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen could not generate the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn the_checked_in_header_is_fresh() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("include/annexr.h");
    let generated = generate();
    if std::env::var_os("ANNEXR_BLESS_HEADER").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    if checked_in != generated {
        let first = checked_in
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| checked_in.lines().count().min(generated.lines().count()));
        panic!(
            "{} is stale (first difference at line {}); regenerate it with\n  \
             ANNEXR_BLESS_HEADER=1 cargo test -p annexr-ffi --test header\n\
             and commit it",
            path.display(),
            first + 1
        );
    }
}

#[test]
fn the_header_declares_the_whole_abi() {
    let header = generate();
    for item in [
        "typedef struct AnnexrStartup AnnexrStartup;",
        "typedef void (*AnnexrProgressCallback)(void *user, const char *event_json);",
        "ANNEXR_STATUS_OK = 0",
        "ANNEXR_STATUS_PANIC = 13",
        "typedef int32_t AnnexrStatus;",
        "annexr_startup_new_from_toml(",
        "annexr_startup_new_from_file(",
        "annexr_startup_set_local_device(",
        "annexr_startup_set_progress_callback(",
        "annexr_startup_run(",
        "annexr_startup_report_json(",
        "annexr_startup_device_json(",
        "annexr_resolve_ae(",
        "annexr_find_aes_by_device_type(",
        "annexr_probe_peer(",
        "annexr_probe_ae(",
        "annexr_startup_shutdown(struct AnnexrStartup *startup, int32_t set_offline, char **report_json);",
        "annexr_startup_free(",
        "annexr_string_free(",
        "char *annexr_last_error_message(void);",
        "const char *annexr_version(void);",
        "const char *annexr_status_name(int32_t status);",
        "extern \"C\"",
    ] {
        assert!(
            header.contains(item),
            "the header lacks {item:?}:\n{header}"
        );
    }
}

/// The header compiles on its own, warnings as errors, as C99 and later and
/// as C++11 and later (C89 is not supported: cbindgen writes `//` comments).
#[test]
fn the_header_compiles_as_c99_and_cpp11_and_later() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("uses_header.c");
    std::fs::write(
        &source,
        "#include \"annexr.h\"\n\
         int main(void) {\n\
         AnnexrStartup *startup = 0;\n\
         AnnexrProgressCallback callback = 0;\n\
         AnnexrStatus status = ANNEXR_STATUS_NOT_FOUND;\n\
         (void)startup; (void)callback;\n\
         return annexr_status_name(status) == 0;\n\
         }\n",
    )
    .unwrap();
    let include = Path::new(env!("CARGO_MANIFEST_DIR")).join("include");
    let cases = [
        ("cc", "c99", "c"),
        ("cc", "c11", "c"),
        ("cc", "c17", "c"),
        ("c++", "c++11", "c++"),
        ("c++", "c++17", "c++"),
        ("c++", "c++20", "c++"),
    ];
    for (compiler, std, language) in cases {
        let output = std::process::Command::new(compiler)
            .args(["-x", language, &format!("-std={std}")])
            .args(["-Wall", "-Wextra", "-Werror", "-pedantic", "-fsyntax-only"])
            .arg("-I")
            .arg(&include)
            .arg(&source)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {compiler}: {e}"));
        assert!(
            output.status.success(),
            "{compiler} -std={std}:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
