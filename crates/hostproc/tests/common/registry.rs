//! A real registry for the pull tests: Debian's `docker-registry` (distribution 2.8) started
//! on 127.0.0.1 on a free port with its own config and storage in the test's directory
//! (plain HTTP, TLS with a certificate made here, htpasswd or token auth), images pushed to
//! it over its HTTP API by a tiny client, and a small token server. Processes are killed
//! by their own pid on drop.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::json;

pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// The registry binary, or None (the test then says why it cannot run).
pub fn registry_bin() -> Option<&'static str> {
    Path::new(REGISTRY_BIN).is_file().then_some(REGISTRY_BIN)
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub enum Auth {
    None,
    Htpasswd(PathBuf),
    Token { realm: String, bundle: PathBuf },
}

pub const TOKEN_SERVICE: &str = "hostproc-test-registry";
pub const TOKEN_ISSUER: &str = "hostproc-test-issuer";

pub struct Registry {
    child: Child,
    pub addr: String,
    pub storage: PathBuf,
    pub log: PathBuf,
}

impl Registry {
    /// Starts a registry serving `storage`; waits until it answers.
    pub fn start(dir: &Path, storage: &Path, tls: Option<&Pki>, auth: &Auth) -> Registry {
        std::fs::create_dir_all(dir).unwrap();
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut cfg = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: {addr}\n  secret: hostproc-test\n",
            storage.display()
        );
        if let Some(p) = tls {
            cfg.push_str(&format!("  tls:\n    certificate: {}\n    key: {}\n", p.cert.display(), p.key.display()));
        }
        match auth {
            Auth::None => {}
            Auth::Htpasswd(f) => cfg.push_str(&format!("auth:\n  htpasswd:\n    realm: hostproc-test\n    path: {}\n", f.display())),
            Auth::Token { realm, bundle } => cfg.push_str(&format!(
                "auth:\n  token:\n    realm: {realm}\n    service: {TOKEN_SERVICE}\n    issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}\n",
                bundle.display()
            )),
        }
        let conf = dir.join(format!("config-{port}.yml"));
        std::fs::write(&conf, cfg).unwrap();
        let log = dir.join(format!("registry-{port}.log"));
        let f = std::fs::File::create(&log).unwrap();
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .expect("start docker-registry");
        let mut r = Registry { child, addr, storage: storage.to_path_buf(), log };
        let t = Instant::now();
        while TcpStream::connect(&r.addr).is_err() {
            if let Ok(Some(s)) = r.child.try_wait() {
                panic!("docker-registry exited ({s}): {}", std::fs::read_to_string(&r.log).unwrap_or_default());
            }
            assert!(t.elapsed() < Duration::from_secs(20), "docker-registry did not listen on {}", r.addr);
            std::thread::sleep(Duration::from_millis(50));
        }
        r
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How many blob downloads (GET .../blobs/sha256:... answered 200) it served.
    pub fn blob_gets(&self) -> usize {
        self.log_text().lines().filter(|l| l.contains("\"GET /v2/") && l.contains("/blobs/sha256:") && l.contains("\" 200 ")).count()
    }

    /// A blob's data file in the storage (to corrupt it).
    pub fn blob_file(&self, hex: &str) -> PathBuf {
        self.storage.join("docker/registry/v2/blobs/sha256").join(&hex[..2]).join(hex).join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request over plain TCP: (status, headers, body).
pub fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status: u16 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut hs = Vec::new();
    loop {
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        let l = l.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            hs.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let mut b = Vec::new();
    let _ = r.read_to_end(&mut b);
    (status, hs, b)
}

fn header<'a>(hs: &'a [(String, String)], k: &str) -> &'a str {
    hs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).unwrap_or("")
}

/// Pushes a blob (POST then PUT with the digest); returns `sha256:<hex>`.
pub fn push_blob(addr: &str, repo: &str, data: &[u8]) -> String {
    let digest = format!("sha256:{}", crate::oci::sha(data));
    let (st, hs, b) = http(addr, "POST", &format!("/v2/{repo}/blobs/uploads/"), &[], b"");
    assert_eq!(st, 202, "start upload: {}", String::from_utf8_lossy(&b));
    let loc = header(&hs, "location").to_owned();
    let path = loc.split_once("://").map(|(_, r)| &r[r.find('/').unwrap()..]).unwrap_or(&loc).to_owned();
    let sep = if path.contains('?') { '&' } else { '?' };
    let (st, _, b) = http(addr, "PUT", &format!("{path}{sep}digest={digest}"), &[("Content-Type", "application/octet-stream")], data);
    assert_eq!(st, 201, "finish upload: {}", String::from_utf8_lossy(&b));
    digest
}

pub fn push_manifest(addr: &str, repo: &str, reference: &str, media_type: &str, body: &[u8]) {
    let (st, _, b) = http(addr, "PUT", &format!("/v2/{repo}/manifests/{reference}"), &[("Content-Type", media_type)], body);
    assert_eq!(st, 201, "push manifest: {}", String::from_utf8_lossy(&b));
}

/// An image built as an OCI layout pushed to `repo:tag` (or only by digest when `tag` is
/// None); returns (manifest digest, manifest size, [config, layers...] hexes).
pub fn push_layout_image(addr: &str, repo: &str, tag: Option<&str>, layout: &crate::oci::Layout, manifest_hex: &str) -> (String, usize, Vec<String>) {
    let body = std::fs::read(layout.blob_path(manifest_hex)).unwrap();
    let m: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let mut hexes = Vec::new();
    for d in std::iter::once(&m["config"]).chain(m["layers"].as_array().unwrap()) {
        let hex = d["digest"].as_str().unwrap().trim_start_matches("sha256:").to_owned();
        push_blob(addr, repo, &std::fs::read(layout.blob_path(&hex)).unwrap());
        hexes.push(hex);
    }
    push_manifest(addr, repo, tag.unwrap_or(&format!("sha256:{manifest_hex}")), "application/vnd.oci.image.manifest.v1+json", &body);
    (format!("sha256:{manifest_hex}"), body.len(), hexes)
}

