//! The store on a real FAT file system (a loop-mounted vfat image from the
//! lab), where hard links do not exist: security review finding 6.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use annexr::{FileStore, LoadSource, Store, StoreError, StoredState};

fn state(name: &str) -> StoredState {
    StoredState {
        device_name: Some(name.into()),
        registered_titles: vec![format!("{name}_AE")],
        ..StoredState::default()
    }
}

#[test]
fn store_on_vfat_without_hard_links() {
    let Some(vfat) = annexr_lab::or_skip(annexr_lab::VfatMount::start()) else {
        return;
    };
    let path = vfat.path().join("state.json");
    // The premise: this file system refuses hard links.
    std::fs::write(vfat.path().join("probe"), b"x").unwrap();
    assert!(
        std::fs::hard_link(vfat.path().join("probe"), vfat.path().join("probe2")).is_err(),
        "vfat unexpectedly made a hard link"
    );

    let store = FileStore::new(&path);
    for name in ["FIRST", "SECOND", "THIRD"] {
        store.save(&state(name)).unwrap();
    }
    let (read, source) = store.load().unwrap();
    assert_eq!(source, LoadSource::Current);
    assert_eq!(read.device_name.as_deref(), Some("THIRD"));

    // The previous generation was kept as a copy: a damaged current file
    // still yields the state before the last save.
    // (ftruncate: fusefat ignores O_TRUNC on open.)
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let (read, source) = store.load().unwrap();
    assert_eq!(source, LoadSource::PreviousGeneration);
    assert_eq!(read.device_name.as_deref(), Some("SECOND"));

    // No temporary file is left behind.
    let names: Vec<String> = std::fs::read_dir(vfat.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.ends_with("-tmp")),
        "leftover temporary files: {names:?}"
    );
}

#[test]
fn newer_store_on_vfat_is_moved_aside_not_overwritten() {
    let Some(vfat) = annexr_lab::or_skip(annexr_lab::VfatMount::start()) else {
        return;
    };
    let path = vfat.path().join("state.json");
    let newer = br#"{"format_version": 42, "device_name": "NEWER"}"#;
    std::fs::write(&path, newer).unwrap();
    let store = FileStore::new(&path);
    let err = store.load().unwrap_err();
    let StoreError::MovedAside { moved_to, .. } = err else {
        panic!("expected MovedAside, got {err:?}");
    };
    // The name is valid on FAT (no ':'), and the content is intact.
    assert_eq!(std::fs::read(&moved_to).unwrap(), newer);
    store.save(&state("FRESH")).unwrap();
    assert_eq!(std::fs::read(&moved_to).unwrap(), newer);
    assert_eq!(
        store.load().unwrap().0.device_name.as_deref(),
        Some("FRESH")
    );
}

#[test]
fn two_writers_on_vfat_are_locked_out() {
    let Some(vfat) = annexr_lab::or_skip(annexr_lab::VfatMount::start()) else {
        return;
    };
    let path = vfat.path().join("state.json");
    let first = FileStore::new(&path);
    let held = first.lock().unwrap();
    let err = FileStore::new(&path).save(&state("SECOND")).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    drop(held);
    FileStore::new(&path).save(&state("SECOND")).unwrap();
}
