//! The pod's volumes, made under `<pod dir>/volumes/<name>` (hostPath: the host's path),
//! and each container's volumeMounts as OCI bind mounts.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use k8s_openapi::api::core::v1::{Container, KeyToPath, Volume};

use super::env::{field_ref, resource_ref, Facts};
use super::quantity::Quantity;
use super::{io_err, PodError};

/// Where a volume is on the host, and whether kubelet always mounts it read-only.
#[derive(Debug, Clone)]
pub struct Ready {
    pub path: PathBuf,
    pub read_only: bool,
}

/// The volume kinds hostproc does not run, by their field name.
fn unsupported_kind(v: &Volume) -> Option<&'static str> {
    let kinds: [(&'static str, bool); 22] = [
        ("persistentVolumeClaim", v.persistent_volume_claim.is_some()),
        ("projected", v.projected.is_some()),
        ("csi", v.csi.is_some()),
        ("ephemeral", v.ephemeral.is_some()),
        ("nfs", v.nfs.is_some()),
        ("iscsi", v.iscsi.is_some()),
        ("image", v.image.is_some()),
        ("awsElasticBlockStore", v.aws_elastic_block_store.is_some()),
        ("azureDisk", v.azure_disk.is_some()),
        ("azureFile", v.azure_file.is_some()),
        ("cephfs", v.cephfs.is_some()),
        ("cinder", v.cinder.is_some()),
        ("fc", v.fc.is_some()),
        ("flexVolume", v.flex_volume.is_some()),
        ("flocker", v.flocker.is_some()),
        ("gcePersistentDisk", v.gce_persistent_disk.is_some()),
        ("gitRepo", v.git_repo.is_some()),
        ("glusterfs", v.glusterfs.is_some()),
        ("photonPersistentDisk", v.photon_persistent_disk.is_some()),
        ("portworxVolume", v.portworx_volume.is_some()),
        ("quobyte", v.quobyte.is_some()),
        ("rbd", v.rbd.is_some()),
    ];
    kinds.iter().find(|(_, set)| *set).map(|(k, _)| *k).or_else(|| {
        [("scaleIO", v.scale_io.is_some()), ("storageos", v.storageos.is_some()), ("vsphereVolume", v.vsphere_volume.is_some())].iter().find(|(_, s)| *s).map(|(k, _)| *k)
    })
}

/// Checks every volume before anything is made: the kinds, the names, item paths.
pub fn check(vols: &[Volume]) -> Result<(), PodError> {
    for (i, v) in vols.iter().enumerate() {
        let f = format!("spec.volumes[{i}]");
        if v.name.is_empty() || v.name.contains('/') || v.name == "." || v.name == ".." {
            return Err(PodError::invalid(format!("{f}.name"), format!("{:?} is not a valid volume name (a DNS label)", v.name)));
        }
        if let Some(kind) = unsupported_kind(v) {
            return Err(PodError::invalid(
                f,
                format!("volume {:?} is a {kind} volume, which hostproc pod run does not support (supported: hostPath, emptyDir, configMap, secret, downwardAPI); use a hostPath volume instead", v.name),
            ));
        }
        let items: Vec<(&str, String)> = if let Some(c) = &v.config_map {
            c.items.iter().flatten().map(|k| ("configMap.items", k.path.clone())).collect()
        } else if let Some(s) = &v.secret {
            s.items.iter().flatten().map(|k| ("secret.items", k.path.clone())).collect()
        } else if let Some(d) = &v.downward_api {
            d.items.iter().flatten().map(|k| ("downwardAPI.items", k.path.clone())).collect()
        } else {
            Vec::new()
        };
        for (j, (what, p)) in items.iter().enumerate() {
            check_rel(p).map_err(|m| PodError::invalid(format!("{f}.{what}[{j}].path"), format!("volume {:?}: {m}", v.name)))?;
        }
        if v.host_path.is_none() && v.empty_dir.is_none() && v.config_map.is_none() && v.secret.is_none() && v.downward_api.is_none() {
            return Err(PodError::invalid(f, format!("volume {:?} names no volume source", v.name)));
        }
    }
    Ok(())
}