/// A manifest list of (digest, size, os, arch) pushed as `repo:tag`.
pub fn push_index(addr: &str, repo: &str, tag: &str, entries: &[(String, usize, &str, &str)]) {
    let ms: Vec<_> = entries
        .iter()
        .map(|(d, n, os, arch)| json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d, "size": n, "platform": {"os": os, "architecture": arch}}))
        .collect();
    let idx = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": ms});
    push_manifest(addr, repo, tag, "application/vnd.oci.image.index.v1+json", idx.to_string().as_bytes());
}

/// A CA and a server certificate for 127.0.0.1 and localhost signed by it.
pub struct Pki {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub fn make_pki(dir: &Path) -> Pki {
    std::fs::create_dir_all(dir).unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut cp = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    cp.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    cp.distinguished_name.push(rcgen::DnType::CommonName, "hostproc test CA");
    let ca = cp.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut lp = rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    lp.distinguished_name.push(rcgen::DnType::CommonName, "127.0.0.1");
    let leaf = lp.signed_by(&key, &ca, &ca_key).unwrap();
    let p = Pki { ca: dir.join("ca.pem"), cert: dir.join("server.pem"), key: dir.join("server-key.pem") };
    std::fs::write(&p.ca, ca.pem()).unwrap();
    std::fs::write(&p.cert, leaf.pem()).unwrap();
    std::fs::write(&p.key, key.serialize_pem()).unwrap();
    p
}

/// `htpasswd -Bbn USER PASS` into FILE (apache2-utils).
pub fn htpasswd(file: &Path, user: &str, pass: &str) {
    let out = Command::new("htpasswd").args(["-Bbn", user, pass]).output().expect("htpasswd (apache2-utils)");
    assert!(out.status.success(), "htpasswd: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(file, out.stdout).unwrap();
}

/// A Docker config.json with `user:pass` for `registry` in DIR/config.json.
pub fn docker_config(dir: &Path, registry: &str, user: &str, pass: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    let p = dir.join("config.json");
    std::fs::write(&p, json!({"auths": {registry: {"auth": auth}}}).to_string()).unwrap();
    p
}

/// A token server (distribution's token auth): GET /token?scope=..&service=.. with HTTP basic
/// `user:pass` gets an ES256 JWT signed by a key whose certificate is `bundle`; anything
/// else gets 401. Every request is logged (`requests`).
pub struct TokenServer {
    pub realm: String,
    pub bundle: PathBuf,
    pub requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn b64url(d: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d)
}

impl TokenServer {
    pub fn start(dir: &Path, user: &str, pass: &str) -> TokenServer {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut cp = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        cp.distinguished_name.push(rcgen::DnType::CommonName, "hostproc test token signer");
        let cert = cp.self_signed(&key).unwrap();
        let bundle = dir.join("token-signer.pem");
        std::fs::write(&bundle, cert.pem()).unwrap();
        let rng = ring::rand::SystemRandom::new();
        let signer = ring::signature::EcdsaKeyPair::from_pkcs8(&ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING, &key.serialize_der(), &rng).unwrap();
        let x5c = base64::engine::general_purpose::STANDARD.encode(cert.der());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let realm = format!("http://{}/token", listener.local_addr().unwrap());
        let want = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}")));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (reqs, stopped) = (requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                let Ok((s, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                s.set_nonblocking(false).unwrap();
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                r.read_line(&mut line).unwrap_or(0);
                let mut authz = String::new();
                loop {
                    let mut l = String::new();
                    if r.read_line(&mut l).unwrap_or(0) == 0 || l.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = l.split_once(':') {
                        if k.eq_ignore_ascii_case("authorization") {
                            authz = v.trim().to_owned();
                        }
                    }
                }
                let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                let ok = authz == want;
                reqs.lock().unwrap().push(format!("{path} {}", if ok { "granted" } else if authz.is_empty() { "anonymous" } else { "refused" }));
                let scope = path.split(['?', '&']).find_map(|p| p.strip_prefix("scope=")).unwrap_or("").replace("%3A", ":").replace("%2F", "/").replace("%2C", ",");
                let (status, body) = if ok {
                    let repo = scope.split(':').nth(1).unwrap_or("").to_owned();
                    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
                    let head = json!({"alg": "ES256", "typ": "JWT", "x5c": [x5c]});
                    let claims = json!({"iss": TOKEN_ISSUER, "sub": "tester", "aud": TOKEN_SERVICE, "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{now}-{}", reqs.lock().unwrap().len()),
                        "access": [{"type": "repository", "name": repo, "actions": ["pull"]}]});
                    let input = format!("{}.{}", b64url(head.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
                    let sig = signer.sign(&ring::rand::SystemRandom::new(), input.as_bytes()).unwrap();
                    let jwt = format!("{input}.{}", b64url(sig.as_ref()));
                    ("200 OK", json!({"token": jwt, "access_token": jwt, "expires_in": 300}).to_string())
                } else {
                    ("401 Unauthorized", json!({"details": "wrong credentials"}).to_string())
                };
                let mut s = s;
                let _ = write!(s, "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            }
        });
        TokenServer { realm, bundle, requests, stop, thread: Some(thread) }
    }

    pub fn log(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
