//! Spec fields a HostProcess container handles in its own way: confinement it does not
//! apply (said once in the log, listed by `features`), and a missing working directory,
//! made on the host and removed again at teardown while empty.

mod common;

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::lc::*;
use common::*;
use serde_json::{json, Value};

/// Every JSON log line of `p`.
fn json_log(p: &Path) -> Vec<Value> {
    fs::read_to_string(p).unwrap_or_default().lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("log line {l:?}: {e}"))).collect()
}

#[test]
fn readonly_and_masked_paths_are_warned_about_once() {
    let root = Root::new();
    let mut b = Bundle::new();
    // As containerd sets them for every container.
    b.set(&["linux", "readonlyPaths"], json!(["/proc/bus", "/proc/fs", "/proc/sys"]))
        .set(&["linux", "maskedPaths"], json!(["/proc/kcore", "/sys/firmware"]))
        .sh("test -r /proc/sys/kernel/ostype && echo sys=readable");
    let id = unique_id("rompaths");
    let logs = tempdir();
    let log = logs.path().join("log.json");
    let mut cmd = command(&root);
    cmd.arg("--log").arg(&log).args(["--log-format", "json"]);
    cmd.arg("run").arg("--bundle").arg(b.path()).arg(&id);
    b.write();
    let out = execute(cmd);
    out.assert_code(0);
    assert_eq!(out.must_value("sys"), "readable", "the host's /proc/sys, as the host sees it");
    let entries = json_log(&log);
    let about: Vec<&Value> = entries
        .iter()
        .filter(|e| e["msg"].as_str().is_some_and(|m| m.contains("readonlyPaths") || m.contains("maskedPaths")))
        .collect();
    assert_eq!(about.len(), 1, "one warning for both fields: {entries:#?}");
    let w = about[0];
    assert_eq!(w["level"], "warn", "{w}");
    let msg = w["msg"].as_str().unwrap();
    for needle in ["linux.readonlyPaths", "linux.maskedPaths", "not applied", "host's filesystem"] {
        assert!(msg.contains(needle), "the warning should say {needle:?}: {msg}");
    }
    cleanup_check(&root, &b, &id, &[]);

    // One field alone is named alone; without them, nothing is said.
    let mut b = Bundle::new();
    b.set(&["linux", "maskedPaths"], json!(["/proc/kcore"]));
    let id = unique_id("maskonly");
    let log2 = logs.path().join("log2.json");
    let mut cmd = command(&root);
    cmd.arg("--log").arg(&log2).args(["--log-format", "json", "run", "--bundle"]).arg(b.path()).arg(&id);
    b.write();
    execute(cmd).assert_code(0);
    let msgs: Vec<String> = json_log(&log2).iter().filter_map(|e| e["msg"].as_str().map(str::to_owned)).collect();
    assert!(msgs.iter().any(|m| m.starts_with("linux.maskedPaths is not applied")), "{msgs:#?}");
    assert!(!msgs.iter().any(|m| m.contains("readonlyPaths")), "{msgs:#?}");
    cleanup_check(&root, &b, &id, &[]);
}

#[test]
fn features_list_what_a_hostprocess_container_does_not_apply() {
    let root = Root::new();
    let out = hp(&root, &["features"]);
    out.assert_code(0);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["linux"]["seccomp"]["enabled"], false, "{v:#}");
    let list = v["annotations"]["io.github.hostproc.notApplied"].as_str().unwrap_or_else(|| panic!("no notApplied annotation: {v:#}"));
    let fields: Vec<&str> = list.split(", ").collect();
    for f in ["linux.readonlyPaths", "linux.maskedPaths", "linux.seccomp", "linux.sysctl", "process.apparmorProfile", "process.selinuxLabel", "linux.mountLabel", "linux.devices"] {
        assert!(fields.contains(&f), "{f} missing from {list:?}");
    }
    // docs/cli.md explains each one.
    let doc = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/cli.md")).unwrap();
    let section = doc.split("## What a HostProcess container does not apply, and why").nth(1).expect("the section in docs/cli.md");
    for f in fields {
        assert!(section.contains(&format!("`{f}`")), "docs/cli.md does not explain {f}");
    }
}

/// A directory under the test's temporary directory, removed with everything in it at the end.
struct TmpTree(PathBuf);

impl TmpTree {
    fn new(tag: &str) -> TmpTree {
        TmpTree(std::env::temp_dir().join(unique_id(tag)))
    }
}

impl Drop for TmpTree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_missing_working_directory_is_made_and_removed_at_the_end_of_run() {
    let top = TmpTree::new("cwd");
    let cwd = top.0.join("a/b");
    let root = Root::new();
    let mut b = Bundle::new();
    b.cwd(cwd.to_str().unwrap()).sh("echo pwd=$(pwd)");
    let id = unique_id("cwdrun");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    assert_eq!(out.must_value("pwd"), cwd.to_str().unwrap());
    assert!(!top.0.exists(), "{} (made for process.cwd) outlived the container", top.0.display());
    cleanup_check(&root, &b, &id, &[]);

