//! `hostproc image`: OCI layouts and archives built here (tar, gzip, zstd, sha256 in
//! Rust, or the containerd test's make-image.sh) imported into the local store with the
//! real binary; whiteouts and opaque directories; hostile layers refused with nothing
//! written outside; corrupt blobs refused; container rootfs views (overlayfs, a copy).

mod common;
#[path = "common/oci.rs"]
mod oci;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::*;
use hostproc_image::{PullPolicy, Store};
use oci::{Compression as C, Layout, E};

fn store_dir(root: &Root) -> PathBuf {
    root.path().join("images")
}

fn names(root: &Root) -> Vec<String> {
    hostproc(root, &["image", "ls", "-q"]).assert_code(0).stdout_lines()
}

/// The store holds no rootfs, nothing in tmp, no name: a refused import left nothing.
fn assert_store_clean(root: &Root) {
    let s = store_dir(root);
    for d in ["rootfs", "tmp"] {
        let n = fs::read_dir(s.join(d)).map(|r| r.count()).unwrap_or(0);
        assert_eq!(n, 0, "{d} is not empty: {:?}", root.entries());
    }
    assert!(names(root).is_empty());
}

fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
        for e in fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(base).unwrap().display().to_string();
            let ft = e.file_type().unwrap();
            out.push(if ft.is_dir() { format!("{rel}/") } else if ft.is_symlink() { format!("{rel}@") } else { rel });
            if ft.is_dir() {
                walk(base, &p, out);
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn an_archive_from_make_image_sh_imports_under_its_annotated_name() {
    let root = Root::new();
    let t = tempdir();
    let ar = t.path().join("img.tar");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/containerd/make-image.sh");
    let out = execute({
        let mut c = std::process::Command::new("sh");
        c.arg(script).arg(&ar).arg("docker.io/library/hello:1");
        c
    });
    out.assert_code(0);
    let o = hostproc(&root, &["image", "import", &format!("oci-archive:{}", ar.display())]);
    o.assert_code(0);
    assert!(o.stdout.starts_with("docker.io/library/hello:1 sha256:"), "{}", o.dump());
    assert_eq!(names(&root), ["docker.io/library/hello:1"]);
    // ls in JSON and inspect agree; the short name finds it.
    let ls: serde_json::Value = serde_json::from_str(&hostproc(&root, &["image", "ls", "--format", "json"]).assert_code(0).stdout).unwrap();
    let insp: serde_json::Value = serde_json::from_str(&hostproc(&root, &["image", "inspect", "hello:1"]).assert_code(0).stdout).unwrap();
    assert_eq!(ls[0]["digest"], insp["digest"]);
    assert_eq!(insp["config"]["config"]["Env"][1], "FROM_IMAGE=yes");
    let rootfs = PathBuf::from(insp["rootfs"].as_str().unwrap());
    assert_eq!(fs::read_to_string(rootfs.join("hello.txt")).unwrap(), "file from the image\n");
    assert_eq!(fs::metadata(rootfs.join("bin/hpc-tool")).unwrap().mode() & 0o7777, 0o755);
    // By digest: the repository and the manifest's digest.
    let digest = insp["digest"].as_str().unwrap();
    hostproc(&root, &["image", "inspect", &format!("hello@{digest}")]).assert_code(0);
    hostproc(&root, &["image", "inspect", &format!("other@{digest}")]).assert_error();
    let o = hostproc(&root, &["image", "import", &format!("oci-archive:{}", ar.display()), &format!("x@{digest}")]);
    o.assert_error();
    assert!(o.stderr.contains("takes a tag, not a digest"), "{}", o.dump());
    // Imported again: same digest, nothing new.
    hostproc(&root, &["image", "import", &format!("oci-archive:{}", ar.display()), "other/name:2"]).assert_code(0);
    assert_eq!(names(&root), ["docker.io/library/hello:1", "docker.io/other/name:2"]);
    // rm: the name goes; the shared rootfs stays while another name uses it.
    hostproc(&root, &["image", "rm", "hello:1"]).assert_code(0);
    assert!(rootfs.is_dir());
    hostproc(&root, &["image", "rm", "docker.io/other/name:2"]).assert_code(0);
    assert!(!rootfs.exists());
    assert_eq!(fs::read_dir(store_dir(&root).join("blobs/sha256")).unwrap().count(), 0);
    let o = hostproc(&root, &["image", "rm", "hello:1"]);
    o.assert_error();
    assert!(o.stderr.contains("not in the local store"), "{}", o.dump());
}

/// Two layers (gzip, then zstd): whiteouts, an opaque directory, links, modes, owners, times.
fn two_layer_image(dir: &Path) -> Layout {
    let mut l = Layout::new(dir);
    let lower = oci::tar(&[
        E::Dir("a", 0o755),
        E::File("a/keep", "keep\n", 0o644),
        E::File("a/gone", "gone\n", 0o644),
        E::Dir("o", 0o755),
        E::File("o/old1", "old\n", 0o644),
        E::Dir("o/sub", 0o700),
        E::File("o/sub/old2", "old\n", 0o644),
        E::File("top-gone", "x\n", 0o644),
        E::Dir("d", 0o755),
        E::File("d/x", "x\n", 0o644),
        E::Owned("suid", "#!/bin/sh\n", 0o4755, 1234, 5678, 1_500_000_000),
        E::Link("hl", "a/keep"),
        E::Symlink("sym", "a/keep"),
        E::Symlink("abs", "/etc/passwd"),
    ]);
    let upper = oci::tar(&[
        E::File("a/.wh.gone", "", 0o644),
        E::Dir("o", 0o711),
        E::File("o/.wh..wh..opq", "", 0o644),
        E::File("o/new", "new\n", 0o600),
        E::File(".wh.top-gone", "", 0o644),
        E::File(".wh.d", "", 0o644),
        E::File("deep/er/file", "made with its parents\n", 0o644),
        E::Xattr("xa", "x\n", "user.hostproc", "from the image"),
    ]);
    l.image(&[(lower, C::Gzip), (upper, C::Zstd)], Some("example.com/layers:v1"), &["echo hi"]);
    l
}

#[test]
fn whiteouts_and_opaque_directories_give_the_right_tree() {
    let root = Root::new();
    let t = tempdir();
    let l = two_layer_image(&t.path().join("layout"));
    let o = hostproc(&root, &["image", "import", &format!("oci:{}", l.dir.display())]);
    o.assert_code(0);
    let insp: serde_json::Value = serde_json::from_str(&hostproc(&root, &["image", "inspect", "example.com/layers:v1"]).assert_code(0).stdout).unwrap();
    let r = PathBuf::from(insp["rootfs"].as_str().unwrap());
    assert_eq!(
        tree(&r),
        ["a/", "a/keep", "abs@", "deep/", "deep/er/", "deep/er/file", "hl", "o/", "o/new", "suid", "sym@", "xa"],
        "{}",
        r.display()
    );
    assert_eq!(fs::metadata(r.join("o")).unwrap().mode() & 0o7777, 0o711);
    assert_eq!(fs::metadata(r.join("o/new")).unwrap().mode() & 0o7777, 0o600);
    let s = fs::metadata(r.join("suid")).unwrap();
    assert_eq!((s.mode() & 0o7777, s.uid(), s.gid(), s.mtime()), (0o4755, 1234, 5678, 1_500_000_000));
    assert_eq!(fs::metadata(r.join("hl")).unwrap().ino(), fs::metadata(r.join("a/keep")).unwrap().ino());
    assert_eq!(fs::read_link(r.join("abs")).unwrap(), Path::new("/etc/passwd"));
    assert_eq!(fs::read_to_string(r.join("sym")).unwrap(), "keep\n");
    let mut buf = vec![0u8; 64];
    let n = rustix::fs::getxattr(r.join("xa"), "user.hostproc", &mut buf[..]).expect("the xattr was set");
    assert_eq!(&buf[..n], b"from the image");
    assert_eq!(fs::metadata(r.join("o")).unwrap().mtime(), 1_600_000_000, "directory times are set after their entries");
}

#[test]
fn a_layout_with_several_images_needs_a_tag() {
    let root = Root::new();
    let t = tempdir();
    let mut l = Layout::new(&t.path().join("layout"));
    l.image(&[(oci::tar(&[E::File("which", "a\n", 0o644)]), C::None)], Some("a"), &[]);
    l.image(&[(oci::tar(&[E::File("which", "b\n", 0o644)]), C::Gzip)], Some("b"), &[]);
    let src = format!("oci:{}", l.dir.display());
    let o = hostproc(&root, &["image", "import", &src, "x"]);
    o.assert_error();
    assert!(o.stderr.contains("holds 2 images (named: a, b): name one as SOURCE:TAG"), "{}", o.dump());
    let o = hostproc(&root, &["image", "import", &format!("{src}:c"), "x"]);
    o.assert_error();
    assert!(o.stderr.contains("no image is named \"c\""), "{}", o.dump());
    // A bare tag is no name to store it under.
    let o = hostproc(&root, &["image", "import", &format!("{src}:b")]);
    o.assert_error();
    assert!(o.stderr.contains("give the name to store it under"), "{}", o.dump());
    hostproc(&root, &["image", "import", &format!("{src}:b"), "x"]).assert_code(0);
    let s = Store::open(root.path()).unwrap();
    let img = s.resolve("x", PullPolicy::IfNotPresent).unwrap();
    assert_eq!(fs::read_to_string(img.rootfs.join("which")).unwrap(), "b\n");
    assert_eq!(img.config.argv(None, Some(&["true".to_owned()])), ["/bin/sh", "-c", "true"]);
    assert_eq!((img.config.working_dir.as_deref(), img.config.user.as_deref()), (Some("/work"), Some("1000")));
}

/// Imports a one-layer image made of `entries` and expects it refused with `want`.
fn refused(root: &Root, t: &Path, tag: &str, entries: &[E], want: &str) {
    let mut l = Layout::new(&t.join(tag));
    l.image(&[(oci::tar(entries), C::Gzip)], None, &[]);
    let ar = t.join(format!("{tag}.tar"));
    l.archive(&ar);
    let o = hostproc(root, &["image", "import", &format!("oci-archive:{}", ar.display()), tag]);
    o.assert_error();
    assert!(o.stderr.contains(want), "{tag}: {}", o.dump());
    assert_store_clean(root);
}

#[test]
fn hostile_layers_are_refused_and_nothing_is_written_outside() {
    let root = Root::new();
    let t = tempdir();
    let outside = t.path().join("outside");
    fs::create_dir(&outside).unwrap();
    let out_rel = outside.strip_prefix("/").unwrap().display().to_string();
    let passwd_links = fs::metadata("/etc/passwd").unwrap().nlink();

    // Hostile paths aim only at `outside` (a regression would write there, not elsewhere).
    let up = format!("../../../../../../../../../../{out_rel}/evil-dotdot");
    refused(&root, t.path(), "dotdot", &[E::RawFile(&up, "x")], "a `..` component");
    refused(&root, t.path(), "inner-dotdot", &[E::Dir("a", 0o755), E::RawFile("a/../../evil", "x")], "a `..` component");
    let abs = format!("{}/evil-abs", outside.display());
    refused(&root, t.path(), "absolute", &[E::RawFile(&abs, "x")], "an absolute path");
    let through = format!("r/{out_rel}/evil-through-root");
    refused(&root, t.path(), "symlink-root", &[E::RawSymlink("r", "/"), E::RawFile(&through, "x")], "resolves outside the image");
    let through = format!("up/{out_rel}/evil-up");
    refused(&root, t.path(), "symlink-up", &[E::RawSymlink("up", "../../../../../../../../.."), E::RawFile(&through, "x")], "resolves outside the image");
    let chain = format!("b/{out_rel}/evil-chain");
    refused(&root, t.path(), "symlink-chain", &[E::RawSymlink("a", "/"), E::RawSymlink("b", "a"), E::RawFile(&chain, "x")], "resolves outside the image");
    refused(&root, t.path(), "hardlink-abs", &[E::RawLink("pw", "/etc/passwd")], "an absolute path");
    refused(&root, t.path(), "hardlink-dotdot", &[E::RawLink("pw", "../../../../../../../etc/passwd")], "a `..` component");
    refused(&root, t.path(), "hardlink-via-symlink", &[E::RawSymlink("etc", "/etc"), E::RawLink("pw", "etc/passwd")], "resolves outside the image");
    refused(&root, t.path(), "whiteout-dotdot", &[E::Dir("a", 0o755), E::RawFile("a/.wh..", "")], "a whiteout must name an entry");
    // A symlink made in one layer, a file through it in the next.
    let mut l = Layout::new(&t.path().join("two"));
    let through = format!("r/{out_rel}/evil-next-layer");
    l.image(&[(oci::tar(&[E::RawSymlink("r", "/")]), C::None), (oci::tar(&[E::RawFile(&through, "x")]), C::Zstd)], None, &[]);
    let o = hostproc(&root, &["image", "import", &format!("oci:{}", l.dir.display()), "two"]);
    o.assert_error();
    assert!(o.stderr.contains("resolves outside the image"), "{}", o.dump());
    assert_store_clean(&root);

    assert_eq!(fs::read_dir(&outside).unwrap().count(), 0, "written outside: {:?}", tree(&outside));
    assert!(!t.path().join("evil").exists() && !store_dir(&root).join("evil").exists());
    assert_eq!(fs::metadata("/etc/passwd").unwrap().nlink(), passwd_links);
}

#[test]
fn a_corrupt_blob_is_refused_and_not_kept() {
    let root = Root::new();
    let t = tempdir();
    let mut l = Layout::new(&t.path().join("layout"));
    let (_, layers) = l.image(&[(oci::tar(&[E::File("f", "data\n", 0o644)]), C::Gzip)], Some("c:1"), &[]);
    let p = l.blob_path(&layers[0]);
    let mut data = fs::read(&p).unwrap();
    let n = data.len();
    data[n - 5] ^= 0xff;
    fs::write(&p, &data).unwrap();
    let o = hostproc(&root, &["image", "import", &format!("oci:{}", l.dir.display())]);
    o.assert_error();
    assert!(o.stderr.contains(&format!("blob sha256:{}", layers[0])) && o.stderr.contains("the source is corrupt"), "{}", o.dump());
    assert_store_clean(&root);
    assert!(!store_dir(&root).join("blobs/sha256").join(&layers[0]).exists());
    // Truncated: the size is wrong.
    fs::write(&p, &data[..n - 10]).unwrap();
    let o = hostproc(&root, &["image", "import", &format!("oci:{}", l.dir.display())]);
    o.assert_error();
    assert!(o.stderr.contains(&format!("has {} bytes where its descriptor says {n}", n - 10)), "{}", o.dump());
    // In an archive the blob's name is its digest: checked while it is read.
    let ar = t.path().join("c.tar");
    l.archive(&ar);
    let o = hostproc(&root, &["image", "import", &format!("oci-archive:{}", ar.display())]);
    o.assert_error();
    assert!(o.stderr.contains("the archive is corrupt"), "{}", o.dump());
    assert_store_clean(&root);
}

#[test]
fn pull_policies_on_names_not_in_the_store() {
    let root = Root::new();
    let s = Store::open(root.path()).unwrap();
    // IfNotPresent and Always pull (tests/registry.rs); here from a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let e = s.resolve(&format!("127.0.0.1:{port}/nothere:1"), PullPolicy::IfNotPresent).unwrap_err().to_string();
    assert!(e.contains(&format!("cannot reach registry 127.0.0.1:{port}")), "{e}");
    let e = s.resolve("nothere:1", PullPolicy::Never).unwrap_err().to_string();
    assert!(e.contains("imagePullPolicy is Never: pull it with `hostproc image pull docker.io/library/nothere:1`"), "{e}");
    let e = s.resolve(&format!("127.0.0.1:{port}/nothere"), PullPolicy::Always).unwrap_err().to_string();
    assert!(e.contains("cannot reach registry"), "{e}");
    assert_eq!(PullPolicy::default_for("nothere"), PullPolicy::Always);
    assert_eq!(PullPolicy::default_for("x:1"), PullPolicy::IfNotPresent);
    // Nothing was made for a refused name.
    assert!(!store_dir(&root).exists());
    let e = s.resolve("dir:/nonexistent-dir", PullPolicy::IfNotPresent).unwrap_err().to_string();
    assert!(e.contains("is not a directory"), "{e}");
    // dir: is the directory itself, made absolute; its view is the directory (nothing made).
    let t = tempdir();
    std::env::set_current_dir(t.path()).unwrap();
    fs::create_dir(t.path().join("rel")).unwrap();
    let img = s.resolve("dir:rel", PullPolicy::Never).unwrap();
    assert_eq!(img.rootfs, t.path().join("rel"));
    let v = img.container_rootfs(t.path()).unwrap();
    assert_eq!(v.path(), t.path().join("rel"));
    v.release().unwrap();
    assert!(t.path().join("rel").is_dir());
    assert_eq!(img.config, hostproc_image::ImageConfig::default());
}

/// Releases a view when the test ends, passed or not: a failed assertion leaves no mount.
struct Guard(PathBuf);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = hostproc_image::ContainerRootfs::release_at(&self.0);
    }
}

