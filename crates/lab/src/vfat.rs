//! A FAT file system, as on a device's flash data partition: an image file
//! made with `mkfs.vfat` (dosfstools), mounted in a temporary directory by
//! the kernel's vfat driver over a loop device, or by FUSE (`fusefat`) where
//! the kernel has no vfat or no loop devices (containers). Either way FAT
//! has no hard links, which is what the store must survive. Needs root;
//! unmounted on drop.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::LabError;
use crate::process::{find_binary, is_root, run_tool};

/// Size of the image: small, but above FAT16's minimum.
const IMAGE_MIB: u64 = 16;

/// How the image is mounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// Test harness: the two ways a test can mount a FAT image.
#[allow(clippy::exhaustive_enums)]
pub enum VfatDriver {
    /// The kernel's vfat driver over a loop device.
    Kernel,
    /// `fusefat` in read-write mode.
    Fuse,
}

/// A mounted vfat image.
#[derive(Debug)]
pub struct VfatMount {
    mount_point: PathBuf,
    unmount: Command,
    driver: VfatDriver,
    // Last: the image and mount point go after the unmount in `drop`.
    _dir: TempDir,
}

impl VfatMount {
    /// Creates a 16 MiB image, formats it vfat and mounts it: with the
    /// kernel driver when it has vfat and loop devices, else with fusefat.
    pub fn start() -> Result<VfatMount, LabError> {
        let mkfs = find_binary("vfat", "mkfs.vfat", "dosfstools")?;
        if !is_root() {
            return Err(LabError::NotPermitted {
                server: "vfat",
                reason: "mounting a file system image needs root (CI runs as root)".into(),
            });
        }
        let kernel = kernel_has_vfat() && Path::new("/dev/loop-control").exists();
        let started = std::time::Instant::now();
        let dir = tempfile::Builder::new().prefix("annexr-vfat-").tempdir()?;
        let image = dir.path().join("flash.img");
        std::fs::File::create(&image)?.set_len(IMAGE_MIB * 1024 * 1024)?;
        // Its first line names the version: "mkfs.fat 4.2 (2021-01-31)".
        let formatted = run_tool(
            "mkfs.vfat",
            Command::new(&mkfs).args(["-n", "ANNEXR"]).arg(&image),
            None,
        )?;
        let mount_point = dir.path().join("mnt");
        std::fs::create_dir(&mount_point)?;
        let (driver, unmount) = if kernel {
            let mount = find_binary("vfat", "mount", "mount")?;
            run_tool(
                "mount",
                Command::new(&mount)
                    .args(["-t", "vfat", "-o", "loop,umask=077"])
                    .arg(&image)
                    .arg(&mount_point),
                None,
            )?;
            let mut unmount = Command::new(find_binary("vfat", "umount", "mount")?);
            unmount.arg(&mount_point);
            (VfatDriver::Kernel, unmount)
        } else {
            if !Path::new("/dev/fuse").exists() {
                return Err(LabError::NotPermitted {
                    server: "vfat",
                    reason: "the kernel has no vfat (or no loop devices) and /dev/fuse is missing"
                        .into(),
                });
            }
            let fusefat = find_binary("vfat", "fusefat", "fusefat")?;
            let fusermount = find_binary("vfat", "fusermount", "fuse3")?;
            // `rw+`: fusefat mounts read-only unless asked for writes.
            run_tool(
                "fusefat",
                Command::new(&fusefat)
                    .args(["-o", "rw+"])
                    .arg(&image)
                    .arg(&mount_point),
                None,
            )?;
            let mut unmount = Command::new(fusermount);
            unmount.arg("-u").arg(&mount_point);
            (VfatDriver::Fuse, unmount)
        };
        let vfat = VfatMount {
            mount_point,
            unmount,
            driver,
            _dir: dir,
        };
        crate::announce(
            match driver {
                VfatDriver::Kernel => "vfat (kernel, loop)",
                VfatDriver::Fuse => "vfat (fusefat)",
            },
            formatted.lines().next().unwrap_or("mkfs.vfat"),
            &vfat.mount_point.display().to_string(),
            started.elapsed(),
        );
        Ok(vfat)
    }

    /// The mounted file system's root directory.
    pub fn path(&self) -> &Path {
        &self.mount_point
    }

    /// Which driver mounted it.
    pub fn driver(&self) -> VfatDriver {
        self.driver
    }
}

fn kernel_has_vfat() -> bool {
    std::fs::read_to_string("/proc/filesystems").is_ok_and(|list| {
        list.lines()
            .any(|l| l.split_whitespace().last() == Some("vfat"))
    })
}

impl Drop for VfatMount {
    fn drop(&mut self) {
        let _ = self
            .unmount
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}
