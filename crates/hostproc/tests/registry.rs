//! `hostproc image pull` against a real registry (Debian's docker-registry on 127.0.0.1, see
//! tests/common/registry.rs): plain HTTP anonymous, TLS with htpasswd, a bearer-token flow;
//! a second pull downloads nothing, concurrent pulls fetch each blob once, manifest lists,
//! and the refusals (corrupt, truncated, no platform, unreachable, bad credentials) each
//! with a clear error and nothing half-written in the store.

mod common;
#[path = "common/oci.rs"]
mod oci;
#[path = "common/registry.rs"]
mod registry;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use oci::{Compression as C, Layout, E};
use registry::*;

fn store(root: &Root) -> PathBuf {
    root.path().join("images")
}

/// Nothing half-made: tmp empty, no rootfs, no name, and only the given blobs.
fn assert_nothing_half_written(root: &Root) {
    assert_store_has_nothing_half_written(&store(root), &format!("{:?}", root.entries()));
}

fn assert_store_has_nothing_half_written(s: &Path, entries: &str) {
    for d in ["tmp", "rootfs"] {
        let n = fs::read_dir(s.join(d)).map(|r| r.count()).unwrap_or(0);
        assert_eq!(n, 0, "{d} is not empty: {entries}");
    }
    let idx = fs::read_to_string(s.join("index.json")).unwrap_or_default();
    assert!(!idx.contains("\"name\""), "a name was recorded: {idx}");
    // Every blob there is whole: its name is its content's sha256.
    for e in fs::read_dir(s.join("blobs/sha256")).into_iter().flatten().flatten() {
        assert_eq!(oci::sha(&fs::read(e.path()).unwrap()), e.file_name().to_string_lossy(), "a blob that is not whole");
    }
}

/// An image of three layers (gzip, zstd, plain) built here; returns the layout and the
/// manifest's hex.
fn three_layer_image(dir: &Path, marker: &str) -> (Layout, String) {
    let mut l = Layout::new(dir);
    let a = oci::tar(&[E::Dir("etc", 0o755), E::File("etc/app.conf", marker, 0o644)]);
    let b = oci::tar(&[E::Dir("bin", 0o755), E::File("bin/tool", "#!/bin/sh\necho tool\n", 0o755)]);
    let c = oci::tar(&[E::File("hello.txt", "hello from the registry\n", 0o644)]);
    let (m, _) = l.image(&[(a, C::Gzip), (b, C::Zstd), (c, C::None)], None, &["true"]);
    (l, m)
}

fn pull(root: &Root, args: &[&str]) -> Output {
    let mut a = vec!["image", "pull"];
    a.extend_from_slice(args);
    hostproc(root, &a)
}

macro_rules! need_registry {
    () => {
        if registry_bin().is_none() {
            panic!("{REGISTRY_BIN} is missing: apt-get install docker-registry (.ci/run does)");
        }
    };
}

#[test]
fn a_plain_http_pull_unpacks_the_image_and_a_second_pull_downloads_nothing() {
    need_registry!();
    let t = tempdir();
    let reg = Registry::start(&t.path().join("reg"), &t.path().join("storage"), None, &Auth::None);
    let (l, m) = three_layer_image(&t.path().join("layout"), "first");
    let (digest, _, blobs) = push_layout_image(&reg.addr, "test/app", Some("1"), &l, &m);
    let root = Root::new();
    let image = format!("{}/test/app:1", reg.addr);
    let o = pull(&root, &[&image]);
    o.assert_code(0);
    assert_eq!(o.stdout.trim(), format!("{image} {digest}"), "{}", o.dump());
    assert_eq!(o.stderr.matches("downloaded").count(), 4, "config and 3 layers: {}", o.dump());
    assert_eq!(reg.blob_gets(), 4);
    let insp: serde_json::Value = serde_json::from_str(&hostproc(&root, &["image", "inspect", &image]).assert_code(0).stdout).unwrap();
    let rootfs = PathBuf::from(insp["rootfs"].as_str().unwrap());
    assert_eq!(fs::read_to_string(rootfs.join("etc/app.conf")).unwrap(), "first");
    assert_eq!(fs::read_to_string(rootfs.join("hello.txt")).unwrap(), "hello from the registry\n");
    assert_eq!(insp["source"], format!("docker://{image}"));
    for b in &blobs {
        assert!(store(&root).join("blobs/sha256").join(b).is_file());
    }
    // Again: the manifest is asked for, no blob is downloaded.
    let o = pull(&root, &[&image]);
    o.assert_code(0);
    assert_eq!(o.stderr.matches("already in the store").count(), 4, "{}", o.dump());
    assert!(!o.stderr.contains("downloaded"), "{}", o.dump());
    assert_eq!(reg.blob_gets(), 4, "the second pull downloaded blobs: {}", reg.log_text());
    // By digest, too (the same manifest, nothing downloaded).
    let by_digest = format!("{}/test/app@{digest}", reg.addr);
    pull(&root, &["-q", &by_digest]).assert_code(0);
    assert_eq!(reg.blob_gets(), 4);
}