fn mounted(p: &Path) -> bool {
    let p = p.display().to_string();
    fs::read_to_string("/proc/self/mountinfo").unwrap().lines().any(|l| l.split(' ').nth(4) == Some(&p))
}

#[test]
fn a_containers_overlay_takes_its_writes_and_the_image_stays_unchanged() {
    let root = Root::new();
    let t = tempdir();
    let mut l = Layout::new(&t.path().join("layout"));
    let root_entry = oci::tar(&[E::Dir(".", 0o750)]);
    l.image(&[(root_entry, C::None), (oci::tar(&[E::File("hello.txt", "from the image\n", 0o644), E::File("gone.txt", "x\n", 0o644)]), C::Gzip)], Some("ov:1"), &[]);
    hostproc(&root, &["image", "import", &format!("oci:{}", l.dir.display())]).assert_code(0);
    let img = Store::open(root.path()).unwrap().resolve("ov:1", PullPolicy::Always).unwrap();
    let before = tree(&img.rootfs);

    // A real container runs on the view and writes to it.
    let mut b = Bundle::new();
    let view_dir = t.path().join("ctr");
    fs::create_dir(&view_dir).unwrap();
    let _guard = Guard(view_dir.clone());
    let v = img.container_rootfs(&view_dir).unwrap();
    assert!(v.is_overlay(), "overlayfs is allowed on this host");
    assert!(mounted(v.path()));
    // The view's root has the image's root's mode, not the upper directory's.
    assert_eq!(fs::metadata(v.path()).unwrap().mode() & 0o7777, 0o750);
    assert_eq!(fs::metadata(&img.rootfs).unwrap().mode() & 0o7777, 0o750);
    b.set(&["root", "path"], serde_json::json!(v.path()));
    b.sh("cd \"$CONTAINER_SANDBOX_MOUNT_POINT\" && cat hello.txt && echo new > new.txt && echo changed >> hello.txt && rm gone.txt");
    let id = unique_id("ov");
    let o = run(&root, &b, &id);
    o.assert_code(0);
    assert!(o.stdout.contains("from the image"), "{}", o.dump());
    assert_eq!(fs::read_to_string(view_dir.join("rootfs-upper/new.txt")).unwrap(), "new\n");
    assert_eq!(fs::read_to_string(v.path().join("hello.txt")).unwrap(), "from the image\nchanged\n");
    assert_eq!(tree(&img.rootfs), before);
    assert_eq!(fs::read_to_string(img.rootfs.join("hello.txt")).unwrap(), "from the image\n");

    // The image cannot be removed from under it.
    let o = hostproc(&root, &["image", "rm", "ov:1"]);
    o.assert_error();
    assert!(o.stderr.contains("is in use by a container's rootfs"), "{}", o.dump());

    // Released from the record alone (as after a crash), twice.
    hostproc_image::ContainerRootfs::release_at(&view_dir).unwrap();
    assert!(!mounted(v.path()));
    assert_eq!(fs::read_dir(&view_dir).unwrap().count(), 0, "{:?}", tree(&view_dir));
    v.release().unwrap();
    assert_eq!(tree(&img.rootfs), before);
    hostproc(&root, &["image", "rm", "ov:1"]).assert_code(0);
}

