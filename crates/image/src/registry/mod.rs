//! Registry pulls (`hostproc image pull`, and `pod run` for names not in the store) through
//! oci-client on a current-thread tokio runtime made for the pull: HTTPS with the system's
//! CA bundle (plus extra CA files), plain HTTP only for localhost / 127.0.0.1 / ::1 or
//! registries named insecure (tried after HTTPS fails, as Docker does); credentials from
//! the keyring ([`Keyring`]: pull secrets, kubelet credential providers, Docker's config),
//! else anonymous. Blobs stream into the store through the store's blob writer, checked
//! while they arrive; blobs already there are not downloaded; the store lock is held from
//! the first blob on, so concurrent pulls of one image fetch each blob once.

mod connect;
pub mod credentials;
mod matcher;
pub mod provider;

use std::path::PathBuf;
use std::sync::Arc;

use futures_util::StreamExt;
use oci_client::manifest::OciDescriptor;
use oci_client::Reference;
use oci_spec::image::{ImageIndex, ImageManifest};
use sha2::{Digest as _, Sha256};

use crate::blob::{self, BlobWriter, Want};
use crate::{ImageError, ImageSummary, Name, Store};
pub use credentials::Keyring;
pub use matcher::urls_match;

/// An image platform: `os/arch[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn parse(s: &str) -> Result<Platform, ImageError> {
        let p: Vec<&str> = s.split('/').collect();
        match p[..] {
            [os, arch] if !os.is_empty() && !arch.is_empty() => Ok(Platform { os: os.into(), arch: arch.into(), variant: None }),
            [os, arch, v] if !os.is_empty() && !arch.is_empty() && !v.is_empty() => Ok(Platform { os: os.into(), arch: arch.into(), variant: Some(v.into()) }),
            _ => Err(ImageError::BadRef { image: s.to_owned(), detail: "--platform takes os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8".into() }),
        }
    }

    /// This host: linux and its architecture (any variant).
    pub fn host() -> Platform {
        Platform { os: "linux".into(), arch: crate::layout::host_arch().into(), variant: None }
    }

    fn matches(&self, p: &oci_spec::image::Platform) -> bool {
        p.os().to_string() == self.os
            && p.architecture().to_string() == self.arch
            && self.variant.as_ref().is_none_or(|v| p.variant().as_deref() == Some(v.as_str()))
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// What a pull reports, blob by blob (the CLI draws bars on a terminal, lines otherwise).
pub trait Progress: Send + Sync {
    /// A blob's download starts, or it is found in the store (`present`: nothing fetched).
    fn begin(&self, digest: &str, size: u64, present: bool);
    fn advance(&self, digest: &str, bytes: u64);
    fn end(&self, digest: &str, ok: bool);
}

/// How to pull.
#[derive(Default, Clone)]
pub struct PullOptions {
    /// The platform to pick from a manifest list (default: this host's).
    pub platform: Option<Platform>,
    /// Registries (`host[:port]`) that may be reached over plain HTTP.
    pub insecure: Vec<String>,
    /// PEM CA certificates trusted beside the system's.
    pub ca_files: Vec<PathBuf>,
    pub keyring: Keyring,
    pub progress: Option<Arc<dyn Progress>>,
}

impl std::fmt::Debug for PullOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullOptions").field("platform", &self.platform).field("insecure", &self.insecure).field("ca_files", &self.ca_files).finish_non_exhaustive()
    }
}

const MANIFEST_TYPES: &[&str] = &[
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];
const MAX_MANIFEST: usize = 4 << 20;

pub(crate) fn reference(n: &Name, digest: Option<&str>) -> Reference {
    match (digest.or(n.digest.as_deref()), &n.tag) {
        (Some(d), _) => Reference::with_digest(n.registry.clone(), n.repository.clone(), d.to_owned()),
        (None, Some(t)) => Reference::with_tag(n.registry.clone(), n.repository.clone(), t.clone()),
        (None, None) => Reference::with_tag(n.registry.clone(), n.repository.clone(), "latest".into()),
    }
}

/// The error and all its causes, one after the other.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

fn runtime(image: &str) -> Result<tokio::runtime::Runtime, ImageError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ImageError::Registry { image: image.to_owned(), detail: format!("cannot start the network runtime: {e}") })
}

impl Store {
    /// `hostproc image pull NAME`: the image from its registry into the store, unpacked and
    /// recorded under its name (a name with a digest is recorded as it is).
    pub fn pull(&self, image: &str, opts: &PullOptions) -> Result<ImageSummary, ImageError> {
        let name = self.stored_name(image)?;
        let rt = runtime(image)?;
        rt.block_on(self.pull_async(&name, opts))
    }