#[test]
fn concurrent_pulls_of_one_image_fetch_each_blob_once() {
    need_registry!();
    let t = tempdir();
    let reg = Registry::start(&t.path().join("reg"), &t.path().join("storage"), None, &Auth::None);
    let (l, m) = three_layer_image(&t.path().join("layout"), "concurrent");
    push_layout_image(&reg.addr, "test/app", Some("c"), &l, &m);
    let root = Root::new();
    let image = format!("{}/test/app:c", reg.addr);
    let runs: Vec<_> = (0..3)
        .map(|_| {
            let mut c = command(&root);
            c.args(["image", "pull", &image]);
            spawn(c)
        })
        .collect();
    for r in runs {
        r.finish(TIMEOUT).assert_code(0);
    }
    assert_eq!(reg.blob_gets(), 4, "each of the 4 blobs once: {}", reg.log_text());
}

#[test]
fn a_manifest_list_gives_this_hosts_image_or_names_the_platforms_it_has() {
    need_registry!();
    let t = tempdir();
    let reg = Registry::start(&t.path().join("reg"), &t.path().join("storage"), None, &Auth::None);
    let (l1, m1) = three_layer_image(&t.path().join("l1"), "for this host");
    let (l2, m2) = three_layer_image(&t.path().join("l2"), "for s390x");
    let (d1, n1, _) = push_layout_image(&reg.addr, "test/multi", None, &l1, &m1);
    let (d2, n2, _) = push_layout_image(&reg.addr, "test/multi", None, &l2, &m2);
    push_index(&reg.addr, "test/multi", "all", &[(d2.clone(), n2, "linux", "s390x"), (d1.clone(), n1, "linux", oci::host_arch())]);
    push_index(&reg.addr, "test/multi", "others", &[(d2.clone(), n2, "linux", "s390x"), (d1.clone(), n1, "windows", "amd64")]);
    let root = Root::new();
    let o = pull(&root, &[&format!("{}/test/multi:all", reg.addr)]);
    o.assert_code(0);
    assert!(o.stdout.contains(&d1), "this host's manifest: {}", o.dump());
    let o = pull(&root, &["--platform", "linux/s390x", &format!("{}/test/multi:all", reg.addr)]);
    o.assert_code(0);
    assert!(o.stdout.contains(&d2), "--platform's manifest: {}", o.dump());

    let other = Root::new();
    let o = pull(&other, &[&format!("{}/test/multi:others", reg.addr)]);
    o.assert_code(1);
    assert!(o.stderr.contains(&format!("no image for the platform linux/{}", oci::host_arch())), "{}", o.dump());
    assert!(o.stderr.contains("linux/s390x, windows/amd64"), "{}", o.dump());
    assert!(o.stderr.contains("--platform"), "{}", o.dump());
    assert_nothing_half_written(&other);
    let o = pull(&other, &["--platform", "linux", &format!("{}/test/multi:others", reg.addr)]);
    o.assert_code(1);
    assert!(o.stderr.contains("os/arch"), "{}", o.dump());
}

