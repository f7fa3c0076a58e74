//! Storage: bind mode (a private mount namespace: the rootfs at /hpc, volumes at their real
//! destinations, only inside) and host mode (volumes bound under the rootfs on the host),
//! read-only mounts, created mount points and symlink escapes.

mod common;

use std::fs;
use std::path::Path;
use std::time::Duration;

use common::*;

/// Bind mode (the default): the payload sees the rootfs at /hpc; the host's /hpc does not
/// show it, neither while the container runs nor after.
#[test]
fn bind_mode_rootfs_at_hpc_only_inside() {
    let root = Root::new();
    let mut b = Bundle::new();
    let go = tempdir();
    let go_file = go.path().join("go");
    b.sh(&format!(
        "echo sandbox=$CONTAINER_SANDBOX_MOUNT_POINT; cat /hpc/hello.txt; \
         [ -e /hpc/{m} ] && echo marker=inside; echo mnt=$(readlink /proc/self/ns/mnt); echo ready; {w}exit 0",
        m = b.marker(),
        w = sh_wait_for(&go_file, 30)
    ));
    let id = unique_id("bindhpc");
    let mut r = spawn(run_command(&root, &b, &id));
    r.expect_stdout("ready", Duration::from_secs(30));
    let during = Path::new("/hpc").join(b.marker()).exists();
    // While the container holds /hpc: no reference-count lock file (an annotation-set
    // location or a volume would have one now).
    let lock_during = mountpoint_lock(Path::new("/hpc")).exists();
    fs::write(&go_file, "").unwrap();
    let out = r.finish(TIMEOUT);
    out.assert_code(0);
    assert_eq!(out.must_value("sandbox"), "/hpc");
    assert!(
        out.stdout.contains("hello from the rootfs"),
        "{}",
        out.dump()
    );
    assert_eq!(out.must_value("marker"), "inside", "{}", out.dump());
    assert_ne!(
        out.must_value("mnt"),
        own_ns("mnt"),
        "bind mode must give the payload its own mount namespace"
    );
    assert!(
        !during,
        "the host's /hpc showed the container's rootfs while it ran"
    );
    assert!(
        !Path::new("/hpc").join(b.marker()).exists(),
        "the host's /hpc shows the rootfs after the run"
    );
    // /hpc is the host's fixed mount point: kept, empty of mounts on the host, and with
    // no reference-count lock file (only annotation-set locations and volumes have one).
    assert!(fs::symlink_metadata("/hpc").map(|m| m.is_dir()).unwrap_or(false), "/hpc was not kept as a directory");
    assert!(!lock_during, "/hpc had a lock file while the container used it");
    assert!(!mountpoint_lock(Path::new("/hpc")).exists(), "/hpc has a lock file");
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.lines().any(|l| l.split_whitespace().nth(4) == Some("/hpc")), "a mount on the host's /hpc");
    cleanup_check(&root, &b, &id, &[]);
}

/// Bind mode: a volume appears at its real destination inside only; a destination that did
/// not exist is created and removed again; "ro" is honoured, a rw volume is writable.
#[test]
fn bind_mode_mounts_at_destination_inside_only_and_ro_honoured() {
    let root = Root::new();
    let mut b = Bundle::new();
    let src_rw = tempdir();
    let src_ro = tempdir();
    fs::write(src_rw.path().join("vol-rw.txt"), "rw-volume\n").unwrap();
    fs::write(src_ro.path().join("vol-ro.txt"), "ro-volume\n").unwrap();
    let dest_parent = tempdir();
    let dest_rw = dest_parent.path().join("mnt/rw");
    let dest_ro = dest_parent.path().join("mnt/ro");
    let go = tempdir();
    let go_file = go.path().join("go");
    b.bind(src_rw.path(), dest_rw.to_str().unwrap(), &[])
        .bind(src_ro.path(), dest_ro.to_str().unwrap(), &["ro"])
        .sh(&format!(
            "cat {rw}/vol-rw.txt; cat {ro}/vol-ro.txt; \
             if touch {rw}/written 2>/dev/null; then echo rw=ok; else echo rw=failed; fi; \
             if touch {ro}/written 2>/dev/null; then echo ro=written; else echo ro=refused; fi; \
             echo ready; {w}exit 0",
            rw = dest_rw.display(),
            ro = dest_ro.display(),
            w = sh_wait_for(&go_file, 30)
        ));
    let id = unique_id("bindvol");
    let mut r = spawn(run_command(&root, &b, &id));
    r.expect_stdout("ready", Duration::from_secs(30));
    let rw_visible = dest_rw.join("vol-rw.txt").exists();
    let ro_visible = dest_ro.join("vol-ro.txt").exists();
    fs::write(&go_file, "").unwrap();
    let out = r.finish(TIMEOUT);
    out.assert_code(0);
    assert!(
        out.stdout.contains("rw-volume"),
        "rw volume not visible inside:\n{}",
        out.dump()
    );
    assert!(
        out.stdout.contains("ro-volume"),
        "ro volume not visible inside:\n{}",
        out.dump()
    );
    assert_eq!(out.must_value("rw"), "ok", "{}", out.dump());
    assert_eq!(
        out.must_value("ro"),
        "refused",
        "a read-only mount was writable:\n{}",
        out.dump()
    );
    assert!(
        src_rw.path().join("written").exists(),
        "a write to the rw volume did not reach its source"
    );
    assert!(
        !src_ro.path().join("written").exists(),
        "a write reached the read-only volume's source"
    );
    assert!(
        !rw_visible && !ro_visible,
        "a bind-mode volume was visible on the host at its destination"
    );
    assert!(
        !dest_rw.exists() && !dest_ro.exists(),
        "created mount points were not removed"
    );
    assert!(
        !dest_parent.path().join("mnt").exists(),
        "created mount point parents were not removed"
    );
    cleanup_check(
        &root,
        &b,
        &id,
        &[dest_parent.path(), src_rw.path(), src_ro.path()],
    );
}

