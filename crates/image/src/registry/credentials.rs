//! Where a pull's credentials come from, in the kubelet's order: the pod's
//! imagePullSecrets, then the kubelet credential providers, then Docker's config.json
//! (`auths`, `credHelpers`, `credsStore`: helpers are run as `docker-credential-<name> get`).
//! Every credential that matches is tried in turn; with none, the pull is anonymous.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde::Deserialize;

use super::matcher::urls_match;
use super::provider::Providers;
use crate::ImageError;

/// A username and password (or token) for a registry, and where it came from.
#[derive(Clone, PartialEq, Eq)]
pub struct Cred {
    pub username: String,
    pub password: String,
    pub from: String,
}

impl std::fmt::Debug for Cred {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cred({} from {})", self.username, self.from)
    }
}

/// The credentials for an image, and what went wrong finding them (said as warnings, and in
/// the error if the registry then refuses the pull).
#[derive(Debug, Default)]
pub struct Found {
    pub creds: Vec<Cred>,
    pub notes: Vec<String>,
}

/// One `auths` entry of a Docker config.
#[derive(Debug, Clone, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default, rename = "identitytoken")]
    identity_token: Option<String>,
}

/// Docker's config.json (also the content of a kubernetes.io/dockerconfigjson Secret).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    /// Where it was read from, for messages.
    #[serde(skip)]
    origin: String,
}

impl DockerConfig {
    /// A config.json's content; a legacy `.dockercfg` (the entries without `auths`) too.
    pub fn parse(data: &[u8], origin: &str) -> Result<DockerConfig, ImageError> {
        let bad = |e: String| ImageError::Credentials { origin: origin.to_owned(), detail: format!("not a Docker config: {e}") };
        let v: serde_json::Value = serde_json::from_slice(data).map_err(|e| bad(e.to_string()))?;
        let mut c: DockerConfig = if v.get("auths").is_some() || v.get("credHelpers").is_some() || v.get("credsStore").is_some() {
            serde_json::from_value(v).map_err(|e| bad(e.to_string()))?
        } else {
            DockerConfig { auths: serde_json::from_value(v).map_err(|e| bad(e.to_string()))?, ..Default::default() }
        };
        c.origin = origin.to_owned();
        Ok(c)
    }

    pub fn load(path: &Path) -> Result<Option<DockerConfig>, ImageError> {
        match std::fs::read(path) {
            Ok(d) => DockerConfig::parse(&d, &path.display().to_string()).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ImageError::Credentials { origin: path.display().to_string(), detail: format!("cannot read it: {e}") }),
        }
    }

    /// Docker's own place: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
    pub fn default_path() -> Option<PathBuf> {
        if let Some(d) = std::env::var_os("DOCKER_CONFIG") {
            return Some(PathBuf::from(d).join("config.json"));
        }
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json"))
    }

    /// The credentials of this config for `image` (`registry/repository`), the most
    /// specific key first.
    fn lookup(&self, image: &str, registry: &str, found: &mut Found) {
        let mut keys: Vec<(&String, &AuthEntry)> = self.auths.iter().filter(|(k, _)| urls_match(&normalize_key(k), image)).collect();
        keys.sort_by_key(|k| std::cmp::Reverse(normalize_key(k.0)));
        for (k, e) in keys {
            match entry_cred(e) {
                Ok(Some((u, p))) => found.creds.push(Cred { username: u, password: p, from: format!("{} auths[{k}]", self.origin) }),
                Ok(None) => {}
                Err(d) => found.notes.push(format!("{} auths[{k}]: {d}", self.origin)),
            }
        }
        let helper = self.cred_helpers.iter().find(|(k, _)| normalize_key(k) == registry).map(|(_, h)| h).or(self.creds_store.as_ref());
        if let Some(h) = helper {
            match run_helper(h, registry) {
                Ok(Some((u, p))) => found.creds.push(Cred { username: u, password: p, from: format!("docker-credential-{h}") }),
                Ok(None) => {}
                Err(d) => found.notes.push(format!("docker-credential-{h} (from {}): {d}", self.origin)),
            }
        }
    }
}

/// `https://index.docker.io/v1/` and friends are Docker Hub, which images call docker.io.
fn normalize_key(k: &str) -> String {
    let k = k.split_once("://").map_or(k, |(_, r)| r).trim_end_matches('/');
    let k = k.strip_suffix("/v1").or_else(|| k.strip_suffix("/v2")).unwrap_or(k);
    match k {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".into(),
        _ => k.to_owned(),
    }
}

fn entry_cred(e: &AuthEntry) -> Result<Option<(String, String)>, String> {
    if let Some(a) = e.auth.as_deref().filter(|a| !a.is_empty()) {
        let raw = base64::engine::general_purpose::STANDARD.decode(a.trim()).map_err(|e| format!("`auth` is not base64: {e}"))?;
        let s = String::from_utf8(raw).map_err(|_| "`auth` is not UTF-8".to_owned())?;
        let (u, p) = s.split_once(':').ok_or("`auth` is not base64 of user:password")?;
        return Ok(Some((u.to_owned(), p.to_owned())));
    }
    if let Some(t) = &e.identity_token {
        return Ok(Some(("<token>".into(), t.clone())));
    }
    match (&e.username, &e.password) {
        (Some(u), Some(p)) => Ok(Some((u.clone(), p.clone()))),
        _ => Ok(None),
    }
}

