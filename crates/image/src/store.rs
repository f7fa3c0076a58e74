//! hostproc's local image store, `<root>/images/`:
//!
//! ```text
//! lock                     flock: one writer (import, rm) at a time
//! index.json               names -> manifest digest (replaced whole by rename)
//! blobs/sha256/<hex>       manifests, configs, layers: checked on the way in
//! rootfs/<manifest hex>/   each image unpacked once, shared read-only
//! tmp/                     blobs and rootfs being made; emptied under the lock
//! ```

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use oci_spec::image::{ImageConfiguration, ImageManifest};
use serde::{Deserialize, Serialize};

use crate::blob::{self, Want};
use crate::error::{io_err, rio_err};
use crate::layout::{stage_archive, Layout};
use crate::{ImageConfig, ImageError, ImageRef, Name, PullOptions, PullPolicy};

/// The local store (nothing is made until something is written to it).
pub struct Store {
    dir: PathBuf,
}

/// An image ready to run: its unpacked rootfs (shared: never write to it) and its config.
#[derive(Debug, Clone)]
pub struct Image {
    /// The reference as given.
    pub reference: String,
    /// The manifest digest; None for `dir:`.
    pub digest: Option<String>,
    pub rootfs: PathBuf,
    pub config: ImageConfig,
    /// `dir:` images are used as they are, not through a view.
    pub(crate) direct: bool,
}

/// A name in the store, as `image ls` shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageSummary {
    pub name: String,
    pub digest: String,
    pub config: String,
    /// The layers' (compressed) size in bytes.
    pub size: u64,
    pub source: String,
    /// Seconds since the epoch.
    pub imported: u64,
}

#[derive(Default, Serialize, Deserialize)]
pub(crate) struct Index {
    pub(crate) images: BTreeMap<String, ImageSummary>,
}

