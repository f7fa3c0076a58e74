//! Errors: a missing program, refused specs, limits the kernel rejects, invalid ids. Each
//! fails `run` with exit 1 and a message, runs no payload and leaves nothing behind.

mod common;

use std::path::PathBuf;

use common::*;
use serde_json::json;
use tempfile::TempDir;

/// A bundle whose payload would leave a mark on the host if it ever ran.
fn bundle_with_probe() -> (Bundle, TempDir, PathBuf) {
    let mut b = Bundle::new();
    let d = tempdir();
    let probe = d.path().join("payload-ran");
    b.sh(&format!("touch {}", probe.display()));
    (b, d, probe)
}

/// Runs a bundle that must be refused: exit 1, a message (containing every one of
/// `words`, case-insensitively), the payload never ran, nothing left behind.
#[track_caller]
fn assert_refused(b: &Bundle, probe: &std::path::Path, tag: &str, words: &[&str]) -> Output {
    let root = Root::new();
    let id = unique_id(tag);
    let out = run(&root, b, &id);
    out.assert_error();
    let err = out.stderr.to_lowercase();
    for w in words {
        assert!(
            err.contains(&w.to_lowercase()),
            "the error should mention {w:?}:\n{}",
            out.dump()
        );
    }
    assert!(
        !probe.exists(),
        "the payload ran although run failed:\n{}",
        out.dump()
    );
    cleanup_check(&root, b, &id, &[]);
    assert!(
        root.entries().is_empty()
            || !root
                .entries()
                .iter()
                .any(|e| e.to_string_lossy().contains(&id))
    );
    out
}

#[test]
fn missing_program_names_it_and_every_directory_searched() {
    let root = Root::new();
    let mut b = Bundle::new();
    let prog = format!("no-such-program-{}", std::process::id());
    b.env(&["PATH=/usr/local/bin:/usr/bin:/bin"])
        .args(&[&prog, "arg"]);
    let id = unique_id("missing");
    let out = run(&root, &b, &id);
    out.assert_error();
    assert!(
        out.stderr.contains(&prog),
        "the error should name the program:\n{}",
        out.dump()
    );
    for dir in [
        "/usr/local/bin",
        "/usr/bin",
        "/bin",
        "/hpc/usr/local/bin",
        "/hpc/usr/bin",
        "/hpc/bin",
    ] {
        assert!(
            out.stderr.contains(dir),
            "the error should name the searched directory {dir}:\n{}",
            out.dump()
        );
    }
    cleanup_check(&root, &b, &id, &[]);
}

#[test]
fn missing_absolute_program_is_an_error() {
    let root = Root::new();
    let mut b = Bundle::new();
    let prog = format!("/nonexistent-{}/prog", std::process::id());
    b.args(&[&prog]);
    let id = unique_id("missingabs");
    let out = run(&root, &b, &id);
    out.assert_error();
    assert!(out.stderr.contains(&prog), "{}", out.dump());
    cleanup_check(&root, &b, &id, &[]);
}

#[test]
fn non_executable_program_is_an_error() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.write_file("tool.sh", "#!/bin/sh\necho should-not-run\n", 0o644);
    b.args(&["$CONTAINER_SANDBOX_MOUNT_POINT/tool.sh"]);
    let id = unique_id("noexec");
    let out = run(&root, &b, &id);
    out.assert_error();
    assert!(out.stderr.contains("tool.sh"), "{}", out.dump());
    assert!(!out.stdout.contains("should-not-run"), "{}", out.dump());
    cleanup_check(&root, &b, &id, &[]);
}

/// cpuset cpus "999": the kernel refuses the value; the error names the limit.
#[test]
fn cpuset_the_host_cannot_apply_fails_cleanly() {
    let (mut b, _d, probe) = bundle_with_probe();
    b.resources(json!({ "cpu": { "cpus": "999" } }));
    assert_refused(&b, &probe, "cpuset", &["cpu"]);
}