#[test]
fn where_overlayfs_cannot_be_used_the_container_gets_a_copy() {
    let root = Root::new();
    let t = tempdir();
    let mut l = Layout::new(&t.path().join("layout"));
    l.image(&[(oci::tar(&[E::Dir("d", 0o750), E::Owned("d/f", "f\n", 0o640, 7, 8, 1_400_000_000), E::Symlink("s", "/etc/hostname")]), C::Gzip)], Some("cp:1"), &[]);
    hostproc(&root, &["image", "import", &format!("oci:{}", l.dir.display())]).assert_code(0);
    let img = Store::open(root.path()).unwrap().resolve("docker.io/library/cp:1", PullPolicy::Never).unwrap();
    // overlayfs options cannot name a directory with a ':' in it.
    let view_dir = t.path().join("ctr:copy");
    fs::create_dir(&view_dir).unwrap();
    let _guard = Guard(view_dir.clone());
    let v = img.container_rootfs(&view_dir).unwrap();
    assert!(!v.is_overlay());
    assert_eq!(tree(v.path()), tree(&img.rootfs));
    let m = fs::metadata(v.path().join("d/f")).unwrap();
    assert_eq!((m.mode() & 0o7777, m.uid(), m.gid(), m.mtime()), (0o640, 7, 8, 1_400_000_000));
    assert_eq!(fs::metadata(v.path().join("d")).unwrap().permissions().mode() & 0o7777, 0o750);
    fs::write(v.path().join("d/f"), "changed\n").unwrap();
    assert_eq!(fs::read_to_string(img.rootfs.join("d/f")).unwrap(), "f\n");
    // A host-mode volume still bound under it (a crash before delete): release refuses
    // rather than delete the host's files through the mount.
    let host_dir = t.path().join("host-volume");
    fs::create_dir(&host_dir).unwrap();
    fs::write(host_dir.join("precious"), "keep\n").unwrap();
    let dest = v.path().join("d");
    let cmd = |args: &[&Path]| {
        let mut c = std::process::Command::new(args[0]);
        c.args(&args[1..]);
        execute(c)
    };
    cmd(&[Path::new("mount"), Path::new("--bind"), &host_dir, &dest]).assert_code(0);
    let e = v.release().unwrap_err().to_string();
    cmd(&[Path::new("umount"), &dest]).assert_code(0);
    assert!(e.contains("is still mounted beneath it"), "{e}");
    assert_eq!(fs::read_to_string(host_dir.join("precious")).unwrap(), "keep\n");
    v.release().unwrap();
    v.release().unwrap();
    assert_eq!(fs::read_dir(&view_dir).unwrap().count(), 0);
}