#[test]
fn corrupt_and_truncated_blobs_are_refused_and_nothing_is_kept() {
    need_registry!();
    let t = tempdir();
    let reg = Registry::start(&t.path().join("reg"), &t.path().join("storage"), None, &Auth::None);
    let (l, m) = three_layer_image(&t.path().join("l1"), "corrupt me");
    let (_, _, hexes) = push_layout_image(&reg.addr, "test/bad", Some("corrupt"), &l, &m);
    // Same size, other bytes: the digest is wrong.
    let f = reg.blob_file(&hexes[2]);
    let good = fs::read(&f).unwrap();
    let mut data = good.clone();
    let last = data.len() - 1;
    data[last] ^= 0xff;
    fs::write(&f, &data).unwrap();
    let root = Root::new();
    let o = pull(&root, &[&format!("{}/test/bad:corrupt", reg.addr)]);
    o.assert_code(1);
    assert!(o.stderr.contains(&format!("blob sha256:{}", hexes[2])) && o.stderr.contains("corrupt"), "{}", o.dump());
    assert!(!store(&root).join("blobs/sha256").join(&hexes[2]).exists());
    assert_nothing_half_written(&root);

    // The registry keeps one copy of a blob for all repositories: the next image shares
    // that layer, so it is made whole again.
    fs::write(&f, &good).unwrap();
    let (l, m) = three_layer_image(&t.path().join("l2"), "truncate me");
    let (_, _, hexes) = push_layout_image(&reg.addr, "test/bad", Some("short"), &l, &m);
    let f = reg.blob_file(&hexes[1]);
    let data = fs::read(&f).unwrap();
    fs::write(&f, &data[..data.len() / 2]).unwrap();
    let o = pull(&root, &[&format!("{}/test/bad:short", reg.addr)]);
    o.assert_code(1);
    assert!(o.stderr.contains(&format!("blob sha256:{}", hexes[1])), "{}", o.dump());
    assert!(o.stderr.contains("bytes where its descriptor says") && o.stderr.contains("truncated"), "{}", o.dump());
    assert!(!store(&root).join("blobs/sha256").join(&hexes[1]).exists());
    assert_nothing_half_written(&root);
    // A tag that is not there.
    let o = pull(&root, &[&format!("{}/test/bad:nothere", reg.addr)]);
    o.assert_code(1);
    assert!(o.stderr.contains("manifest unknown"), "{}", o.dump());
}

#[test]
fn an_unreachable_registry_is_a_clear_error() {
    let root = Root::new();
    let port = free_port();
    let o = pull(&root, &[&format!("127.0.0.1:{port}/x/y:1")]);
    o.assert_code(1);
    assert!(o.stderr.contains(&format!("cannot reach registry 127.0.0.1:{port} over HTTPS or HTTP")), "{}", o.dump());
    assert_nothing_half_written(&root);
}

#[test]
fn tls_and_htpasswd_need_the_ca_and_the_right_credentials() {
    need_registry!();
    let t = tempdir();
    let storage = t.path().join("storage");
    {
        let plain = Registry::start(&t.path().join("reg"), &storage, None, &Auth::None);
        let (l, m) = three_layer_image(&t.path().join("l"), "private");
        push_layout_image(&plain.addr, "team/private", Some("1"), &l, &m);
    }
    let pki = make_pki(&t.path().join("pki"));
    let hf = t.path().join("htpasswd");
    htpasswd(&hf, "alice", "s3cret");
    let reg = Registry::start(&t.path().join("reg"), &storage, Some(&pki), &Auth::Htpasswd(hf));
    let image = format!("{}/team/private:1", reg.addr);
    let ca = pki.ca.display().to_string();
    let root = Root::new();
    let nocreds = t.path().join("none/config.json");
    // No credentials.
    let o = pull(&root, &["--registry-ca-file", &ca, "--docker-config", &t.path().join("missing.json").display().to_string(), &image]);
    o.assert_code(1);
    assert!(o.stderr.contains("missing.json") && o.stderr.contains("--docker-config"), "{}", o.dump());
    let empty = docker_config(&t.path().join("none"), "other.example.com", "x", "y");
    assert_eq!(empty, nocreds);
    let o = pull(&root, &["--registry-ca-file", &ca, "--docker-config", &nocreds.display().to_string(), &image]);
    o.assert_code(1);
    assert!(o.stderr.contains(&format!("registry {} refused the pull", reg.addr)) && o.stderr.contains("no credentials were found"), "{}", o.dump());
    assert_nothing_half_written(&root);
    // Wrong password: the error names where the credential came from.
    let bad = docker_config(&t.path().join("bad"), &reg.addr, "alice", "wrong");
    let o = pull(&root, &["--registry-ca-file", &ca, "--docker-config", &bad.display().to_string(), &image]);
    o.assert_code(1);
    assert!(o.stderr.contains(&format!("auths[{}]", reg.addr)) && o.stderr.contains("401"), "{}", o.dump());
    assert_nothing_half_written(&root);
    // Right password, but the CA not trusted: TLS fails (and plain HTTP to a TLS port too).
    let good = docker_config(&t.path().join("good"), &reg.addr, "alice", "s3cret");
    let o = pull(&root, &["--docker-config", &good.display().to_string(), &image]);
    o.assert_code(1);
    assert!(o.stderr.contains("over HTTPS") && o.stderr.contains("UnknownIssuer") && o.stderr.contains("--registry-ca-file"), "{}", o.dump());
    assert_nothing_half_written(&root);
    // Both: pulled, over HTTPS.
    let mut c = command(&root);
    c.args(["image", "pull", "--registry-ca-file", &ca, &image]).env("DOCKER_CONFIG", t.path().join("good"));
    let o = execute(c);
    o.assert_code(0);
    assert_eq!(reg.blob_gets(), 4, "{}", reg.log_text());
}

