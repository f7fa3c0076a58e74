//! `hostproc image pull`, and the pull flags `pod run` shares.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use hostproc_image::registry::{provider::Providers, Keyring, Progress};
use hostproc_image::{ImageError, Platform, PullOptions, Store};

/// Where credentials and certificates come from (the kubelet's flag names where it has them).
#[derive(clap::Args, Debug, Clone)]
pub struct PullFlags {
    /// A registry (HOST[:PORT]) that may be reached over plain HTTP when HTTPS fails
    /// (localhost, 127.0.0.1 and ::1 always may); repeatable
    #[arg(long = "insecure-registry", value_name = "HOST")]
    insecure: Vec<String>,
    /// A PEM CA certificate to trust for registries, beside the system's; repeatable
    #[arg(long = "registry-ca-file", value_name = "FILE")]
    ca_files: Vec<PathBuf>,
    /// Docker's config.json for credentials (default: $DOCKER_CONFIG/config.json, else
    /// ~/.docker/config.json)
    #[arg(long = "docker-config", value_name = "FILE")]
    docker_config: Option<PathBuf>,
    /// The kubelet's CredentialProviderConfig (kubelet.config.k8s.io/v1)
    #[arg(long = "image-credential-provider-config", value_name = "FILE", requires = "provider_bin_dir")]
    provider_config: Option<PathBuf>,
    /// The directory the credential provider plugins are in
    #[arg(long = "image-credential-provider-bin-dir", value_name = "DIR", requires = "provider_config")]
    provider_bin_dir: Option<PathBuf>,
}

impl PullFlags {
    pub fn options(&self, root: &Path, platform: Option<&str>) -> Result<PullOptions, ImageError> {
        let docker = match &self.docker_config {
            Some(p) => Some(hostproc_image::registry::credentials::DockerConfig::load(p)?.ok_or_else(|| ImageError::Credentials {
                origin: p.display().to_string(),
                detail: "no such file (--docker-config)".into(),
            })?),
            None => Keyring::default().with_default_docker_config()?.docker,
        };
        let mut keyring = Keyring { docker, ..Default::default() };
        if let (Some(c), Some(d)) = (&self.provider_config, &self.provider_bin_dir) {
            let cache = root.join("images/credential-provider-cache.json");
            std::fs::create_dir_all(root.join("images")).map_err(|e| ImageError::Io { what: "create", path: root.join("images"), source: e })?;
            keyring.providers = Some(Providers::load(c, d, Some(cache))?);
        }
        Ok(PullOptions {
            platform: platform.map(Platform::parse).transpose()?,
            insecure: self.insecure.clone(),
            ca_files: self.ca_files.clone(),
            keyring,
            progress: None,
        })
    }
}

#[derive(clap::Args)]
pub struct Args {
    /// The image: [REGISTRY/]NAME[:TAG][@sha256:HEX]
    image: String,
    /// The platform to pull from a manifest list (default: this host's, linux/<arch>)
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
    /// No progress output, only the result line
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    flags: PullFlags,
}

pub fn exec(store: &Store, a: &Args) -> super::Result {
    // The store is `<root>/images`: the provider cache goes beside the rest of it.
    let root = store.dir().parent().unwrap_or(Path::new("/"));
    let mut opts = a.flags.options(root, a.platform.as_deref())?;
    if !a.quiet {
        opts.progress = Some(if std::io::stderr().is_terminal() { Arc::new(Bars::default()) as Arc<dyn Progress> } else { Arc::new(Lines) });
    }
    let s = store.pull(&a.image, &opts)?;
    println!("{} {}", s.name, s.digest);
    Ok(0)
}

fn short(d: &str) -> &str {
    d.get(..19).unwrap_or(d)
}

/// Not a terminal: one line per blob, on stderr.
struct Lines;

impl Progress for Lines {
    fn begin(&self, digest: &str, size: u64, present: bool) {
        if present {
            eprintln!("{} {size} bytes: already in the store", short(digest));
        }
    }
    fn advance(&self, _: &str, _: u64) {}
    fn end(&self, digest: &str, ok: bool) {
        eprintln!("{} {}", short(digest), if ok { "downloaded" } else { "failed" });
    }
}

/// A terminal: a bar per blob (bytes, rate), indicatif.
#[derive(Default)]
struct Bars {
    multi: indicatif::MultiProgress,
    bars: Mutex<HashMap<String, indicatif::ProgressBar>>,
}

impl Progress for Bars {
    fn begin(&self, digest: &str, size: u64, present: bool) {
        let style = indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> ");
        let b = self.multi.add(indicatif::ProgressBar::new(size).with_style(style).with_prefix(short(digest).to_owned()));
        if present {
            b.set_position(size);
            b.finish_with_message("already in the store");
        } else {
            self.bars.lock().expect("bars").insert(digest.to_owned(), b);
        }
    }
    fn advance(&self, digest: &str, bytes: u64) {
        if let Some(b) = self.bars.lock().expect("bars").get(digest) {
            b.inc(bytes);
        }
    }
    fn end(&self, digest: &str, ok: bool) {
        if let Some(b) = self.bars.lock().expect("bars").remove(digest) {
            if ok {
                b.finish_with_message("done");
            } else {
                b.abandon_with_message("failed");
            }
        }
    }
}
