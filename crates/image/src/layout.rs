//! OCI image layouts (`oci:DIR`) and their tars (`oci-archive:FILE`): picking the manifest
//! named by a tag, for this host's platform.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use oci_spec::image::{Descriptor, ImageIndex, MediaType};

use crate::blob::Want;
use crate::error::io_err;
use crate::ImageError;

pub(crate) const REF_NAME: &str = "org.opencontainers.image.ref.name";
const CONTAINERD_NAME: &str = "io.containerd.image.name";
const MAX_JSON: u64 = 4 << 20;

/// An OCI layout on disk (a directory, or an archive's files staged in the store's tmp).
pub(crate) struct Layout {
    pub dir: PathBuf,
    /// The source as the user named it, for messages.
    pub source: String,
    /// The store's blobs: an archive's blobs already there are not staged again.
    pub store_blobs: PathBuf,
}

fn bad(source: &str, detail: impl Into<String>) -> ImageError {
    ImageError::BadSource { source_ref: source.to_owned(), detail: detail.into() }
}

/// The manifest chosen in a layout, and the name its annotations give it.
pub(crate) struct Chosen {
    pub manifest: Want,
    pub name: Option<String>,
}

impl Layout {
    pub fn blob_path(&self, want: &Want) -> PathBuf {
        let p = self.dir.join("blobs/sha256").join(&want.hex);
        if p.exists() {
            return p;
        }
        let stored = self.store_blobs.join(&want.hex);
        if stored.exists() { stored } else { p }
    }

    fn read_small(&self, p: &Path) -> Result<Vec<u8>, ImageError> {
        let f = std::fs::File::open(p).map_err(|e| bad(&self.source, format!("cannot read {}: {e} (is it an OCI image layout?)", p.display())))?;
        let mut v = Vec::new();
        f.take(MAX_JSON).read_to_end(&mut v).map_err(io_err("read", p))?;
        Ok(v)
    }

    /// Reads a JSON blob of the layout, checked against its descriptor.
    fn read_blob_json(&self, want: &Want) -> Result<Vec<u8>, ImageError> {
        use sha2::{Digest as _, Sha256};
        if want.size > MAX_JSON {
            return Err(bad(&self.source, format!("{} is {} bytes: too large for a manifest or index", want.digest(), want.size)));
        }
        let data = self.read_small(&self.blob_path(want))?;
        if data.len() as u64 != want.size || format!("{:x}", Sha256::digest(&data)) != want.hex {
            return Err(ImageError::BadBlob { source_ref: self.source.clone(), digest: want.digest(), detail: "its content does not match its digest and size: the source is corrupt".into() });
        }
        Ok(data)
    }

    /// The manifest for `tag` (or the only one, or `latest`), through a nested index to
    /// this host's platform.
    pub fn choose(&self, tag: Option<&str>) -> Result<Chosen, ImageError> {
        let layout = self.read_small(&self.dir.join("oci-layout"))?;
        let v: serde_json::Value = serde_json::from_slice(&layout).map_err(|e| bad(&self.source, format!("oci-layout: {e}")))?;
        if v.get("imageLayoutVersion").and_then(|v| v.as_str()) != Some("1.0.0") {
            return Err(bad(&self.source, "oci-layout: imageLayoutVersion is not \"1.0.0\""));
        }
        let index = ImageIndex::from_reader(&self.read_small(&self.dir.join("index.json"))?[..])
            .map_err(|e| bad(&self.source, format!("index.json: {e}")))?;
        let ann = |d: &Descriptor, k: &str| d.annotations().as_ref().and_then(|a: &HashMap<String, String>| a.get(k).cloned());
        let names: Vec<String> = index.manifests().iter().filter_map(|d| ann(d, REF_NAME)).collect();
        let list = || if names.is_empty() { "none is named".to_owned() } else { format!("named: {}", names.join(", ")) };
        let ms = index.manifests();
        let d = match tag {
            Some(t) => ms
                .iter()
                .find(|d| ann(d, REF_NAME).as_deref() == Some(t) || ann(d, CONTAINERD_NAME).as_deref() == Some(t))
                .ok_or_else(|| bad(&self.source, format!("no image is named {t:?} in index.json ({})", list())))?,
            None if ms.len() == 1 => &ms[0],
            None => ms.iter().find(|d| ann(d, REF_NAME).as_deref() == Some("latest")).ok_or_else(|| {
                bad(&self.source, format!("index.json holds {} images ({}): name one as SOURCE:TAG", ms.len(), list()))
            })?,
        };
        let name = ann(d, CONTAINERD_NAME).or_else(|| ann(d, REF_NAME));
        let manifest = self.through_indexes(d, 0)?;
        Ok(Chosen { manifest, name })
    }