/// `docker-credential-<name> get` with the registry on stdin; "not found" is no credential.
fn run_helper(name: &str, registry: &str) -> Result<Option<(String, String)>, String> {
    if name.contains('/') || name.is_empty() {
        return Err(format!("{name:?} is not a helper name"));
    }
    let prog = format!("docker-credential-{name}");
    let mut child = Command::new(&prog)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {prog}: {e} (is it installed on PATH?)"))?;
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(registry.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| format!("{prog}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        if stdout.contains("credentials not found") {
            return Ok(None);
        }
        return Err(format!("{prog} get failed ({}): {}{}", out.status, stdout.trim(), String::from_utf8_lossy(&out.stderr).trim()));
    }
    #[derive(Deserialize)]
    struct Answer {
        #[serde(rename = "Username")]
        username: String,
        #[serde(rename = "Secret")]
        secret: String,
    }
    let a: Answer = serde_json::from_slice(&out.stdout).map_err(|e| format!("{prog} get answered something that is not {{\"Username\",\"Secret\"}}: {e}"))?;
    Ok(Some((a.username, a.secret)))
}

/// The credentials a pull may use.
#[derive(Default, Clone)]
pub struct Keyring {
    /// The pod's imagePullSecrets' configs (kubernetes.io/dockerconfigjson or dockercfg).
    pub secrets: Vec<DockerConfig>,
    /// The kubelet credential providers.
    pub providers: Option<Providers>,
    /// Docker's config.json (None: none read).
    pub docker: Option<DockerConfig>,
}

impl Keyring {
    /// Adds a pod's pull secret (`kubernetes.io/dockerconfigjson`: `.dockerconfigjson`, or
    /// `kubernetes.io/dockercfg`: `.dockercfg`).
    pub fn add_secret(&mut self, name: &str, kind: Option<&str>, data: &BTreeMap<String, Vec<u8>>) -> Result<(), ImageError> {
        let origin = format!("imagePullSecret {name}");
        let key = match kind {
            Some("kubernetes.io/dockerconfigjson") => ".dockerconfigjson",
            Some("kubernetes.io/dockercfg") => ".dockercfg",
            other => {
                return Err(ImageError::Credentials {
                    origin,
                    detail: format!("its type is {other:?}: a pull secret is of type kubernetes.io/dockerconfigjson (or kubernetes.io/dockercfg)"),
                })
            }
        };
        let d = data.get(key).ok_or_else(|| ImageError::Credentials { origin: origin.clone(), detail: format!("it has no {key} key") })?;
        self.secrets.push(DockerConfig::parse(d, &origin)?);
        Ok(())
    }

    /// Docker's config from its default place, if there is one.
    pub fn with_default_docker_config(mut self) -> Result<Keyring, ImageError> {
        if let Some(p) = DockerConfig::default_path() {
            self.docker = DockerConfig::load(&p)?;
        }
        Ok(self)
    }

    /// Every credential for `image` (`registry/repository[:tag]`), in the order to try.
    pub fn lookup(&self, image: &str) -> Found {
        let image = image.split('@').next().unwrap_or(image);
        let repo = match image.rfind(':') {
            Some(i) if !image[i..].contains('/') => &image[..i],
            _ => image,
        };
        let registry = repo.split('/').next().unwrap_or(repo);
        let mut found = Found::default();
        for s in &self.secrets {
            s.lookup(repo, registry, &mut found);
        }
        if let Some(p) = &self.providers {
            p.lookup(repo, &mut found);
        }
        if let Some(d) = &self.docker {
            d.lookup(repo, registry, &mut found);
        }
        let mut seen = Vec::new();
        found.creds.retain(|c| {
            let k = (c.username.clone(), c.password.clone());
            let new = !seen.contains(&k);
            seen.push(k);
            new
        });
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_config_auths_match_as_the_kubelet_matches() {
        let c = DockerConfig::parse(
            br#"{"auths": {"https://index.docker.io/v1/": {"auth": "aHViOnB3"}, "reg.io:5000/team": {"username": "t", "password": "p"}, "*.example.com": {"auth": "dzpw"}}}"#,
            "cfg",
        )
        .unwrap();
        let k = Keyring { docker: Some(c), ..Default::default() };
        let names = |i: &str| k.lookup(i).creds.into_iter().map(|c| c.username).collect::<Vec<_>>();
        assert_eq!(names("docker.io/library/busybox:1"), ["hub"]);
        assert_eq!(names("reg.io:5000/team/app:1"), ["t"]);
        assert!(names("reg.io:5000/other/app").is_empty());
        assert_eq!(names("a.example.com/x"), ["w"]);
        assert!(names("a.b.example.com/x").is_empty());
    }

    #[test]
    fn a_legacy_dockercfg_and_a_bad_auth() {
        let c = DockerConfig::parse(br#"{"reg.io": {"auth": "not base64!"}}"#, "s").unwrap();
        let f = Keyring { secrets: vec![c], ..Default::default() }.lookup("reg.io/x");
        assert!(f.creds.is_empty());
        assert!(f.notes[0].contains("not base64"), "{:?}", f.notes);
    }
}
