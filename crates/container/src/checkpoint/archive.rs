//! The checkpoint archive Kubernetes' forensic checkpointing writes (the layout
//! containerd's and CRI-O's CRI checkpoint writes and checkpointctl reads): an
//! uncompressed tar with the CRIU images under `checkpoint/`, `config.dump` (the
//! container's metadata), `spec.dump` (its OCI spec) and the CRIU log. A HostProcess
//! container's rootfs is a host directory, not a copy-on-write layer, so there is no
//! `rootfs-diff.tar` to write.

use std::fs;
use std::path::{Path, PathBuf};

use super::{io, CheckpointError};
use crate::state::State;

pub const CHECKPOINT_DIR: &str = "checkpoint";
pub const CONFIG_DUMP: &str = "config.dump";
pub const SPEC_DUMP: &str = "spec.dump";

/// Writes `archive` from the image directory and the container's state (its bundle's
/// config.json becomes spec.dump). Written under a temporary name, renamed when complete.
pub fn export(image: &Path, st: &State, archive: &Path) -> Result<(), CheckpointError> {
    let tmp = archive.with_file_name(format!(".{}.tmp{}", archive.file_name().unwrap_or_default().to_string_lossy(), hostproc_sys::getpid()));
    let res = (|| -> Result<(), CheckpointError> {
        let f = fs::File::create(&tmp).map_err(io("create", &tmp))?;
        let mut tar = tar::Builder::new(f);
        tar.append_dir_all(CHECKPOINT_DIR, image).map_err(io("archive", image))?;
        let config = serde_json::json!({
            "id": st.id,
            "name": st.annotations.get("io.kubernetes.cri.container-name").cloned().unwrap_or_else(|| st.id.clone()),
            "rootfsImageName": st.annotations.get("io.kubernetes.cri.image-name").cloned().unwrap_or_default(),
            "runtime": "hostproc",
            "createdTime": st.created,
            "checkpointedTime": crate::state::now_rfc3339(),
        });
        append(&mut tar, CONFIG_DUMP, &serde_json::to_vec_pretty(&config).expect("config serializes"))?;
        let spec_path = st.bundle.join("config.json");
        let spec = fs::read(&spec_path).map_err(io("read", &spec_path))?;
        // A relative root.path is made absolute: spec.dump is read away from the bundle.
        let mut spec: serde_json::Value = serde_json::from_slice(&spec).map_err(|e| CheckpointError::Image { path: spec_path.clone(), detail: e.to_string() })?;
        if let Some(root) = spec.pointer_mut("/root/path") {
            if let Some(p) = root.as_str().filter(|p| !p.starts_with('/')) {
                *root = st.bundle.join(p).display().to_string().into();
            }
        }
        append(&mut tar, SPEC_DUMP, &serde_json::to_vec_pretty(&spec).expect("spec serializes"))?;
        tar.into_inner().and_then(|f| f.sync_all()).map_err(io("write", &tmp))?;
        fs::rename(&tmp, archive).map_err(io("write", archive))
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

fn append(tar: &mut tar::Builder<fs::File>, name: &str, body: &[u8]) -> Result<(), CheckpointError> {
    let mut h = tar::Header::new_gnu();
    h.set_size(body.len() as u64);
    h.set_mode(0o600);
    h.set_mtime(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0));
    h.set_cksum();
    tar.append_data(&mut h, name, body).map_err(io("archive", name))
}

/// Unpacks `archive` into `dir` (made here, must not exist) and returns the images
/// directory and a bundle made from its spec.dump.
pub fn import(archive: &Path, dir: &Path) -> Result<(PathBuf, PathBuf), CheckpointError> {
    fs::create_dir(dir).map_err(io("create", dir))?;
    let f = fs::File::open(archive).map_err(io("open the checkpoint archive", archive))?;
    let mut tar = tar::Archive::new(f);
    // tar's unpack keeps every entry beneath `dir` (no absolute paths, no `..`).
    tar.unpack(dir).map_err(|e| CheckpointError::Image { path: archive.to_path_buf(), detail: format!("not a readable checkpoint archive: {e}") })?;
    let images = dir.join(CHECKPOINT_DIR);
    if !images.is_dir() || !dir.join(SPEC_DUMP).is_file() {
        return Err(CheckpointError::Image { path: archive.to_path_buf(), detail: format!("it has no {CHECKPOINT_DIR}/ directory or no {SPEC_DUMP}: not a checkpoint archive") });
    }
    fs::copy(dir.join(SPEC_DUMP), dir.join("config.json")).map_err(io("write", dir.join("config.json")))?;
    Ok((images, dir.to_path_buf()))
}