/// An rlimit above the kernel's ceiling (RLIMIT_NOFILE above fs.nr_open) fails in init's
/// own set-up, while the parent is still making the job's cgroups and reporting each to
/// it: hostproc must report init's error, not die of SIGPIPE on the pipe init has closed.
#[test]
fn an_rlimit_the_kernel_refuses_is_reported_and_undone() {
    let (mut b, _d, probe) = bundle_with_probe();
    let nr_open: u64 = std::fs::read_to_string("/proc/sys/fs/nr_open").unwrap().trim().parse().unwrap();
    b.process_field("rlimits", json!([{ "type": "RLIMIT_NOFILE", "soft": nr_open * 4, "hard": nr_open * 4 }]));
    assert_refused(&b, &probe, "rlimit", &["process.rlimits", "RLIMIT_NOFILE", "fs.nr_open"]);
}

/// memory+swap below the memory limit: the kernel rejects it.
#[test]
fn memory_limit_the_kernel_rejects_fails_cleanly() {
    let (mut b, _d, probe) = bundle_with_probe();
    b.resources(json!({ "memory": { "limit": 128 * 1024 * 1024, "swap": 64 * 1024 * 1024 } }));
    assert_refused(&b, &probe, "badmem", &["memory"]);
}

#[test]
fn network_namespace_is_refused() {
    let (mut b, _d, probe) = bundle_with_probe();
    b.namespaces(json!([{ "type": "pid" }, { "type": "network" }]));
    assert_refused(&b, &probe, "netns", &["network"]);
}

#[test]
fn network_namespace_path_not_the_hosts_is_refused() {
    let (mut b, _d, probe) = bundle_with_probe();
    // Any path that is not the host's own network namespace.
    b.namespaces(json!([{ "type": "network", "path": "/proc/1/ns/mnt" }]));
    assert_refused(&b, &probe, "netpath", &["network"]);
}

/// A network entry whose path is another kind of namespace (or no namespace at all) says
/// so, instead of calling it "not the host's network namespace".
#[test]
fn network_namespace_path_of_another_kind_says_what_it_is() {
    for (path, words) in [
        ("/proc/self/ns/pid", &["is not a network namespace", "pid namespace"][..]),
        ("/proc/self/ns/mnt", &["is not a network namespace", "mount namespace"][..]),
        ("/etc/hostname", &["is not a namespace file"][..]),
    ] {
        let (mut b, _d, probe) = bundle_with_probe();
        b.namespaces(json!([{ "type": "network", "path": path }]));
        let mut want = vec!["linux.namespaces (network)", path, "remove the network entry"];
        want.extend_from_slice(words);
        let out = assert_refused(&b, &probe, "netkind", &want);
        assert!(!out.stderr.contains("host's network namespace"), "{path}: {}", out.dump());
    }
}