/// A mount point that already exists on the host stays (only what hostproc created is
/// removed), and its host content is untouched.
#[test]
fn bind_mode_existing_mount_point_is_kept() {
    let root = Root::new();
    let mut b = Bundle::new();
    let src = tempdir();
    fs::write(src.path().join("from-volume"), "v\n").unwrap();
    let dest = tempdir();
    fs::write(dest.path().join("host-file"), "h\n").unwrap();
    b.bind(src.path(), dest.path().to_str().unwrap(), &[])
        .sh(&format!("ls {}", dest.path().display()));
    let id = unique_id("bindexist");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    assert!(out.stdout.contains("from-volume"), "{}", out.dump());
    assert!(
        !out.stdout.contains("host-file"),
        "the volume did not cover the mount point:\n{}",
        out.dump()
    );
    assert!(
        dest.path().join("host-file").exists(),
        "an existing mount point lost its content"
    );
    cleanup_check(&root, &b, &id, &[dest.path(), src.path()]);
}

/// `microsoft.com/hostprocess-rootfs-location` moves the rootfs; a location other than
/// the default `/hpc` is created for the containers using it and removed after the last.
#[test]
fn bind_mode_rootfs_location_annotation() {
    let root = Root::new();
    let mut b = Bundle::new();
    let parent = tempdir();
    let loc = parent.path().join("sandbox");
    b.annotation(
        "microsoft.com/hostprocess-rootfs-location",
        loc.to_str().unwrap(),
    )
    .sh(&format!(
        "echo sandbox=$CONTAINER_SANDBOX_MOUNT_POINT; echo pwd=$(pwd); ls {}",
        loc.display()
    ));
    let id = unique_id("loc");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    assert_eq!(out.must_value("sandbox"), loc.to_str().unwrap());
    assert_eq!(out.must_value("pwd"), loc.to_str().unwrap());
    assert!(
        out.stdout.contains(b.marker()),
        "rootfs not at the location:\n{}",
        out.dump()
    );
    assert!(!loc.exists(), "the created location was not removed");
    cleanup_check(&root, &b, &id, &[parent.path()]);
}

/// root.readonly: the sandbox is read-only to the payload.
#[test]
fn bind_mode_readonly_root() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.set(&["root", "readonly"], serde_json::json!(true))
        .sh("if touch /hpc/new-file 2>/dev/null; then echo write=ok; else echo write=refused; fi");
    let id = unique_id("rootro");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    assert_eq!(out.must_value("write"), "refused", "{}", out.dump());
    assert!(!b.rootfs().join("new-file").exists());
    cleanup_check(&root, &b, &id, &[]);
}