    fn through_indexes(&self, d: &Descriptor, depth: u32) -> Result<Want, ImageError> {
        let want = Want::from_descriptor(d, &self.source)?;
        let is_index = matches!(d.media_type(), MediaType::ImageIndex)
            || d.media_type().to_string() == "application/vnd.docker.distribution.manifest.list.v2+json";
        if !is_index {
            return Ok(want);
        }
        if depth > 4 {
            return Err(bad(&self.source, "indexes nest too deep"));
        }
        let idx = ImageIndex::from_reader(&self.read_blob_json(&want)?[..]).map_err(|e| bad(&self.source, format!("index {}: {e}", want.digest())))?;
        let (os, arch) = ("linux", host_arch());
        let mut seen = Vec::new();
        for m in idx.manifests() {
            match m.platform() {
                Some(p) if p.os().to_string() == os && p.architecture().to_string() == arch => return self.through_indexes(m, depth + 1),
                Some(p) => seen.push(format!("{}/{}", p.os(), p.architecture())),
                None => seen.push("(no platform)".into()),
            }
        }
        Err(bad(&self.source, format!("no image for this host's platform {os}/{arch}; there are: {}", seen.join(", "))))
    }
}

/// This host's architecture in OCI's words.
pub(crate) fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        "x86" => "386",
        other => other,
    }
}

/// Stages an `oci-archive:` tar's layout files into `dir`: only `oci-layout`,
/// `index.json` and `blobs/sha256/<hex>` are taken (their paths are ours, not the tar's),
/// and each blob must hash to its name.
pub(crate) fn stage_archive(file: &Path, dir: &Path, source: &str, store_blobs: &Path) -> Result<(), ImageError> {
    let f = std::fs::File::open(file).map_err(|e| bad(source, format!("cannot open {}: {e}", file.display())))?;
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).map_err(io_err("create", &blobs))?;
    let mut ar = tar::Archive::new(std::io::BufReader::with_capacity(1 << 16, f));
    let not_tar = |e: std::io::Error| bad(source, format!("not a tar of an OCI layout: {e}"));
    for e in ar.entries().map_err(not_tar)? {
        let mut e = e.map_err(not_tar)?;
        if e.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let path = e.path().map_err(not_tar)?.into_owned();
        let parts: Vec<_> = path.components().filter(|c| *c != Component::CurDir).map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        match parts[..] {
            ["oci-layout"] | ["index.json"] => {
                let dest = dir.join(parts[0]);
                let mut v = Vec::new();
                (&mut e).take(MAX_JSON).read_to_end(&mut v).map_err(not_tar)?;
                std::fs::write(&dest, v).map_err(io_err("write", &dest))?;
            }
            ["blobs", "sha256", hex] if hex.len() == 64 && hex.bytes().all(|c| c.is_ascii_hexdigit()) => {
                let dest = blobs.join(hex);
                if dest.exists() || store_blobs.join(hex).exists() {
                    continue;
                }
                let (got, _) = crate::blob::copy_hashing(&mut e, &dest, u64::MAX)?;
                if got != hex {
                    return Err(ImageError::BadBlob { source_ref: source.to_owned(), digest: format!("sha256:{hex}"), detail: format!("its content's sha256 is {got}: the archive is corrupt") });
                }
            }
            _ => {}
        }
    }
    Ok(())
}