/// Another network namespace (a process's own, made by `unshare --net`) is still "not the
/// host's network namespace".
#[test]
fn network_namespace_path_of_another_network_namespace_is_not_the_hosts() {
    struct Holder(std::process::Child);
    impl Drop for Holder {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let holder = Holder(std::process::Command::new("unshare").args(["--net", "sleep", "60"]).spawn().unwrap());
    let ns = format!("/proc/{}/ns/net", holder.0.id());
    let end = std::time::Instant::now() + TIMEOUT;
    while std::fs::read_link(&ns).map(|l| l.to_string_lossy() == own_ns("net")).unwrap_or(true) && std::time::Instant::now() < end {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let (mut b, _d, probe) = bundle_with_probe();
    b.namespaces(json!([{ "type": "network", "path": ns }]));
    assert_refused(&b, &probe, "netother", &["is not the host's network namespace", "remove the network entry"]);
}

#[test]
fn user_namespace_is_refused() {
    let (mut b, _d, probe) = bundle_with_probe();
    b.namespaces(json!([{ "type": "user" }]));
    assert_refused(&b, &probe, "userns", &["user"]);
}

#[test]
fn non_hostprocess_container_is_refused() {
    let (mut b, _d, probe) = bundle_with_probe();
    b.annotation("microsoft.com/hostprocess-container", "false");
    assert_refused(&b, &probe, "nothpc", &[]);
}

#[test]
fn mount_with_missing_source_fails_cleanly() {
    let (mut b, d, probe) = bundle_with_probe();
    let dest_parent = tempdir();
    let dest = dest_parent.path().join("vol");
    b.bind(
        &d.path().join("does-not-exist"),
        dest.to_str().unwrap(),
        &[],
    );
    assert_refused(&b, &probe, "nosrc", &["does-not-exist"]);
    assert!(!dest.exists(), "a mount point was left");
}

/// A failure after storage was prepared (the program is missing) undoes it: in host mode
/// the mount under the rootfs and its created mount point are gone.
#[test]
fn failure_after_storage_setup_undoes_it() {
    let mut b = Bundle::new();
    let src = tempdir();
    b.host_mode()
        .bind(src.path(), "/made/vol", &[])
        .args(&["/nonexistent-program-for-hostproc-test"]);
    let root = Root::new();
    let id = unique_id("undo");
    let out = run(&root, &b, &id);
    out.assert_error();
    assert!(
        !b.rootfs().join("made").exists(),
        "the created mount point was left:\n{}",
        out.dump()
    );
    cleanup_check(&root, &b, &id, &[src.path()]);
}

#[test]
fn unsupported_oci_version_is_an_error() {
    let (mut b, _d, probe) = bundle_with_probe();
    b.set(&["ociVersion"], json!("9.0.0"));
    assert_refused(&b, &probe, "ociver", &["9.0.0"]);
}

#[test]
fn missing_config_is_an_error() {
    let root = Root::new();
    let dir = tempdir();
    let id = unique_id("noconfig");
    let out = hostproc(
        &root,
        &["run", "--bundle", dir.path().to_str().unwrap(), &id],
    );
    out.assert_error();
    assert!(cgroups_named(&id).is_empty());
}

#[test]
fn invalid_ids_are_refused() {
    let (b, _d, probe) = bundle_with_probe();
    b.write();
    let long = "a".repeat(1025);
    for id in [
        "..",
        ".",
        "a/b",
        "/abs",
        "",
        long.as_str(),
        "has space",
        "semi;colon",
    ] {
        let root = Root::new();
        let out = hostproc(&root, &["run", "--bundle", b.path().to_str().unwrap(), id]);
        assert_eq!(
            out.code,
            Some(1),
            "id {id:?} should be refused with exit 1:\n{}",
            out.dump()
        );
        assert!(!out.stderr.trim().is_empty(), "id {id:?}: no error message");
        assert!(!probe.exists(), "id {id:?}: the payload ran");
        assert!(
            root.entries().is_empty(),
            "id {id:?}: state was written: {:?}",
            root.entries()
        );
    }
    // The same ids for the other commands.
    for id in ["..", "a/b"] {
        let root = Root::new();
        for cmd in [&["state", id][..], &["delete", id][..]] {
            let out = hostproc(&root, cmd);
            assert_eq!(out.code, Some(1), "{cmd:?}:\n{}", out.dump());
        }
    }
}

/// A block IO throttle on a device that does not exist: the kernel refuses it after the
/// job was made; the error names the limit and everything is undone.
#[test]
fn blkio_throttle_the_kernel_rejects_fails_cleanly() {
    let (mut b, _d, probe) = bundle_with_probe();
    b.resources(json!({ "blockIO": { "throttleReadBpsDevice": [{ "major": 254, "minor": 99999, "rate": 1048576 }] } }));
    assert_refused(&b, &probe, "badblkio", &["throttle"]);
}
