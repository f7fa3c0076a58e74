//! Mount propagation: a volume's `rshared` / `rslave` / ... option and
//! `linux.rootfsPropagation`, in bind mode and in host mode.
//!
//! `/` is private on the test host and must stay so: every test makes its own tmpfs mounts,
//! marks them shared, and unmounts them (and all beneath) when it ends, failed or not.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::json;

/// A tmpfs the test mounted and made shared: lazily unmounted, with all beneath, on drop.
struct SharedTmpfs(PathBuf);

impl SharedTmpfs {
    fn new(path: PathBuf) -> SharedTmpfs {
        fs::create_dir_all(&path).unwrap();
        host_mount(&path);
        let g = SharedTmpfs(path);
        sh(&format!("mount --make-shared '{}'", g.0.display()));
        fs::set_permissions(&g.0, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        g
    }
}

impl Drop for SharedTmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn sh(cmd: &str) {
    let st = Command::new("sh").arg("-c").arg(cmd).status().unwrap();
    assert!(st.success(), "{cmd} failed");
}

/// A tmpfs mounted by the test on the host at `path` (made if missing), holding a file `f`
/// that says where it was made.
fn host_mount(path: &Path) {
    fs::create_dir_all(path).unwrap();
    sh(&format!("mount -t tmpfs hpt-prop '{}'", path.display()));
    fs::write(path.join("f"), "host\n").unwrap();
}

/// True when `path` is a mount point in the test's (the host's) mount namespace.
fn is_mount(path: &Path) -> bool {
    let p = path.to_str().unwrap();
    fs::read_to_string("/proc/self/mountinfo").unwrap().lines().any(|l| l.split(' ').nth(4) == Some(p))
}

/// The payload's part of a mount made in the container: a tmpfs at `dir` with a file `f`.
fn sh_mount(dir: &str) -> String {
    format!("mkdir -p {dir} && mount -t tmpfs hpt-payload {dir} && echo payload > {dir}/f; ")
}

/// What containerd sets for `mountPropagation: Bidirectional`: the payload's mounts under the
/// volume reach its source on the host while it runs (and its unmounts too); those it leaves
/// stay on the host after the end, as Kubernetes leaves them to the payload. The rootfs and
/// the volume never show on the host, although their parents are shared mounts there.
#[test]
fn bind_mode_rshared_volume_is_bidirectional() {
    let root = Root::new();
    let base = tempdir();
    let t = SharedTmpfs::new(base.path().join("t"));
    let s = SharedTmpfs::new(base.path().join("s"));
    let src = t.0.join("src");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("from-source"), "x\n").unwrap();
    let dest = s.0.join("vol");
    let location = s.0.join("sandbox");
    let go = base.path().join("go");
    let mut b = Bundle::new();
    b.bind(&src, dest.to_str().unwrap(), &["rshared"])
        .set(&["linux", "rootfsPropagation"], json!("rshared"))
        .annotation("microsoft.com/hostprocess-rootfs-location", location.to_str().unwrap())
        .sh(&format!(
            "{keep}{gone}echo root=$(findmnt -n -o PROPAGATION /); echo ready; {w}umount {d}/gone; exit 0",
            keep = sh_mount(&format!("{}/keep", dest.display())),
            gone = sh_mount(&format!("{}/gone", dest.display())),
            d = dest.display(),
            w = sh_wait_for(&go, 30)
        ));
    let id = unique_id("rshared");
    let mut r = spawn(run_command(&root, &b, &id));
    r.expect_stdout("ready", Duration::from_secs(30));
    let during = [src.join("keep"), src.join("gone")].map(|p| is_mount(&p) && fs::read_to_string(p.join("f")).is_ok_and(|c| c == "payload\n"));
    let volume_on_host = is_mount(&dest) || dest.join("from-source").exists();
    let sandbox_on_host = is_mount(&location) || location.join(b.marker()).exists();
    fs::write(&go, "").unwrap();
    let out = r.finish(TIMEOUT);
    out.assert_code(0);
    assert_eq!(during, [true, true], "the payload's mounts under the rshared volume did not reach its source on the host:\n{}", out.dump());
    assert!(!volume_on_host, "the volume's bind appeared on the host at {}", dest.display());
    assert!(!sandbox_on_host, "the rootfs appeared on the host at {}", location.display());
    assert_eq!(out.must_value("root"), "shared", "linux.rootfsPropagation rshared: / inside");
    assert!(!is_mount(&src.join("gone")), "the payload's unmount did not reach the host");
    assert!(is_mount(&src.join("keep")), "the payload's mount left under the volume should stay on the host");
    assert!(!out.stderr.contains("not a shared mount"), "a warning for a shared source:\n{}", out.dump());
    sh(&format!("umount '{}'", src.join("keep").display()));
    cleanup_check(&root, &b, &id, &[&src, &dest, &location]);
}