#[test]
fn concurrent_imports_keep_every_name_and_one_copy() {
    let root = Root::new();
    let t = tempdir();
    let mut l = Layout::new(&t.path().join("layout"));
    let files: Vec<String> = (0..50).map(|i| format!("f{i}")).collect();
    let entries: Vec<E> = files.iter().map(|f| E::File(f, "some content\n", 0o644)).collect();
    l.image(&[(oci::tar(&entries), C::Gzip)], None, &[]);
    let ar = t.path().join("c.tar");
    l.archive(&ar);
    let src = format!("oci-archive:{}", ar.display());
    let running: Vec<_> = (0..4)
        .map(|i| {
            let mut c = command(&root);
            c.args(["image", "import", &src, &format!("n{i}")]);
            spawn(c)
        })
        .collect();
    for r in running {
        r.finish(TIMEOUT).assert_code(0);
    }
    let mut got = names(&root);
    got.sort();
    assert_eq!(got, (0..4).map(|i| format!("docker.io/library/n{i}:latest")).collect::<Vec<_>>());
    assert_eq!(fs::read_dir(store_dir(&root).join("rootfs")).unwrap().count(), 1);
    assert_eq!(fs::read_dir(store_dir(&root).join("tmp")).unwrap().count(), 0);
}

#[test]
fn an_import_killed_anywhere_leaves_a_usable_store() {
    let root = Root::new();
    let t = tempdir();
    let mut l = Layout::new(&t.path().join("layout"));
    l.image(&[(oci::tar(&[E::File("a", "a\n", 0o644)]), C::Gzip), (oci::tar(&[E::File("b", "b\n", 0o644)]), C::Zstd)], Some("crash:1"), &[]);
    let ar = t.path().join("c.tar");
    l.archive(&ar);
    let src = format!("oci-archive:{}", ar.display());
    for point in hostproc_image::CRASH_POINTS {
        let mut c = command(&root);
        c.args(["image", "import", &src]).env("HOSTPROC_CRASH_AT", point);
        let o = execute(c);
        assert_eq!(o.signal, Some(9), "{point}: not killed there:\n{}", o.dump());
        assert!(names(&root).is_empty(), "{point}");
        // The next writer finds the store usable and clears what the crash left.
        hostproc(&root, &["image", "import", &src]).assert_code(0);
        assert_eq!(names(&root), ["docker.io/library/crash:1"], "{point}");
        assert_eq!(fs::read_dir(store_dir(&root).join("tmp")).unwrap().count(), 0, "{point}");
        let insp: serde_json::Value = serde_json::from_str(&hostproc(&root, &["image", "inspect", "crash:1"]).assert_code(0).stdout).unwrap();
        let r = PathBuf::from(insp["rootfs"].as_str().unwrap());
        assert_eq!(tree(&r), ["a", "b"], "{point}");
        hostproc(&root, &["image", "rm", "crash:1"]).assert_code(0);
        assert_eq!(fs::read_dir(store_dir(&root).join("rootfs")).unwrap().count(), 0, "{point}");
    }
}