/// Host mode: no mount namespace; the sandbox is the rootfs's own path; a volume is bound
/// at <rootfs>/<destination> on the host while the container runs and removed after.
#[test]
fn host_mode_mount_under_rootfs_visible_on_host_while_running() {
    let root = Root::new();
    let mut b = Bundle::new();
    let src = tempdir();
    fs::write(src.path().join("vol-file.txt"), "host-mode-volume\n").unwrap();
    let go = tempdir();
    let go_file = go.path().join("go");
    let rootfs = fs::canonicalize(b.rootfs()).unwrap();
    b.host_mode()
        .bind(src.path(), "/data/vol", &[])
        .sh(&format!(
            "echo sandbox=$CONTAINER_SANDBOX_MOUNT_POINT; echo pwd=$(pwd); \
         cat $CONTAINER_SANDBOX_MOUNT_POINT/data/vol/vol-file.txt; \
         echo mnt=$(readlink /proc/self/ns/mnt); echo ready; {w}exit 0",
            w = sh_wait_for(&go_file, 30)
        ));
    let id = unique_id("hostmode");
    let mut r = spawn(run_command(&root, &b, &id));
    r.expect_stdout("ready", Duration::from_secs(30));
    let visible = rootfs.join("data/vol/vol-file.txt").exists();
    fs::write(&go_file, "").unwrap();
    let out = r.finish(TIMEOUT);
    out.assert_code(0);
    assert_eq!(
        out.must_value("sandbox"),
        rootfs.to_str().unwrap(),
        "{}",
        out.dump()
    );
    assert_eq!(
        out.must_value("pwd"),
        rootfs.to_str().unwrap(),
        "{}",
        out.dump()
    );
    assert!(out.stdout.contains("host-mode-volume"), "{}", out.dump());
    assert_eq!(
        out.must_value("mnt"),
        own_ns("mnt"),
        "host mode must not make a mount namespace"
    );
    assert!(
        visible,
        "the host-mode volume was not visible on the host under the rootfs while running"
    );
    assert!(
        !rootfs.join("data/vol").exists(),
        "the host-mode mount point was not removed"
    );
    assert!(
        !rootfs.join("data").exists(),
        "the created parent of the mount point was not removed"
    );
    assert!(
        src.path().join("vol-file.txt").exists(),
        "the volume's source lost its content"
    );
    cleanup_check(&root, &b, &id, &[src.path()]);
}

/// Host mode: "ro" is honoured there too.
#[test]
fn host_mode_ro_mount() {
    let root = Root::new();
    let mut b = Bundle::new();
    let src = tempdir();
    b.host_mode().bind(src.path(), "/ro", &["ro"]).sh(
        "if touch $CONTAINER_SANDBOX_MOUNT_POINT/ro/x 2>/dev/null; then echo write=ok; else echo write=refused; fi",
    );
    let id = unique_id("hostro");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    assert_eq!(out.must_value("write"), "refused", "{}", out.dump());
    assert!(!src.path().join("x").exists());
    assert!(!b.rootfs().join("ro").exists());
    cleanup_check(&root, &b, &id, &[src.path()]);
}

/// Host mode: a destination that a symlink in the rootfs turns onto a host path outside it
/// is refused, and nothing is left (no mount, no directory made outside, no payload run).
#[test]
fn host_mode_symlink_escape_refused() {
    let root = Root::new();
    let outside = tempdir();
    let src = tempdir();
    fs::write(src.path().join("payload-file"), "x\n").unwrap();
    let ran = tempdir();
    let ran_file = ran.path().join("ran");
    let outside_abs = outside.path().to_str().unwrap().to_owned();
    let depth_up = "../".repeat(16);
    for (name, target) in [
        ("abs-link", outside_abs.clone()),
        (
            "rel-link",
            format!("{depth_up}{}", outside_abs.trim_start_matches('/')),
        ),
    ] {
        for dest in [format!("/{name}"), format!("/{name}/sub")] {
            let mut b = Bundle::new();
            std::os::unix::fs::symlink(&target, b.rootfs().join(name)).unwrap();
            b.host_mode()
                .bind(src.path(), &dest, &[])
                .sh(&format!("touch {}", ran_file.display()));
            let id = unique_id("symlink");
            let out = run(&root, &b, &id);
            out.assert_error();
            assert!(
                out.stderr.to_lowercase().contains("symlink"),
                "destination {dest} ({name} -> {target}): the error should name the symlink:\n{}",
                out.dump()
            );
            assert!(
                !ran_file.exists(),
                "the payload ran despite the refused mount"
            );
            let left: Vec<_> = fs::read_dir(outside.path())
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .collect();
            assert!(
                left.is_empty(),
                "something was made outside the rootfs: {left:?}"
            );
            assert!(
                !outside.path().join("payload-file").exists(),
                "the volume was mounted outside the rootfs"
            );
            assert!(
                fs::symlink_metadata(b.rootfs().join(name))
                    .map(|m| m.file_type().is_symlink())
                    .unwrap_or(false),
                "the rootfs's symlink was changed"
            );
            cleanup_check(&root, &b, &id, &[outside.path(), src.path()]);
        }
    }
}