/// A relative path with no `..` (kubelet's item path and subPath rules).
fn check_rel(p: &str) -> Result<(), String> {
    if p.is_empty() {
        return Err("the path is empty; give a relative path".into());
    }
    if Path::new(p).is_absolute() {
        return Err(format!("{p:?} is absolute; give a relative path"));
    }
    if Path::new(p).components().any(|c| c == Component::ParentDir) || p.split('/').any(|c| c == "..") {
        return Err(format!("{p:?} contains '..'; give a path inside the volume"));
    }
    Ok(())
}

/// Makes every volume. `before_tmpfs` records a tmpfs mount point before it is mounted.
pub fn prepare(facts: &Facts, pod_dir: &Path, before_tmpfs: &mut dyn FnMut(&Path) -> Result<(), PodError>) -> Result<HashMap<String, Ready>, PodError> {
    let mut out = HashMap::new();
    let vols = facts.input.spec.volumes.as_deref().unwrap_or_default();
    let base = pod_dir.join("volumes");
    for (i, v) in vols.iter().enumerate() {
        let f = format!("spec.volumes[{i}]");
        let dir = base.join(&v.name);
        let ready = if let Some(h) = &v.host_path {
            host_path(&h.path, h.type_.as_deref().unwrap_or(""), &f, &v.name)?;
            Ready { path: PathBuf::from(&h.path), read_only: false }
        } else if let Some(e) = &v.empty_dir {
            mkdir(&dir, 0o777)?;
            if e.medium.as_deref() == Some("Memory") {
                let size = match &e.size_limit {
                    Some(q) => Some(Quantity::parse(&q.0).map_err(|m| PodError::invalid(format!("{f}.emptyDir.sizeLimit"), m))?.units()),
                    None => None,
                };
                before_tmpfs(&dir)?;
                mount_tmpfs(&dir, size.map_or("mode=0777".into(), |s| format!("mode=0777,size={s}")))?;
            } else if let Some(m) = e.medium.as_deref().filter(|m| !m.is_empty()) {
                return Err(PodError::invalid(format!("{f}.emptyDir.medium"), format!("{m:?} is not supported; use \"\" or \"Memory\"")));
            }
            Ready { path: dir, read_only: false }
        } else if let Some(c) = &v.config_map {
            let name = c.name.clone();
            let data = facts.input.config_map(&name);
            let files = key_files(data, c.items.as_deref(), c.optional == Some(true), "configMap", &name, &f)?;
            write_atomic(&dir, &files, c.default_mode.unwrap_or(0o644))?;
            Ready { path: dir, read_only: true }
        } else if let Some(s) = &v.secret {
            let name = s.secret_name.clone().unwrap_or_default();
            let data = facts.input.secret(&name);
            let files = key_files(data, s.items.as_deref(), s.optional == Some(true), "secret", &name, &f)?;
            // As kubelet: a secret's data is never written to disk, only to a tmpfs of
            // the pod's (unmounted at pod rm). Nothing runs yet: written in place.
            mkdir(&dir, 0o755)?;
            before_tmpfs(&dir)?;
            mount_tmpfs(&dir, "mode=0755".into()).map_err(|e| PodError::invalid(format!("{f}.secret"), format!("volume {:?}: {e}", v.name)))?;
            write_files(&dir, &files, s.default_mode.unwrap_or(0o644))?;
            Ready { path: dir, read_only: true }
        } else if let Some(d) = &v.downward_api {
            let mut files = Vec::new();
            for (j, it) in d.items.iter().flatten().enumerate() {
                let value = if let Some(fr) = &it.field_ref {
                    field_ref(facts, fr).map_err(|m| PodError::invalid(format!("{f}.downwardAPI.items[{j}].fieldRef"), m))?
                } else if let Some(rr) = &it.resource_field_ref {
                    resource_ref(facts, None, rr).map_err(|m| PodError::invalid(format!("{f}.downwardAPI.items[{j}].resourceFieldRef"), m))?
                } else {
                    return Err(PodError::invalid(format!("{f}.downwardAPI.items[{j}]"), "gives neither fieldRef nor resourceFieldRef"));
                };
                files.push((it.path.clone(), value.into_bytes(), it.mode));
            }
            write_atomic(&dir, &files, d.default_mode.unwrap_or(0o644))?;
            Ready { path: dir, read_only: true }
        } else {
            unreachable!("check() refused it")
        };
        out.insert(v.name.clone(), ready);
    }
    Ok(out)
}

