//! `docker-archive:` sources (docker save tars built here: layer tars, a config, a
//! manifest.json with RepoTags, a duplicate layer as a symlink) and `hostproc image prune`.

mod common;
#[path = "common/oci.rs"]
mod oci;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use oci::{Compression as C, Layout, E};
use serde_json::json;

fn add(b: &mut tar::Builder<fs::File>, path: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, path, data).unwrap();
}

/// A `docker save` archive of one image with two layers and a third that repeats the first
/// through a symlink, as docker writes duplicates.
fn docker_save(file: &Path, tags: &[&str], marker: &str) {
    let l1 = oci::tar(&[E::Dir("etc", 0o755), E::File("etc/marker", marker, 0o644)]);
    let l2 = oci::tar(&[E::File("hello.txt", "hello from docker save\n", 0o644)]);
    let config = json!({"architecture": oci::host_arch(), "os": "linux", "config": {"Cmd": ["/bin/true"], "Env": ["FROM_DOCKER=1"]},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", oci::sha(&l1)), format!("sha256:{}", oci::sha(&l2)), format!("sha256:{}", oci::sha(&l1))]}});
    let cfg = config.to_string();
    let ch = oci::sha(cfg.as_bytes());
    let mut b = tar::Builder::new(fs::File::create(file).unwrap());
    add(&mut b, "aaaa/layer.tar", &l1);
    add(&mut b, "bbbb/layer.tar", &l2);
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "cccc/layer.tar", "../aaaa/layer.tar").unwrap();
    add(&mut b, &format!("{ch}.json"), cfg.as_bytes());
    let m = json!([{"Config": format!("{ch}.json"), "RepoTags": tags, "Layers": ["aaaa/layer.tar", "bbbb/layer.tar", "cccc/layer.tar"]}]);
    add(&mut b, "manifest.json", m.to_string().as_bytes());
    b.finish().unwrap();
}

fn rootfs_of(root: &Root, name: &str) -> PathBuf {
    let v: serde_json::Value = serde_json::from_str(&hostproc(root, &["image", "inspect", name]).assert_code(0).stdout).unwrap();
    PathBuf::from(v["rootfs"].as_str().unwrap())
}

#[test]
fn a_docker_save_archive_imports_under_its_repo_tag_or_a_given_name() {
    let t = tempdir();
    let root = Root::new();
    let ar = t.path().join("saved.tar");
    docker_save(&ar, &["example.com/saved:1"], "one");
    let o = hostproc(&root, &["image", "import", &format!("docker-archive:{}", ar.display())]);
    o.assert_code(0);
    assert!(o.stdout.starts_with("example.com/saved:1 sha256:"), "{}", o.dump());
    let r = rootfs_of(&root, "example.com/saved:1");
    assert_eq!(fs::read_to_string(r.join("etc/marker")).unwrap(), "one");
    assert_eq!(fs::read_to_string(r.join("hello.txt")).unwrap(), "hello from docker save\n");
    // By its RepoTag in the reference, stored under another name.
    let o = hostproc(&root, &["image", "import", &format!("docker-archive:{}:example.com/saved:1", ar.display()), "mine:2"]);
    o.assert_code(0);
    assert!(o.stdout.starts_with("docker.io/library/mine:2 sha256:"), "{}", o.dump());
    // A name the archive does not have, and no manifest.json: refused, nothing named.
    let o = hostproc(&root, &["image", "import", &format!("docker-archive:{}:other:1", ar.display()), "x:1"]);
    o.assert_code(1);
    assert!(o.stderr.contains("name one as docker-archive:FILE:NAME") && o.stderr.contains("example.com/saved:1"), "{}", o.dump());
    let bad = t.path().join("bad.tar");
    let mut b = tar::Builder::new(fs::File::create(&bad).unwrap());
    add(&mut b, "x/layer.tar", b"junk");
    b.finish().unwrap();
    let o = hostproc(&root, &["image", "import", &format!("docker-archive:{}", bad.display()), "y:1"]);
    o.assert_code(1);
    assert!(o.stderr.contains("no manifest.json"), "{}", o.dump());
    assert_eq!(hostproc(&root, &["image", "ls", "-q"]).assert_code(0).stdout_lines().len(), 2);
}

#[test]
fn prune_removes_what_no_name_uses_and_keeps_the_rest() {
    let t = tempdir();
    let root = Root::new();
    let ar = t.path().join("saved.tar");
    docker_save(&ar, &["example.com/kept:1"], "kept");
    hostproc(&root, &["image", "import", &format!("docker-archive:{}", ar.display())]).assert_code(0);
    // An oci: reference used by a pod is unpacked without a name.
    let mut l = Layout::new(&t.path().join("layout"));
    l.image(&[(oci::tar(&[E::File("unnamed.txt", "x", 0o644)]), C::Gzip)], None, &[]);
    let img = hostproc_image::Store::open(root.path()).unwrap().resolve(&format!("oci:{}", l.dir.display()), hostproc_image::PullPolicy::IfNotPresent).unwrap();
    assert!(img.rootfs.is_dir());
    let blobs = || fs::read_dir(root.path().join("images/blobs/sha256")).unwrap().count();
    let before = blobs();
    let o = hostproc(&root, &["image", "prune"]);
    o.assert_code(0);
    assert!(o.stdout.contains("removed 1 unpacked trees and 3 blobs"), "{}", o.dump());
    assert!(!img.rootfs.exists());
    assert_eq!(blobs(), before - 3);
    assert_eq!(fs::read_to_string(rootfs_of(&root, "example.com/kept:1").join("etc/marker")).unwrap(), "kept");
    // Once the name goes, the blobs go with it (rm), and a prune finds nothing more.
    hostproc(&root, &["image", "rm", "example.com/kept:1"]).assert_code(0);
    assert_eq!(blobs(), 0);
    let o = hostproc(&root, &["image", "prune"]);
    o.assert_code(0);
    assert!(o.stdout.contains("removed 0 unpacked trees and 0 blobs"), "{}", o.dump());
}
