//! kubelet credential providers (kubelet.config.k8s.io/v1 CredentialProviderConfig, the
//! exec plugin protocol credentialprovider.kubelet.k8s.io/v1), as the kubelet runs them:
//! a provider whose matchImages match the image is run from the bin dir with its args and
//! env (added to hostproc's), a CredentialProviderRequest on stdin, a
//! CredentialProviderResponse read from stdout within a minute. Its answer is cached by
//! cacheKeyType (Image, Registry, Global) for cacheDuration (or the provider's
//! defaultCacheDuration). hostproc is a command, not a daemon: the cache is a file in the
//! store (0600), so it lasts across commands. A plugin that fails, hangs or answers
//! garbage gives no credentials (a warning naming it): the pull goes on without them.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::credentials::{Cred, Found};
use super::matcher::urls_match;
use crate::ImageError;

const CONFIG_VERSIONS: &[&str] = &["kubelet.config.k8s.io/v1", "kubelet.config.k8s.io/v1beta1", "kubelet.config.k8s.io/v1alpha1"];
const PLUGIN_VERSIONS: &[&str] = &["credentialprovider.kubelet.k8s.io/v1", "credentialprovider.kubelet.k8s.io/v1beta1", "credentialprovider.kubelet.k8s.io/v1alpha1"];

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnvVar {
    name: String,
    value: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Provider {
    name: String,
    #[serde(default)]
    match_images: Vec<String>,
    #[serde(default)]
    default_cache_duration: Option<String>,
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: Vec<EnvVar>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigFile {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    providers: Vec<Provider>,
}

/// The providers of a CredentialProviderConfig, ready to run.
#[derive(Clone)]
pub struct Providers {
    list: Vec<(Provider, Duration)>,
    bin_dir: PathBuf,
    cache: Option<PathBuf>,
    timeout: Duration,
}

/// A Go duration: `0s`, `12h`, `1h30m`, `500ms`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let mut total = 0f64;
    let mut rest = s.trim();
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let v: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        total += v * match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[u..];
    }
    Some(Duration::from_secs_f64(total))
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Cache {
    entries: Vec<CacheEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CacheEntry {
    provider: String,
    key: String,
    /// Seconds since the epoch.
    expires: u64,
    auth: BTreeMap<String, AuthPair>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct AuthPair {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Response {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    cache_key_type: String,
    #[serde(default)]
    cache_duration: Option<String>,
    #[serde(default)]
    auth: BTreeMap<String, AuthPair>,
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Providers {
    /// Reads and checks the config as the kubelet does at its start (each plugin must be
    /// in `bin_dir`). `cache`: the file responses are cached in (None: not cached).
    pub fn load(config: &Path, bin_dir: &Path, cache: Option<PathBuf>) -> Result<Providers, ImageError> {
        let origin = config.display().to_string();
        let bad = |detail: String| ImageError::Credentials { origin: origin.clone(), detail };
        let data = std::fs::read_to_string(config).map_err(|e| bad(format!("cannot read it: {e}")))?;
        let f: ConfigFile = if data.trim_start().starts_with('{') {
            serde_json::from_str(&data).map_err(|e| bad(format!("not a CredentialProviderConfig: {e}")))?
        } else {
            serde_saphyr::from_str(&data).map_err(|e| bad(format!("not a CredentialProviderConfig: {e}")))?
        };
        if f.kind != "CredentialProviderConfig" || !CONFIG_VERSIONS.contains(&f.api_version.as_str()) {
            return Err(bad(format!("apiVersion {:?} kind {:?}: want apiVersion kubelet.config.k8s.io/v1, kind CredentialProviderConfig", f.api_version, f.kind)));
        }
        if f.providers.is_empty() {
            return Err(bad("providers: at least one provider is required".into()));
        }
        let mut list = Vec::new();
        for (i, p) in f.providers.into_iter().enumerate() {
            let field = format!("providers[{i}]");
            if p.name.is_empty() || p.name.contains('/') || p.name == "." || p.name == ".." {
                return Err(bad(format!("{field}.name {:?}: the plugin's file name in the bin dir is required (no '/')", p.name)));
            }
            if list.iter().any(|(q, _): &(Provider, Duration)| q.name == p.name) {
                return Err(bad(format!("{field}.name {:?}: duplicate provider name", p.name)));
            }
            if p.match_images.is_empty() {
                return Err(bad(format!("{field}.matchImages: at least one pattern is required")));
            }
            if !PLUGIN_VERSIONS.contains(&p.api_version.as_str()) {
                return Err(bad(format!("{field}.apiVersion {:?}: use credentialprovider.kubelet.k8s.io/v1", p.api_version)));
            }
            let d = match &p.default_cache_duration {
                None => return Err(bad(format!("{field}.defaultCacheDuration is required (e.g. 0s, 10m, 12h)"))),
                Some(s) => parse_duration(s).ok_or_else(|| bad(format!("{field}.defaultCacheDuration {s:?}: not a duration (e.g. 0s, 10m, 12h)")))?,
            };
            let bin = bin_dir.join(&p.name);
            if !bin.is_file() {
                return Err(bad(format!("{field}: plugin {} not found: put it in --image-credential-provider-bin-dir", bin.display())));
            }
            list.push((p, d));
        }
        let timeout = std::env::var("HOSTPROC_CREDENTIAL_PROVIDER_TIMEOUT").ok().and_then(|s| parse_duration(&s)).unwrap_or(Duration::from_secs(60));
        Ok(Providers { list, bin_dir: bin_dir.to_path_buf(), cache, timeout })
    }

    fn read_cache(&self) -> Cache {
        self.cache.as_ref().and_then(|p| std::fs::read(p).ok()).and_then(|d| serde_json::from_slice(&d).ok()).unwrap_or_default()
    }

    fn write_cache(&self, c: &Cache) {
        let Some(p) = &self.cache else { return };
        let t = p.with_extension(format!("tmp-{}", std::process::id()));
        let res = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&t).and_then(|mut f| {
            f.write_all(&serde_json::to_vec(c).expect("cache serializes"))?;
            std::fs::rename(&t, p)
        });
        if let Err(e) = res {
            let _ = std::fs::remove_file(&t);
            tracing::warn!("cannot write the credential provider cache {}: {e}", p.display());
        }
    }

    /// The providers' credentials for `image` (`registry/repository`): each matching
    /// provider's answer (cached or fresh), its auth keys matched against the image, the
    /// most specific first; earlier providers first.
    pub(crate) fn lookup(&self, image: &str, found: &mut Found) {
        let registry = image.split('/').next().unwrap_or(image).to_owned();
        let mut cache = self.read_cache();
        let t = now();
        cache.entries.retain(|e| e.expires > t);
        let mut changed = false;
        for (p, default) in &self.list {
            if !p.match_images.iter().any(|m| urls_match(m, image)) {
                continue;
            }
            let hit = [image, registry.as_str(), ""].iter().find_map(|k| cache.entries.iter().find(|e| e.provider == p.name && e.key == *k)).map(|e| e.auth.clone());
            let auth = match hit {
                Some(a) => {
                    tracing::debug!("credential provider {}: cached answer for {image}", p.name);
                    a
                }
                None => match self.exec(p, image) {
                    Ok(r) => {
                        let key = match r.cache_key_type.as_str() {
                            "Image" => image.to_owned(),
                            "Registry" => registry.clone(),
                            _ => String::new(),
                        };
                        let dur = match &r.cache_duration {
                            Some(s) => parse_duration(s).unwrap_or(Duration::ZERO),
                            None => *default,
                        };
                        if !dur.is_zero() {
                            cache.entries.retain(|e| !(e.provider == p.name && e.key == key));
                            cache.entries.push(CacheEntry { provider: p.name.clone(), key, expires: t + dur.as_secs().max(1), auth: r.auth.clone() });
                            changed = true;
                        }
                        r.auth
                    }
                    Err(e) => {
                        found.notes.push(e);
                        continue;
                    }
                },
            };
            let mut keys: Vec<(&String, &AuthPair)> = auth.iter().filter(|(k, _)| urls_match(k, image)).collect();
            keys.sort_by(|a, b| b.0.cmp(a.0));
            for (k, a) in keys {
                found.creds.push(Cred { username: a.username.clone(), password: a.password.clone(), from: format!("credential provider {} ({k})", p.name) });
            }
        }
        if changed {
            self.write_cache(&cache);
        }
    }

    /// Runs the plugin once; the error names it.
    fn exec(&self, p: &Provider, image: &str) -> Result<Response, String> {
        let bin = self.bin_dir.join(&p.name);
        let fail = |d: String| format!("credential provider {} ({}) for {image}: {d}; going on without its credentials", p.name, bin.display());
        let req = serde_json::json!({"apiVersion": p.api_version, "kind": "CredentialProviderRequest", "image": image});
        use std::os::unix::process::CommandExt;
        // Its own process group: a hung plugin is killed with whatever it started.
        let mut child = Command::new(&bin)
            .process_group(0)
            .args(&p.args)
            .envs(p.env.iter().map(|e| (&e.name, &e.value)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| fail(format!("cannot run it: {e}")))?;
        if let Some(mut i) = child.stdin.take() {
            let _ = i.write_all(req.to_string().as_bytes());
        }
        let mut out = child.stdout.take().expect("piped");
        let mut err = child.stderr.take().expect("piped");
        let reader = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = out.read_to_end(&mut v);
            v
        });
        let err_reader = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = (&mut err).take(4096).read_to_end(&mut v);
            v
        });
        let start = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) if start.elapsed() >= self.timeout => {
                    if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
                        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
                    }
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(fail(format!("it did not answer within {:?} and was killed", self.timeout)));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => return Err(fail(format!("cannot wait for it: {e}"))),
            }
        };
        let stdout = reader.join().unwrap_or_default();
        let stderr = err_reader.join().unwrap_or_default();
        if !status.success() {
            return Err(fail(format!("it failed ({status}): {}", String::from_utf8_lossy(&stderr).trim())));
        }
        let r: Response = serde_json::from_slice(&stdout).map_err(|e| fail(format!("its answer is not a CredentialProviderResponse: {e}")))?;
        if r.kind != "CredentialProviderResponse" || r.api_version != p.api_version {
            return Err(fail(format!("its answer has apiVersion {:?} kind {:?}; want {} CredentialProviderResponse", r.api_version, r.kind, p.api_version)));
        }
        if !matches!(r.cache_key_type.as_str(), "Image" | "Registry" | "Global") {
            return Err(fail(format!("its answer's cacheKeyType {:?} is not Image, Registry or Global", r.cache_key_type)));
        }
        if let Some(d) = &r.cache_duration {
            if parse_duration(d).is_none() {
                return Err(fail(format!("its answer's cacheDuration {d:?} is not a duration")));
            }
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("0s"), Some(Duration::ZERO));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("12x"), None);
        assert_eq!(parse_duration(""), None);
    }
}