/// hostPath's type checks, as kubelet's hostpath plugin makes them.
fn host_path(path: &str, ty: &str, f: &str, name: &str) -> Result<(), PodError> {
    let p = Path::new(path);
    let field = format!("{f}.hostPath");
    if !p.is_absolute() {
        return Err(PodError::invalid(format!("{field}.path"), format!("volume {name:?}: {path:?} is not absolute")));
    }
    let meta = || fs::metadata(p);
    let fail = |what: &str| PodError::invalid(format!("{field}.type"), format!("volume {name:?}: hostPath type check failed: {path} is not {what}"));
    let want = |ok: fn(&fs::Metadata) -> bool, what: &str| match meta() {
        Ok(m) if ok(&m) => Ok(()),
        Ok(_) => Err(fail(what)),
        Err(_) => Err(PodError::invalid(format!("{field}.type"), format!("volume {name:?}: hostPath type check failed: {path} does not exist (type {ty}); create it, or use {}OrCreate", if what.contains("file") { "File" } else { "Directory" }))),
    };
    match ty {
        "" => Ok(()),
        "DirectoryOrCreate" => {
            if meta().is_err() {
                fs::DirBuilder::new().recursive(true).mode(0o755).create(p).map_err(io_err("create the hostPath directory", p))?;
            }
            want(|m| m.is_dir(), "a directory")
        }
        "Directory" => want(|m| m.is_dir(), "a directory"),
        "FileOrCreate" => {
            if meta().is_err() {
                fs::OpenOptions::new().create(true).append(true).mode(0o644).open(p).map_err(io_err("create the hostPath file (its directory must exist)", p))?;
            }
            want(|m| m.is_file(), "a file")
        }
        "File" => want(|m| m.is_file(), "a file"),
        "Socket" => want(|m| m.file_type().is_socket(), "a socket file"),
        "CharDevice" => want(|m| m.file_type().is_char_device(), "a character device"),
        "BlockDevice" => want(|m| m.file_type().is_block_device(), "a block device"),
        other => Err(PodError::invalid(format!("{field}.type"), format!("volume {name:?}: {other:?} is not a hostPath type (DirectoryOrCreate, Directory, FileOrCreate, File, Socket, CharDevice, BlockDevice or \"\")"))),
    }
}

fn mkdir(d: &Path, mode: u32) -> Result<(), PodError> {
    fs::DirBuilder::new().recursive(true).mode(0o755).create(d).map_err(io_err("create", d))?;
    fs::set_permissions(d, fs::Permissions::from_mode(mode)).map_err(io_err("set the mode of", d))
}

fn mount_tmpfs(d: &Path, data: String) -> Result<(), PodError> {
    use rustix::mount::{mount, MountFlags};
    mount("tmpfs", d, "tmpfs", MountFlags::NOSUID | MountFlags::NODEV, std::ffi::CString::new(data).ok().as_deref()).map_err(|e| io_err("mount a tmpfs on", d)(e.into()))
}

pub fn unmount(d: &Path) {
    if let Err(e) = rustix::mount::unmount(d, rustix::mount::UnmountFlags::DETACH) {
        if e != rustix::io::Errno::INVAL && e != rustix::io::Errno::NOENT {
            tracing::warn!("unmount {}: {e}", d.display());
        }
    }
}

type Files = Vec<(String, Vec<u8>, Option<i32>)>;

/// The files of a configMap or secret volume: every key, or the items.
fn key_files(data: Option<Vec<(String, Vec<u8>)>>, items: Option<&[KeyToPath]>, optional: bool, kind: &str, name: &str, f: &str) -> Result<Files, PodError> {
    let Some(data) = data else {
        if optional {
            return Ok(Vec::new());
        }
        return Err(PodError::invalid(format!("{f}.{kind}"), format!("{kind} {name:?} is not in the manifests; add it to the files given, or set optional: true")));
    };
    let Some(items) = items.filter(|i| !i.is_empty()) else {
        return Ok(data.into_iter().map(|(k, v)| (k, v, None)).collect());
    };
    let mut out = Vec::new();
    for (j, it) in items.iter().enumerate() {
        match data.iter().find(|(k, _)| *k == it.key) {
            Some((_, v)) => out.push((it.path.clone(), v.clone(), it.mode)),
            None if optional => {}
            None => return Err(PodError::invalid(format!("{f}.{kind}.items[{j}].key"), format!("{kind} {name:?} has no key {:?}; add it, or set optional: true", it.key))),
        }
    }
    Ok(out)
}

