//! Identity and process attributes: uid, gid, additional groups, umask, capabilities,
//! rlimits, noNewPrivileges, oomScoreAdj, and `microsoft.com/hostprocess-inherit-user`.

mod common;

use common::*;
use serde_json::json;

fn status_field(out: &Output, name: &str) -> String {
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| {
            panic!(
                "no {name} in the payload's /proc/self/status:\n{}",
                out.dump()
            )
        })
        .trim()
        .to_owned()
}

fn cap_mask(out: &Output, name: &str) -> u64 {
    u64::from_str_radix(&status_field(out, name), 16).unwrap()
}

#[test]
fn user_groups_and_umask_from_spec() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.user(65534, 65534, &[4], Some(0o027)).sh(
        "echo uid=$(id -u); echo gid=$(id -g); echo groups=$(id -G); echo umask=$(umask); grep -E '^(Uid|Gid|Groups|Cap[A-Za-z]+):' /proc/self/status",
    );
    let id = unique_id("user");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    assert_eq!(out.must_value("uid"), "65534", "{}", out.dump());
    assert_eq!(out.must_value("gid"), "65534", "{}", out.dump());
    let groups: Vec<String> = out
        .must_value("groups")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    assert!(
        groups.contains(&"4".to_owned()),
        "additionalGids not set: {groups:?}"
    );
    assert!(
        !groups.contains(&"0".to_owned()),
        "root's group kept: {groups:?}"
    );
    assert_eq!(
        status_field(&out, "Groups")
            .split_whitespace()
            .collect::<Vec<_>>(),
        vec!["4"],
        "{}",
        out.dump()
    );
    assert_eq!(out.must_value("umask"), "0027", "{}", out.dump());
    // Real, effective, saved and filesystem ids all changed.
    assert_eq!(
        status_field(&out, "Uid")
            .split_whitespace()
            .collect::<Vec<_>>(),
        vec!["65534"; 4]
    );
    assert_eq!(
        status_field(&out, "Gid")
            .split_whitespace()
            .collect::<Vec<_>>(),
        vec!["65534"; 4]
    );
    // A non-root user keeps no capability unless ambient ones are asked for.
    assert_eq!(cap_mask(&out, "CapEff"), 0, "{}", out.dump());
    assert_eq!(cap_mask(&out, "CapPrm"), 0, "{}", out.dump());
    assert_eq!(cap_mask(&out, "CapAmb"), 0, "{}", out.dump());
    cleanup_check(&root, &b, &id, &[]);
}

/// The umask applies to files the payload creates.
#[test]
fn umask_applies_to_created_files() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.user(0, 0, &[], Some(0o077)).sh(
        "touch $CONTAINER_SANDBOX_MOUNT_POINT/created; mkdir $CONTAINER_SANDBOX_MOUNT_POINT/made",
    );
    let id = unique_id("umask");
    run(&root, &b, &id).assert_code(0);
    use std::os::unix::fs::PermissionsExt;
    let f = std::fs::metadata(b.rootfs().join("created"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    let d = std::fs::metadata(b.rootfs().join("made"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(f, 0o600);
    assert_eq!(d, 0o700);
    cleanup_check(&root, &b, &id, &[]);
}

/// `microsoft.com/hostprocess-inherit-user: "true"` runs the payload as hostproc's own user.
#[test]
fn inherit_user_annotation_runs_as_hostprocs_user() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.user(65534, 65534, &[], None)
        .annotation("microsoft.com/hostprocess-inherit-user", "true")
        .sh("echo uid=$(id -u); echo gid=$(id -g)");
    let id = unique_id("inherit");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    // SAFETY: getuid/getgid have no preconditions.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    assert_eq!(out.must_value("uid"), uid.to_string(), "{}", out.dump());
    assert_eq!(out.must_value("gid"), gid.to_string(), "{}", out.dump());
    cleanup_check(&root, &b, &id, &[]);
}

/// Capabilities as the spec gives them (root user); unknown capability names are warned
/// about and skipped, not fatal.
#[test]
fn capabilities_as_the_spec_gives_them() {
    let root = Root::new();
    let mut b = Bundle::new();
    let caps = json!(["CAP_CHOWN", "CAP_NET_ADMIN"]);
    b.process_field(
        "capabilities",
        json!({
            "bounding": ["CAP_CHOWN", "CAP_NET_ADMIN", "CAP_NOT_A_REAL_CAPABILITY"],
            "effective": caps,
            "permitted": caps,
        }),
    )
    .sh("grep -E '^Cap[A-Za-z]+:' /proc/self/status");
    let id = unique_id("caps");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    let want = (1u64 << 0) | (1u64 << 12); // CAP_CHOWN, CAP_NET_ADMIN
    assert_eq!(cap_mask(&out, "CapEff"), want, "{}", out.dump());
    assert_eq!(cap_mask(&out, "CapPrm"), want, "{}", out.dump());
    assert_eq!(cap_mask(&out, "CapBnd"), want, "{}", out.dump());
    assert_eq!(cap_mask(&out, "CapInh"), 0, "{}", out.dump());
    cleanup_check(&root, &b, &id, &[]);
}

/// A non-root user with ambient capabilities keeps them.
#[test]
fn ambient_capabilities_for_non_root_user() {
    let root = Root::new();
    let mut b = Bundle::new();
    let caps = json!(["CAP_NET_BIND_SERVICE"]);
    b.user(65534, 65534, &[], None)
        .process_field(
            "capabilities",
            json!({ "bounding": caps, "effective": caps, "permitted": caps, "inheritable": caps, "ambient": caps }),
        )
        .sh("grep -E '^Cap[A-Za-z]+:' /proc/self/status");
    let id = unique_id("ambient");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    let want = 1u64 << 10; // CAP_NET_BIND_SERVICE
    assert_eq!(cap_mask(&out, "CapAmb"), want, "{}", out.dump());
    assert_eq!(cap_mask(&out, "CapEff"), want, "{}", out.dump());
    cleanup_check(&root, &b, &id, &[]);
}

#[test]
fn rlimits_no_new_privileges_and_oom_score_adj() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.process_field("rlimits", json!([{ "type": "RLIMIT_NOFILE", "soft": 1000, "hard": 2000 }]))
        .process_field("noNewPrivileges", json!(true))
        .process_field("oomScoreAdj", json!(321))
        .sh("grep 'Max open files' /proc/self/limits; grep NoNewPrivs /proc/self/status; echo oom=$(cat /proc/self/oom_score_adj)");
    let id = unique_id("rlimit");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let nums: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(nums, vec!["1000", "2000"], "{}", out.dump());
    assert_eq!(status_field(&out, "NoNewPrivs"), "1", "{}", out.dump());
    assert_eq!(out.must_value("oom"), "321", "{}", out.dump());
    cleanup_check(&root, &b, &id, &[]);
}

/// The payload is a session leader of its own (setsid).
#[test]
fn payload_is_a_session_leader() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.args(&[
        "/bin/sh",
        "-c",
        "echo pid=$$; echo sid=$(cut -d' ' -f6 /proc/$$/stat)",
    ]);
    let id = unique_id("setsid");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    assert_eq!(
        out.must_value("pid"),
        out.must_value("sid"),
        "{}",
        out.dump()
    );
    cleanup_check(&root, &b, &id, &[]);
}