/// The store's flock, held while it lives.
pub(crate) struct Lock(#[allow(dead_code)] OwnedFd);

impl Store {
    pub fn open(root: &Path) -> Result<Store, ImageError> {
        Ok(Store { dir: root.join("images") })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn blobs(&self) -> PathBuf {
        self.dir.join("blobs/sha256")
    }

    pub(crate) fn tmp(&self) -> PathBuf {
        self.dir.join("tmp")
    }

    pub(crate) fn rootfs_dir(&self, digest: &str) -> PathBuf {
        self.dir.join("rootfs").join(digest.trim_start_matches("sha256:"))
    }

    /// Takes the store's lock, making the store if needed; what is left in tmp/ then is a
    /// crashed writer's and is removed.
    pub(crate) fn lock(&self) -> Result<Lock, ImageError> {
        use rustix::fs::{flock, open, FlockOperation, Mode, OFlags};
        for d in [self.blobs(), self.tmp(), self.dir.join("rootfs")] {
            std::fs::create_dir_all(&d).map_err(io_err("create", &d))?;
        }
        let p = self.dir.join("lock");
        let fd = open(&p, OFlags::CREATE | OFlags::RDWR | OFlags::CLOEXEC, Mode::from_raw_mode(0o600)).map_err(rio_err("open", &p))?;
        flock(&fd, FlockOperation::LockExclusive).map_err(rio_err("lock", &p))?;
        if let Ok(rd) = std::fs::read_dir(self.tmp()) {
            for e in rd.flatten() {
                let p = e.path();
                let _ = if e.file_type().is_ok_and(|t| t.is_dir()) { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
            }
        }
        Ok(Lock(fd))
    }

    pub(crate) fn index(&self) -> Result<Index, ImageError> {
        let p = self.dir.join("index.json");
        match std::fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| ImageError::BadSource { source_ref: p.display().to_string(), detail: format!("the store's index is damaged: {e}") }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Index::default()),
            Err(e) => Err(io_err("read", &p)(e)),
        }
    }

    fn write_index(&self, idx: &Index, _lock: &Lock) -> Result<(), ImageError> {
        let p = self.dir.join("index.json");
        let t = blob::temp_name(&self.tmp(), "index");
        let data = serde_json::to_vec_pretty(idx).expect("index serializes");
        std::fs::write(&t, data).map_err(io_err("write", &t))?;
        std::fs::rename(&t, &p).map_err(io_err("rename into place", &p))
    }

    /// Names in the store.
    pub fn list(&self) -> Result<Vec<ImageSummary>, ImageError> {
        Ok(self.index()?.images.into_values().collect())
    }

    /// The stored entry for `name` (any reference form), if any.
    fn find(&self, name: &Name) -> Result<Option<ImageSummary>, ImageError> {
        let idx = self.index()?;
        if let Some(d) = &name.digest {
            let repo = format!("{}/{}", name.registry, name.repository);
            let hit = idx.images.values().find(|s| s.digest == *d && s.name.split(['@']).next().is_some_and(|n| n.rsplit_once(':').map_or(n, |(r, _)| r) == repo));
            return Ok(hit.cloned());
        }
        Ok(idx.images.get(&name.to_string()).cloned())
    }

    pub(crate) fn stored_name(&self, image: &str) -> Result<Name, ImageError> {
        match ImageRef::parse(image)? {
            ImageRef::Name(n) => Ok(n),
            _ => Err(ImageError::BadRef { image: image.to_owned(), detail: "a name in the store is wanted here, not a source".into() }),
        }
    }

    /// The image for a pod's `image` and `imagePullPolicy`, unpacked and ready, pulled
    /// with Docker's default config for credentials when it needs a registry.
    pub fn resolve(&self, image: &str, policy: PullPolicy) -> Result<Image, ImageError> {
        let opts = PullOptions { keyring: crate::registry::Keyring::default().with_default_docker_config()?, ..Default::default() };
        self.resolve_with(image, policy, &opts)
    }

    /// [`Store::resolve`] with the pull's options (credentials, platform, CA files).
    pub fn resolve_with(&self, image: &str, policy: PullPolicy, opts: &PullOptions) -> Result<Image, ImageError> {
        match ImageRef::parse(image)? {
            ImageRef::Dir(p) => {
                // Absolute: a detached supervisor does not keep the caller's directory.
                let p = std::path::absolute(&p).map_err(io_err("resolve", &p))?;
                if !p.is_dir() {
                    return Err(ImageError::BadRef { image: image.to_owned(), detail: format!("{} is not a directory", p.display()) });
                }
                Ok(Image { reference: image.to_owned(), digest: None, rootfs: p, config: ImageConfig::default(), direct: true })
            }
            ImageRef::Oci { .. } | ImageRef::OciArchive { .. } | ImageRef::DockerArchive { .. } => {
                let lock = self.lock()?;
                let (manifest, _) = self.import_source(image, &lock)?;
                self.ready(image, &manifest, &lock)
            }
            ImageRef::Name(n) => {
                // Always pulls again what came from a registry; a name imported from a
                // local source (oci:, oci-archive:) has no registry to ask and is used.
                let s = match (self.find(&n)?, policy) {
                    (Some(s), PullPolicy::Always) if s.source.starts_with("docker://") => self.pull(image, opts)?,
                    (Some(s), _) => s,
                    (None, PullPolicy::Never) => return Err(ImageError::NotPresent(n.to_string())),
                    (None, PullPolicy::Always | PullPolicy::IfNotPresent) => self.pull(image, opts)?,
                };
                let m = Want { hex: s.digest.trim_start_matches("sha256:").to_owned(), size: 0 };
                if self.rootfs_dir(&s.digest).is_dir() {
                    let config = self.config_of(&s.digest, image)?;
                    return Ok(Image { reference: image.to_owned(), digest: Some(s.digest), rootfs: self.rootfs_dir(&m.digest()), config, direct: false });
                }
                let lock = self.lock()?;
                let size = std::fs::metadata(self.blobs().join(&m.hex)).map_err(io_err("read", self.blobs().join(&m.hex)))?.len();
                self.ready(image, &Want { size, ..m }, &lock)
            }
        }
    }

    pub(crate) fn manifest(&self, m: &Want, source: &str) -> Result<(ImageManifest, ImageConfiguration, Want), ImageError> {
        let bad = |d: String| ImageError::BadSource { source_ref: source.to_owned(), detail: d };
        let man = ImageManifest::from_reader(&blob::read_json(&self.blobs(), m, source)?[..]).map_err(|e| bad(format!("manifest {}: {e}", m.digest())))?;
        let cw = Want::from_descriptor(man.config(), source)?;
        let cfg = ImageConfiguration::from_reader(&blob::read_json(&self.blobs(), &cw, source)?[..]).map_err(|e| bad(format!("config {}: {e}", cw.digest())))?;
        Ok((man, cfg, cw))
    }

    fn config_of(&self, digest: &str, source: &str) -> Result<ImageConfig, ImageError> {
        let hex = digest.trim_start_matches("sha256:");
        let size = std::fs::metadata(self.blobs().join(hex)).map_err(io_err("read", self.blobs().join(hex)))?.len();
        let (_, cfg, _) = self.manifest(&Want { hex: hex.to_owned(), size }, source)?;
        Ok(ImageConfig::from_oci(&cfg))
    }

    /// Unpacks the image once (under the lock) and returns it.
    pub(crate) fn ready(&self, source: &str, m: &Want, _lock: &Lock) -> Result<Image, ImageError> {
        let (man, cfg, _) = self.manifest(m, source)?;
        let dest = self.rootfs_dir(&m.digest());
        if !dest.is_dir() {
            let t = blob::temp_name(&self.tmp(), "rootfs");
            std::fs::create_dir(&t).map_err(io_err("create", &t))?;
            let res = self.unpack(&man, &cfg, &t, source).and_then(|_| std::fs::rename(&t, &dest).map_err(io_err("rename into place", &dest)));
            if let Err(e) = res {
                let _ = std::fs::remove_dir_all(&t);
                return Err(e);
            }
        }
        Ok(Image { reference: source.to_owned(), digest: Some(m.digest()), rootfs: dest, config: ImageConfig::from_oci(&cfg), direct: false })
    }

    fn unpack(&self, man: &ImageManifest, cfg: &ImageConfiguration, dir: &Path, source: &str) -> Result<(), ImageError> {
        let diff_ids = cfg.rootfs().diff_ids();
        if diff_ids.len() != man.layers().len() {
            return Err(ImageError::BadSource { source_ref: source.to_owned(), detail: format!("the manifest has {} layers, the config's rootfs.diff_ids {}", man.layers().len(), diff_ids.len()) });
        }
        let root = crate::unpack::open_root(dir)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).map_err(io_err("chmod", dir))?;
        for (l, want_diff) in man.layers().iter().zip(diff_ids) {
            let w = Want::from_descriptor(l, source)?;
            let p = self.blobs().join(&w.hex);
            let f = std::fs::File::open(&p).map_err(io_err("open", &p))?;
            let got = crate::unpack::apply_layer(&root, &w.digest(), f)?;
            crate::crash_point("image-mid-unpack");
            if &got != want_diff {
                return Err(ImageError::BadLayer { layer: w.digest(), detail: format!("its uncompressed content's sha256 is {got}, the config's diff id says {want_diff}: the image is corrupt") });
            }
        }
        Ok(())
    }

    /// Copies an `oci:` or `oci-archive:` source's image into the store (under the lock);
    /// returns the manifest and the name its annotations give.
    fn import_source(&self, source: &str, _lock: &Lock) -> Result<(Want, Option<String>), ImageError> {
        let (layout, tag, staged) = match ImageRef::parse(source)? {
            ImageRef::Oci { path, tag } => (Layout { dir: path, source: source.to_owned(), store_blobs: self.blobs() }, tag, None),
            ImageRef::OciArchive { file, tag } => {
                let t = blob::temp_name(&self.tmp(), "archive");
                let res = stage_archive(&file, &t, source, &self.blobs());
                if let Err(e) = res {
                    let _ = std::fs::remove_dir_all(&t);
                    return Err(e);
                }
                (Layout { dir: t.clone(), source: source.to_owned(), store_blobs: self.blobs() }, tag, Some(t))
            }
            ImageRef::DockerArchive { file, name } => {
                let res = crate::docker_archive::import(&file, name.as_deref(), source, &self.blobs(), &self.tmp());
                crate::crash_point("image-after-blobs");
                return res;
            }
            _ => return Err(ImageError::BadRef { image: source.to_owned(), detail: "import takes oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker-archive:FILE[:NAME]".into() }),
        };
        let res = self.copy_layout(&layout, tag.as_deref());
        if let Some(t) = staged {
            let _ = std::fs::remove_dir_all(t);
        }
        res
    }

    fn copy_layout(&self, layout: &Layout, tag: Option<&str>) -> Result<(Want, Option<String>), ImageError> {
        let chosen = layout.choose(tag)?;
        let (blobs, tmp, src) = (self.blobs(), self.tmp(), layout.source.as_str());
        let open = |w: &Want| {
            let p = layout.blob_path(w);
            move || std::fs::File::open(p).map(|f| Box::new(f) as Box<dyn std::io::Read>)
        };
        blob::put(&blobs, &tmp, &chosen.manifest, src, open(&chosen.manifest))?;
        let man = ImageManifest::from_reader(&blob::read_json(&blobs, &chosen.manifest, src)?[..])
            .map_err(|e| ImageError::BadSource { source_ref: src.to_owned(), detail: format!("manifest {}: {e}", chosen.manifest.digest()) })?;
        let mut all = vec![Want::from_descriptor(man.config(), src)?];
        for l in man.layers() {
            all.push(Want::from_descriptor(l, src)?);
        }
        for w in &all {
            blob::put(&blobs, &tmp, w, src, open(w))?;
        }
        crate::crash_point("image-after-blobs");
        Ok((chosen.manifest, chosen.name))
    }

    /// `hostproc image import SOURCE [NAME]`: the blobs into the store, unpacked, named.
    pub fn import(&self, source: &str, name: Option<&str>) -> Result<ImageSummary, ImageError> {
        let given = name.map(|n| self.stored_name(n)).transpose()?;
        if let (Some(n), Some(given)) = (name, &given) {
            if given.digest.is_some() {
                return Err(ImageError::BadRef { image: n.to_owned(), detail: "the name to store an image under takes a tag, not a digest (the digest is the manifest's)".into() });
            }
        }
        let lock = self.lock()?;
        let (m, annotated) = self.import_source(source, &lock)?;
        let name = match (given, annotated) {
            (Some(n), _) => n,
            (None, Some(a)) if a.contains([':', '/']) => self.stored_name(&a)?,
            (None, a) => {
                return Err(ImageError::BadSource {
                    source_ref: source.to_owned(),
                    detail: format!("{}: give the name to store it under: hostproc image import {source} NAME", match a {
                        Some(t) => format!("its annotation names only the tag {t:?}"),
                        None => "it names no image (no org.opencontainers.image.ref.name annotation)".to_owned(),
                    }),
                })
            }
        };
        let image = self.ready(source, &m, &lock)?;
        let (man, _, cw) = self.manifest(&m, source)?;
        let summary = ImageSummary {
            name: name.to_string(),
            digest: m.digest(),
            config: cw.digest(),
            size: man.layers().iter().map(|l| l.size()).sum(),
            source: source.to_owned(),
            imported: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        };
        crate::crash_point("image-after-rootfs");
        self.record(&summary, &lock)?;
        tracing::debug!("image {} imported: rootfs {}", summary.name, image.rootfs.display());
        Ok(summary)
    }

    /// Records a name in the index (under the lock).
    pub(crate) fn record(&self, summary: &ImageSummary, lock: &Lock) -> Result<(), ImageError> {
        let mut idx = self.index()?;
        idx.images.insert(summary.name.clone(), summary.clone());
        self.write_index(&idx, lock)
    }

    /// `image inspect`: the stored entry, its manifest and config.
    pub fn inspect(&self, name: &str) -> Result<serde_json::Value, ImageError> {
        let n = self.stored_name(name)?;
        let s = self.find(&n)?.ok_or_else(|| ImageError::NotInStore(n.to_string()))?;
        let hex = s.digest.trim_start_matches("sha256:");
        let size = std::fs::metadata(self.blobs().join(hex)).map_err(io_err("read", self.blobs().join(hex)))?.len();
        let (man, cfg, _) = self.manifest(&Want { hex: hex.to_owned(), size }, name)?;
        Ok(serde_json::json!({
            "name": s.name,
            "digest": s.digest,
            "source": s.source,
            "imported": s.imported,
            "size": s.size,
            "rootfs": self.rootfs_dir(&s.digest),
            "manifest": man,
            "config": cfg,
        }))
    }

    /// `image rm`: the name goes; blobs and the unpacked rootfs go when no other name
    /// uses them. Refused while a container's overlay uses the rootfs.
    pub fn remove(&self, name: &str) -> Result<ImageSummary, ImageError> {
        let n = self.stored_name(name)?;
        let lock = self.lock()?;
        let s = self.find(&n)?.ok_or_else(|| ImageError::NotInStore(n.to_string()))?;
        let mut idx = self.index()?;
        let others = idx.images.values().any(|o| o.name != s.name && o.digest == s.digest);
        let rootfs = self.rootfs_dir(&s.digest);
        if !others {
            if let Some(mount) = crate::rootfs::overlay_using(&rootfs) {
                return Err(ImageError::InUse { image: s.name.clone(), mount });
            }
        }
        idx.images.remove(&s.name);
        self.write_index(&idx, &lock)?;
        if !others {
            let _ = std::fs::remove_dir_all(&rootfs);
            self.collect_blobs(&idx, &lock);
        }
        Ok(s)
    }

    /// Removes the blobs no named image refers to.
    pub(crate) fn collect_blobs(&self, idx: &Index, _lock: &Lock) {
        let mut keep = std::collections::HashSet::new();
        for s in idx.images.values() {
            let hex = s.digest.trim_start_matches("sha256:").to_owned();
            let size = std::fs::metadata(self.blobs().join(&hex)).map_or(0, |m| m.len());
            if let Ok((man, _, cw)) = self.manifest(&Want { hex: hex.clone(), size }, &s.name) {
                keep.insert(cw.hex);
                keep.extend(man.layers().iter().filter_map(|l| Want::from_descriptor(l, "").ok()).map(|w| w.hex));
            }
            keep.insert(hex);
        }
        if let Ok(rd) = std::fs::read_dir(self.blobs()) {
            for e in rd.flatten() {
                if !keep.contains(&*e.file_name().to_string_lossy()) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
}