    // Host mode, and a cwd inside the sandbox: the rootfs's part goes again too.
    let mut b = Bundle::new();
    b.host_mode().cwd("$CONTAINER_SANDBOX_MOUNT_POINT/work/dir").sh("echo pwd=$(pwd)");
    let id = unique_id("cwdhost");
    run(&root, &b, &id).assert_code(0);
    assert!(!b.rootfs().join("work").exists(), "rootfs/work (made for process.cwd) outlived the container");
    cleanup_check(&root, &b, &id, &[]);
}

#[test]
fn a_working_directory_the_payload_left_a_file_in_stays() {
    let top = TmpTree::new("cwdkeep");
    let cwd = top.0.join("a/b");
    let root = Root::new();
    let mut b = Bundle::new();
    b.cwd(cwd.to_str().unwrap()).sh("echo kept > keep");
    let id = unique_id("cwdkeep");
    run(&root, &b, &id).assert_code(0);
    assert_eq!(fs::read_to_string(cwd.join("keep")).unwrap(), "kept\n", "the payload's file and its directories stay");
    cleanup_check(&root, &b, &id, &[]);
}

#[test]
fn a_missing_working_directory_goes_with_create_start_delete_and_with_delete_force_after_a_crash() {
    // create, start: the supervisor removes it when init exits; delete finds it gone.
    let top = TmpTree::new("cwdlc");
    let root = Root::new();
    let mut b = Bundle::new();
    b.cwd(top.0.join("x/y").to_str().unwrap()).sh("echo pwd=$(pwd)");
    let id = unique_id("cwdlc");
    let c = Ctr::new(&root, &id);
    c.create(&b, &[]).assert_code(0);
    assert!(top.0.join("x/y").is_dir(), "made at create");
    c.start().assert_code(0);
    assert!(c.wait_status("stopped", TIMEOUT), "{}", c.payload_err());
    assert!(wait_until(TIMEOUT, || !top.0.exists()), "{} left after init exited", top.0.display());
    c.delete().assert_code(0);
    cleanup_check(&root, &b, &id, &[]);

    // Killed once init is set up: delete --force removes it.
    let mut b = Bundle::new();
    b.cwd(top.0.join("p/q").to_str().unwrap()).sh("sleep 100");
    let id = unique_id("cwdcrash");
    b.write();
    // stdio to /dev/null: the held init would keep a pipe open.
    let status = command(&root)
        .env("HOSTPROC_CRASH_AT", "after-init")
        .arg("create")
        .arg("--bundle")
        .arg(b.path())
        .arg(&id)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.signal(), Some(9), "hostproc should have died at the crash point: {status:?}");
    assert!(top.0.join("p/q").is_dir(), "made before the crash");
    hostproc(&root, &["delete", "--force", &id]).assert_code(0);
    assert!(!top.0.exists(), "{} left after delete --force", top.0.display());
    cleanup_check(&root, &b, &id, &[]);
}

#[test]
fn a_working_directory_another_container_works_in_stays() {
    let top = TmpTree::new("cwdshared");
    let cwd = top.0.join("shared");
    let root = Root::new();
    // The first makes the directory and keeps running.
    let mut first = Bundle::new();
    first.cwd(cwd.to_str().unwrap()).sh("echo ready; sleep 100");
    let c1 = Ctr::new(&root, &unique_id("cwdfirst"));
    c1.run_detached(&first, &[]).assert_code(0);
    c1.expect_out("ready", TIMEOUT);
    // The second finds it made (nothing recorded) and leaves it.
    let mut second = Bundle::new();
    second.cwd(cwd.to_str().unwrap()).sh("echo pwd=$(pwd)");
    let id2 = unique_id("cwdsecond");
    run(&root, &second, &id2).assert_code(0);
    assert!(cwd.is_dir(), "the second container took the first's working directory");
    cleanup_check(&root, &second, &id2, &[]);

    // The maker ends while another container works there: the directory stays.
    let mut third = Bundle::new();
    third.cwd(cwd.to_str().unwrap()).sh("echo ready; sleep 100");
    let c3 = Ctr::new(&root, &unique_id("cwdthird"));
    c3.run_detached(&third, &[]).assert_code(0);
    c3.expect_out("ready", TIMEOUT);
    c1.kill("KILL").assert_code(0);
    assert!(c1.wait_status("stopped", TIMEOUT));
    c1.delete().assert_code(0);
    assert!(cwd.is_dir(), "removed while another container works in it");
    c3.delete_force().assert_code(0);
    cleanup_check(&root, &first, &c1.id, &[]);
    cleanup_check(&root, &third, &c3.id, &[]);
}