#[test]
fn a_bearer_token_from_the_token_server_with_basic_credentials() {
    need_registry!();
    let t = tempdir();
    let storage = t.path().join("storage");
    {
        let plain = Registry::start(&t.path().join("reg"), &storage, None, &Auth::None);
        let (l, m) = three_layer_image(&t.path().join("l"), "tokened");
        push_layout_image(&plain.addr, "team/tokened", Some("1"), &l, &m);
    }
    let ts = TokenServer::start(t.path(), "bob", "hunter2");
    let reg = Registry::start(&t.path().join("reg"), &storage, None, &Auth::Token { realm: ts.realm.clone(), bundle: ts.bundle.clone() });
    let image = format!("{}/team/tokened:1", reg.addr);
    let root = Root::new();
    let bad = docker_config(&t.path().join("bad"), &reg.addr, "bob", "nope");
    let o = pull(&root, &["--docker-config", &bad.display().to_string(), &image]);
    o.assert_code(1);
    assert!(o.stderr.contains("token server refused"), "{}", o.dump());
    assert!(ts.log().iter().any(|l| l.contains("scope=repository") && l.ends_with("refused")), "{:?}", ts.log());
    assert_nothing_half_written(&root);
    let good = docker_config(&t.path().join("good"), &reg.addr, "bob", "hunter2");
    let o = pull(&root, &["--docker-config", &good.display().to_string(), &image]);
    o.assert_code(0);
    assert!(ts.log().iter().any(|l| l.ends_with("granted")), "{:?}", ts.log());
    assert_eq!(reg.blob_gets(), 4, "{}", reg.log_text());
}

/// Unmounts the test's tmpfs when the test ends, passed or not.
struct Tmpfs(PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_fails_the_pull_with_nothing_half_written() {
    need_registry!();
    let t = tempdir();
    let reg = Registry::start(&t.path().join("reg"), &t.path().join("storage"), None, &Auth::None);
    // A 3 MB layer, stored uncompressed, for a store on a 1 MB tmpfs.
    let mut x: u32 = 12345;
    let big: String = (0..3 << 20).map(|_| {
        x = x.wrapping_mul(1103515245).wrapping_add(12345);
        (b'a' + (x >> 16) as u8 % 26) as char
    }).collect();
    let mut l = Layout::new(&t.path().join("layout"));
    let (m, _) = l.image(&[(oci::tar(&[E::File("big.txt", &big, 0o644)]), C::None)], None, &["true"]);
    push_layout_image(&reg.addr, "test/big", Some("1"), &l, &m);
    let small = t.path().join("small");
    fs::create_dir(&small).unwrap();
    let st = std::process::Command::new("mount").args(["-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs"]).arg(&small).status().unwrap();
    assert!(st.success(), "mount a tmpfs");
    let _guard = Tmpfs(small.clone());
    let mut c = std::process::Command::new(HOSTPROC);
    c.arg("--root").arg(&small).args(["image", "pull", &format!("{}/test/big:1", reg.addr)]);
    let o = execute(c);
    o.assert_code(1);
    assert!(o.stderr.contains("No space left on device") && o.stderr.contains("cannot write"), "{}", o.dump());
    assert_store_has_nothing_half_written(&small.join("images"), "");
}