    async fn pull_async(&self, name: &Name, opts: &PullOptions) -> Result<ImageSummary, ImageError> {
        let shown = name.to_string();
        let reg = |detail: String| ImageError::Registry { image: shown.clone(), detail };
        let (session, mut body, mut digest) = connect::Session::open(name, opts).await?;
        check_digest(&body, &digest, &shown)?;
        if let Some(want) = &name.digest {
            if *want != digest {
                return Err(reg(format!("the registry's manifest has digest {digest}, not the {want} asked for")));
            }
        }
        // A manifest list: this platform's manifest, by digest.
        if is_index(&body) {
            let idx = ImageIndex::from_reader(&body[..]).map_err(|e| reg(format!("manifest list {digest}: {e}")))?;
            let plat = opts.platform.clone().unwrap_or_else(Platform::host);
            let Some(d) = idx.manifests().iter().find(|m| m.platform().as_ref().is_some_and(|p| plat.matches(p))) else {
                let seen: Vec<String> = idx
                    .manifests()
                    .iter()
                    .map(|m| match m.platform() {
                        Some(p) => format!("{}/{}{}", p.os(), p.architecture(), p.variant().as_ref().map(|v| format!("/{v}")).unwrap_or_default()),
                        None => "(no platform)".into(),
                    })
                    .collect();
                return Err(reg(format!("no image for the platform {plat}; the manifest list has: {} (choose one with --platform)", seen.join(", "))));
            };
            let want = d.digest().to_string();
            (body, _) = session.manifest(&reference(name, Some(&want))).await?;
            check_digest(&body, &want, &shown)?;
            digest = want;
            if is_index(&body) {
                return Err(reg(format!("manifest {digest} is a list again: nested manifest lists are not supported")));
            }
        }
        let man = ImageManifest::from_reader(&body[..]).map_err(|e| reg(format!("manifest {digest}: {e}")))?;
        let mw = Want { hex: digest.trim_start_matches("sha256:").to_owned(), size: body.len() as u64 };
        let mut all = vec![Want::from_descriptor(man.config(), &shown)?];
        for l in man.layers() {
            all.push(Want::from_descriptor(l, &shown)?);
        }

        let lock = self.lock()?;
        let (blobs, tmp) = (self.blobs(), self.tmp());
        let src = format!("registry {}", session.registry());
        blob::put(&blobs, &tmp, &mw, &src, || Ok(Box::new(std::io::Cursor::new(body.to_vec())) as Box<dyn std::io::Read>))?;
        // All at once (skopeo does too): while one blob waits on the network another is
        // hashed and written. A failure drops the others, whose temporary files go.
        let fetches = all.iter().enumerate().map(|(i, w)| {
            let media = if i == 0 { man.config().media_type().to_string() } else { man.layers()[i - 1].media_type().to_string() };
            let (session, src, progress) = (&session, &src, opts.progress.as_deref());
            async move { self.fetch_blob(session, name, w, &media, src, progress).await }
        });
        futures_util::future::try_join_all(fetches).await?;
        crate::crash_point("image-after-blobs");
        let image = self.ready(&shown, &mw, &lock)?;
        let summary = ImageSummary {
            name: shown.clone(),
            digest: mw.digest(),
            config: all[0].digest(),
            size: man.layers().iter().map(|l| l.size()).sum(),
            source: format!("docker://{shown}"),
            imported: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        };
        crate::crash_point("image-after-rootfs");
        self.record(&summary, &lock)?;
        tracing::debug!("image {shown} pulled: rootfs {}", image.rootfs.display());
        Ok(summary)
    }

    /// One blob from the registry into the store, unless it is there.
    async fn fetch_blob(&self, s: &connect::Session, name: &Name, w: &Want, media: &str, src: &str, progress: Option<&dyn Progress>) -> Result<(), ImageError> {
        let dest = self.blobs().join(&w.hex);
        let digest = w.digest();
        if std::fs::metadata(&dest).is_ok_and(|m| m.len() == w.size) {
            if let Some(p) = progress {
                p.begin(&digest, w.size, true);
            }
            return Ok(());
        }
        let bad = |detail: String| ImageError::BadBlob { source_ref: src.to_owned(), digest: digest.clone(), detail };
        let desc = OciDescriptor { media_type: media.to_owned(), digest: digest.clone(), size: w.size as i64, ..Default::default() };
        if let Some(p) = progress {
            p.begin(&digest, w.size, false);
        }
        let res = async {
            let mut stream = s.client.pull_blob_stream(&reference(name, None), &desc).await.map_err(|e| bad(format!("cannot download it: {}", chain(&e))))?;
            let mut writer = BlobWriter::create(blob::temp_name(&self.tmp(), "blob"), w.size)?;
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(c) => {
                        if !writer.write(&c)? {
                            break;
                        }
                        if let Some(p) = progress {
                            p.advance(&digest, c.len() as u64);
                        }
                    }
                    // oci-client checks the digest too and says so at the end of the
                    // stream: our own check below words it (size, then sha256).
                    Err(e) if writer.count() == w.size || chain(&e).contains("Invalid digest") => break,
                    Err(e) => return Err(bad(format!("the download broke off after {} of {} bytes: {}", writer.count(), w.size, chain(&e)))),
                }
            }
            writer.finish(w, &dest, src)
        }
        .await;
        if let Some(p) = progress {
            p.end(&digest, res.is_ok());
        }
        res
    }
}

fn is_index(body: &[u8]) -> bool {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    match v.get("mediaType").and_then(|m| m.as_str()) {
        Some(m) => m == MANIFEST_TYPES[1] || m == MANIFEST_TYPES[3],
        None => v.get("manifests").is_some(),
    }
}

fn check_digest(body: &[u8], digest: &str, image: &str) -> Result<(), ImageError> {
    let got = format!("sha256:{:x}", Sha256::digest(body));
    if body.len() > MAX_MANIFEST {
        return Err(ImageError::Registry { image: image.to_owned(), detail: format!("manifest {digest} is {} bytes: too large", body.len()) });
    }
    if got != digest {
        return Err(ImageError::BadBlob { source_ref: image.to_owned(), digest: digest.to_owned(), detail: format!("the manifest's content has sha256 {got}: the registry sent a corrupt manifest") });
    }
    Ok(())
}