/// HostToContainer with a private root (`rslave` volume, rootfsPropagation `rprivate`): a
/// mount made on the host under the volume's source after the start is seen inside, one
/// made elsewhere under a shared host mount is not; the payload's mount stays inside.
#[test]
fn bind_mode_rslave_volume_with_rprivate_root() {
    let root = Root::new();
    let base = tempdir();
    let t = SharedTmpfs::new(base.path().join("t"));
    let src = t.0.join("src");
    let other = t.0.join("other");
    fs::create_dir(&src).unwrap();
    fs::create_dir(&other).unwrap();
    let dest = base.path().join("vol");
    let (go, go2) = (base.path().join("go"), base.path().join("go2"));
    let mut b = Bundle::new();
    b.bind(&src, dest.to_str().unwrap(), &["rslave"]).set(&["linux", "rootfsPropagation"], json!("rprivate")).sh(&format!(
        "echo ready; {w}echo volume=$(cat {d}/h/f 2>/dev/null || echo missing); \
         echo other=$(cat {o}/h/f 2>/dev/null || echo missing); echo root=$(findmnt -n -o PROPAGATION /); \
         {m}echo mounted; {w2}exit 0",
        d = dest.display(),
        o = other.display(),
        m = sh_mount(&format!("{}/p", dest.display())),
        w = sh_wait_for(&go, 30),
        w2 = sh_wait_for(&go2, 30)
    ));
    let id = unique_id("rslave");
    let mut r = spawn(run_command(&root, &b, &id));
    r.expect_stdout("ready", Duration::from_secs(30));
    host_mount(&src.join("h"));
    host_mount(&other.join("h"));
    fs::write(&go, "").unwrap();
    r.expect_stdout("mounted", Duration::from_secs(30));
    let payload_on_host = is_mount(&src.join("p")) || src.join("p/f").exists();
    fs::write(&go2, "").unwrap();
    let out = r.finish(TIMEOUT);
    out.assert_code(0);
    assert_eq!(out.must_value("volume"), "host", "a host mount under the rslave volume's source was not seen inside:\n{}", out.dump());
    assert_eq!(out.must_value("other"), "missing", "rootfsPropagation rprivate: a host mount outside the volumes reached the container");
    assert_eq!(out.must_value("root"), "private");
    assert!(!payload_on_host, "the payload's mount under an rslave volume reached the host");
    sh(&format!("umount '{}' '{}'", src.join("h").display(), other.join("h").display()));
    cleanup_check(&root, &b, &id, &[&src, &dest]);
}

/// No propagation option and no rootfsPropagation: as before, host mounts under a shared
/// source arrive (the root is a slave of the host's), the payload's stay inside.
#[test]
fn bind_mode_default_propagation_is_host_to_container() {
    let root = Root::new();
    let base = tempdir();
    let t = SharedTmpfs::new(base.path().join("t"));
    let src = t.0.join("src");
    fs::create_dir(&src).unwrap();
    let dest = base.path().join("vol");
    let (go, go2) = (base.path().join("go"), base.path().join("go2"));
    let mut b = Bundle::new();
    b.bind(&src, dest.to_str().unwrap(), &[]).sh(&format!(
        "echo ready; {w}echo volume=$(cat {d}/h/f 2>/dev/null || echo missing); {m}echo mounted; {w2}exit 0",
        d = dest.display(),
        m = sh_mount(&format!("{}/p", dest.display())),
        w = sh_wait_for(&go, 30),
        w2 = sh_wait_for(&go2, 30)
    ));
    let id = unique_id("propdef");
    let mut r = spawn(run_command(&root, &b, &id));
    r.expect_stdout("ready", Duration::from_secs(30));
    host_mount(&src.join("h"));
    fs::write(&go, "").unwrap();
    r.expect_stdout("mounted", Duration::from_secs(30));
    let payload_on_host = is_mount(&src.join("p")) || src.join("p/f").exists();
    fs::write(&go2, "").unwrap();
    let out = r.finish(TIMEOUT);
    out.assert_code(0);
    assert_eq!(out.must_value("volume"), "host", "{}", out.dump());
    assert!(!payload_on_host, "the payload's mount under a volume without propagation reached the host");
    sh(&format!("umount '{}'", src.join("h").display()));
    cleanup_check(&root, &b, &id, &[&src, &dest]);
}

