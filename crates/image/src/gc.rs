//! `hostproc image prune`: what no named image and no container uses goes.

use std::collections::HashSet;
use std::path::Path;

use crate::{ImageError, Store};

/// What a prune removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pruned {
    pub rootfs: Vec<String>,
    pub blobs: usize,
    pub bytes: u64,
}

fn size_of(dir: &Path) -> u64 {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => n += size_of(&e.path()),
                Ok(_) => n += e.metadata().map_or(0, |m| m.len()),
                Err(_) => {}
            }
        }
    }
    n
}

impl Store {
    /// Removes unpacked trees no named image has (unless a container's overlay uses one:
    /// kept, said in a warning) and the blobs no named image refers to.
    pub fn prune(&self) -> Result<Pruned, ImageError> {
        if !self.dir().join("index.json").exists() && !self.dir().join("rootfs").exists() {
            return Ok(Pruned::default());
        }
        let lock = self.lock()?;
        let idx = self.index()?;
        let named: HashSet<String> = idx.images.values().map(|s| s.digest.trim_start_matches("sha256:").to_owned()).collect();
        let mut out = Pruned::default();
        let rootfs = self.dir().join("rootfs");
        for e in std::fs::read_dir(&rootfs).map_err(crate::error::io_err("read", &rootfs))?.flatten() {
            let hex = e.file_name().to_string_lossy().into_owned();
            if named.contains(&hex) {
                continue;
            }
            if let Some(m) = crate::rootfs::overlay_using(&e.path()) {
                tracing::warn!("rootfs {hex} kept: a container's overlay at {m} uses it");
                continue;
            }
            out.bytes += size_of(&e.path());
            std::fs::remove_dir_all(e.path()).map_err(crate::error::io_err("remove", e.path()))?;
            out.rootfs.push(format!("sha256:{hex}"));
        }
        let blobs = self.blobs();
        let before: Vec<(String, u64)> = std::fs::read_dir(&blobs).into_iter().flatten().flatten().map(|e| (e.file_name().to_string_lossy().into_owned(), e.metadata().map_or(0, |m| m.len()))).collect();
        self.collect_blobs(&idx, &lock);
        for (name, len) in before {
            if !blobs.join(&name).exists() {
                out.blobs += 1;
                out.bytes += len;
            }
        }
        Ok(out)
    }
}