/// Writes the files into a new directory beside `dir`, then renames it into place: the
/// payload never sees a half-written volume.
fn write_atomic(dir: &Path, files: &Files, default_mode: i32) -> Result<(), PodError> {
    let tmp = dir.with_extension("tmp");
    let _ = fs::remove_dir_all(&tmp);
    mkdir(&tmp, 0o755)?;
    write_files(&tmp, files, default_mode)?;
    fs::rename(&tmp, dir).map_err(io_err("put in place", dir))
}

/// Writes the files (relative paths, checked) into the existing directory `dir`.
fn write_files(dir: &Path, files: &Files, default_mode: i32) -> Result<(), PodError> {
    for (rel, data, mode) in files {
        check_rel(rel).map_err(|m| PodError::invalid(dir.display().to_string(), m))?;
        let p = dir.join(rel);
        if let Some(parent) = p.parent() {
            fs::DirBuilder::new().recursive(true).mode(0o755).create(parent).map_err(io_err("create", parent))?;
        }
        let mode = mode.unwrap_or(default_mode) as u32 & 0o777;
        let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&p).map_err(io_err("write", &p))?;
        f.write_all(data).map_err(io_err("write", &p))?;
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).map_err(io_err("set the mode of", &p))?;
    }
    Ok(())
}

/// A container's volumeMounts as OCI mounts (rbind; ro when readOnly or the volume is
/// always read-only).
pub fn mounts(c: &Container, field: &str, vols: &HashMap<String, Ready>) -> Result<Vec<serde_json::Value>, PodError> {
    let mut out = Vec::new();
    for (i, m) in c.volume_mounts.iter().flatten().enumerate() {
        let f = format!("{field}.volumeMounts[{i}]");
        let v = vols.get(&m.name).ok_or_else(|| PodError::invalid(format!("{f}.name"), format!("{:?} names no volume of the pod; add it to spec.volumes", m.name)))?;
        if !m.mount_path.starts_with('/') {
            return Err(PodError::invalid(format!("{f}.mountPath"), format!("{:?} is not absolute", m.mount_path)));
        }
        let mut src = v.path.clone();
        if let Some(sp) = m.sub_path.as_deref().filter(|s| !s.is_empty()) {
            check_rel(sp).map_err(|e| PodError::invalid(format!("{f}.subPath"), e))?;
            src = src.join(sp);
            // kubelet makes a missing subPath as a directory.
            if fs::symlink_metadata(&src).is_err() {
                fs::DirBuilder::new().recursive(true).mode(0o755).create(&src).map_err(io_err("create the subPath", &src))?;
            }
            // A symlink in the volume must not lead the mount out of it.
            let real = fs::canonicalize(&src).map_err(io_err("resolve the subPath", &src))?;
            let base = fs::canonicalize(&v.path).map_err(io_err("resolve the volume", &v.path))?;
            if !real.starts_with(&base) {
                return Err(PodError::invalid(format!("{f}.subPath"), format!("{sp:?} leads outside volume {:?} (through a symlink)", m.name)));
            }
            src = real;
        }
        let mut opts = vec!["rbind"];
        if m.read_only == Some(true) || v.read_only {
            opts.push("ro");
        }
        out.push(serde_json::json!({"destination": m.mount_path, "type": "bind", "source": src, "options": opts}));
    }
    Ok(out)
}

/// Removes the pod's volumes directory (tmpfs first unmounted); hostPath is the host's.
pub fn remove_all(pod_dir: &Path, tmpfs: &[PathBuf]) {
    for t in tmpfs {
        unmount(t);
    }
    let _ = fs::remove_dir_all(pod_dir.join("volumes"));
}