/// Host mode: an rshared volume's mounts made by the payload reach the source and stay
/// there after the end (the volume's unmount at release does not take them along); an
/// rslave volume sees the host's new mounts but keeps the payload's off the source.
#[test]
fn host_mode_volume_propagation() {
    let root = Root::new();
    let base = tempdir();
    let t = SharedTmpfs::new(base.path().join("t"));
    let (src1, src2) = (t.0.join("src1"), t.0.join("src2"));
    fs::create_dir(&src1).unwrap();
    fs::create_dir(&src2).unwrap();
    let (go, go2) = (base.path().join("go"), base.path().join("go2"));
    let mut b = Bundle::new();
    b.host_mode().bind(&src1, "/bidir", &["rshared"]).bind(&src2, "/h2c", &["rslave"]).sh(&format!(
        "S=$CONTAINER_SANDBOX_MOUNT_POINT; {keep}echo ready; {w}echo volume=$(cat $S/h2c/h/f 2>/dev/null || echo missing); \
         {m}echo mounted; {w2}exit 0",
        keep = sh_mount("$S/bidir/keep"),
        m = sh_mount("$S/h2c/p"),
        w = sh_wait_for(&go, 30),
        w2 = sh_wait_for(&go2, 30)
    ));
    let id = unique_id("hostprop");
    let mut r = spawn(run_command(&root, &b, &id));
    r.expect_stdout("ready", Duration::from_secs(30));
    let keep_during = is_mount(&src1.join("keep"));
    host_mount(&src2.join("h"));
    fs::write(&go, "").unwrap();
    r.expect_stdout("mounted", Duration::from_secs(30));
    let payload_on_host = is_mount(&src2.join("p")) || src2.join("p/f").exists();
    fs::write(&go2, "").unwrap();
    let out = r.finish(TIMEOUT);
    out.assert_code(0);
    assert!(keep_during, "the payload's mount under the rshared volume did not reach its source:\n{}", out.dump());
    assert_eq!(out.must_value("volume"), "host", "{}", out.dump());
    assert!(!payload_on_host, "the payload's mount under an rslave volume reached the host");
    assert!(is_mount(&src1.join("keep")), "releasing the rshared volume took the payload's mount off its source");
    assert!(!b.rootfs().join("bidir").exists() && !b.rootfs().join("h2c").exists(), "mount points left in the rootfs");
    sh(&format!("umount '{}' '{}'", src1.join("keep").display(), src2.join("h").display()));
    cleanup_check(&root, &b, &id, &[&src1, &src2]);
}

/// A volume asking for a tie to the host whose source is on a mount that is not shared
/// there: the container runs, with a warning naming the volume and the fix.
#[test]
fn rshared_volume_on_a_private_mount_is_warned_about() {
    let root = Root::new();
    let (src, src2) = (tempdir(), tempdir());
    let (dest, dest2) = (tempdir(), tempdir());
    let mut b = Bundle::new();
    b.bind(src.path(), dest.path().to_str().unwrap(), &["rshared"])
        .bind(src2.path(), dest2.path().to_str().unwrap(), &["rslave"])
        .sh("exit 0");
    let id = unique_id("propwarn");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    for (dest, opt) in [(&dest, "rshared"), (&dest2, "rslave")] {
        let want = format!("mount {} ({opt}): its source", dest.path().display());
        let line = out.stderr.lines().find(|l| l.contains(&want)).unwrap_or_else(|| panic!("no warning naming {want:?}:\n{}", out.dump()));
        assert!(line.contains("not a shared mount") && line.contains("--make-rshared"), "no fix in the warning: {line}");
    }
    cleanup_check(&root, &b, &id, &[src.path(), dest.path(), src2.path(), dest2.path()]);
}

/// An unknown rootfsPropagation is refused, naming the field; nothing is left.
#[test]
fn bad_rootfs_propagation_is_refused() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.set(&["linux", "rootfsPropagation"], json!("bidirectional")).sh("exit 0");
    let id = unique_id("propbad");
    let out = run(&root, &b, &id);
    out.assert_error();
    assert!(out.stderr.contains("linux.rootfsPropagation") && out.stderr.contains("rshared"), "{}", out.dump());
    cleanup_check(&root, &b, &id, &[]);
}