/// A symlink that stays inside the rootfs is fine in host mode: the mount goes where it
/// points, inside the rootfs.
#[test]
fn host_mode_symlink_inside_rootfs_allowed() {
    let root = Root::new();
    let mut b = Bundle::new();
    fs::create_dir_all(b.rootfs().join("real")).unwrap();
    std::os::unix::fs::symlink("real", b.rootfs().join("link")).unwrap();
    let src = tempdir();
    fs::write(src.path().join("through-link"), "y\n").unwrap();
    b.host_mode()
        .bind(src.path(), "/link/vol", &[])
        .sh("ls $CONTAINER_SANDBOX_MOUNT_POINT/real/vol");
    let id = unique_id("linkin");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    assert!(out.stdout.contains("through-link"), "{}", out.dump());
    assert!(
        !b.rootfs().join("real/vol").exists(),
        "the created mount point was not removed"
    );
    assert!(
        b.rootfs().join("real").is_dir(),
        "a directory of the image was removed"
    );
    cleanup_check(&root, &b, &id, &[src.path()]);
}

/// Standard container mounts (proc, sysfs, /dev...) are skipped: the host's serve.
#[test]
fn standard_mounts_are_skipped() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.mount("/proc", "proc", "proc", &[])
        .mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        )
        .mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        )
        .mount("/dev/pts", "devpts", "devpts", &["nosuid", "noexec"])
        .mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777"],
        )
        .mount("/dev/mqueue", "mqueue", "mqueue", &[])
        .mount("/sys/fs/cgroup", "cgroup", "cgroup", &["ro"])
        .sh("echo hostname=$(cat /proc/sys/kernel/hostname); ls /dev/null && echo dev=host");
    let id = unique_id("stdmnt");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    assert_eq!(out.must_value("dev"), "host", "{}", out.dump());
    let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(out.must_value("hostname"), host.trim());
    cleanup_check(&root, &b, &id, &[]);
}

/// The per-pod copies of /etc/hosts, /etc/resolv.conf and /etc/hostname that containerd
/// (and the kubelet) bind into every container are not mounted in bind mode: the payload
/// sees the node's own files (inode and content), as a node set-up payload needs. Another
/// file bound at /etc/hosts by the operator still is.
#[test]
fn bind_mode_keeps_the_nodes_etc_files_over_pod_copies() {
    use std::os::unix::fs::MetadataExt;
    let root = Root::new();
    let dir = tempdir();
    let sandbox = dir.path().join("sandboxes/0123456789abcdef");
    fs::create_dir_all(&sandbox).unwrap();
    for f in ["hosts", "resolv.conf", "hostname"] {
        fs::write(sandbox.join(f), format!("pod-copy-of-{f}\n")).unwrap();
    }
    let mut b = Bundle::new();
    for f in ["hosts", "resolv.conf", "hostname"] {
        b.bind(&sandbox.join(f), &format!("/etc/{f}"), &["rbind", "ro"]);
    }
    b.sh("for f in hosts resolv.conf hostname; do [ -e /etc/$f ] && echo $f=$(stat -c %i /etc/$f); done; cat /etc/hosts /etc/resolv.conf /etc/hostname 2>/dev/null | grep -c pod-copy-of || true");
    let id = unique_id("etcnode");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    for f in ["hosts", "resolv.conf", "hostname"] {
        if let Ok(m) = fs::metadata(format!("/etc/{f}")) {
            assert_eq!(out.must_value(f), m.ino().to_string(), "/etc/{f} is not the node's:\n{}", out.dump());
        }
    }
    assert!(!out.stdout.contains("pod-copy-of"), "{}", out.dump());
    assert_eq!(out.stdout_lines().last().map(String::as_str), Some("0"), "{}", out.dump());
    cleanup_check(&root, &b, &id, &[]);

    // An operator's own file at /etc/hosts is a volume like any other.
    let own = dir.path().join("my-hosts");
    fs::write(&own, "operator-hosts\n").unwrap();
    let mut b = Bundle::new();
    b.bind(&own, "/etc/hosts", &["rbind", "ro"]).sh("cat /etc/hosts");
    let id = unique_id("etcown");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    assert!(out.stdout.contains("operator-hosts"), "{}", out.dump());
    cleanup_check(&root, &b, &id, &[]);
}
