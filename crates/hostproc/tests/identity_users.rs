//! Who the payload runs as: names, Windows account names, ephemeral users in a group,
//! inherit-user. Real users on this host, removed again.

mod common;

use std::process::Command;

use common::*;
use serde_json::json;

const NAME: &str = "hostproc.io/run-as-user-name";

fn passwd_entries(prefix: &str) -> Vec<String> {
    std::fs::read_to_string("/etc/passwd").unwrap().lines().filter(|l| l.starts_with(prefix)).map(str::to_owned).collect()
}

fn check_output(cmd: &str) -> String {
    let out = Command::new(cmd).arg("-r").output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn a_group_name_gives_an_ephemeral_user_visible_by_name_and_gone_afterwards() {
    let pwck_before = check_output("pwck");
    let grpck_before = check_output("grpck");
    let root = Root::new();
    let mut b = Bundle::new();
    b.annotation(NAME, "adm").sh(
        "echo uid=$(id -u); echo gid=$(id -gn); echo name=$(id -un); echo who=$(whoami); \
         f=$(mktemp); echo owner=$(ls -l $f | awk '{print $3\":\"$4}'); rm -f $f; \
         echo inpasswd=$(grep -c \"^$(id -un):\" /etc/passwd)",
    );
    let id = unique_id("eph");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    let uid: u32 = out.must_value("uid").parse().unwrap();
    assert!((61184..=65519).contains(&uid), "uid {uid} outside the ephemeral range:\n{}", out.dump());
    let name = out.must_value("name");
    assert!(name.starts_with(&format!("hp{uid}-")), "{}", out.dump());
    assert_eq!(out.must_value("who"), name);
    assert_eq!(out.must_value("gid"), "adm", "the group is the user's primary group");
    assert_eq!(out.must_value("owner"), format!("{name}:adm"));
    assert_eq!(out.must_value("inpasswd"), "1");
    // Gone afterwards: no entry, no uid lock.
    assert!(passwd_entries(&format!("{name}:")).is_empty(), "user {name} left behind");
    assert!(!std::path::Path::new(&format!("/run/systemd/dynamic-uid/{uid}")).exists(), "uid lock left behind");
    assert_eq!(check_output("pwck"), pwck_before, "pwck -r changed");
    assert_eq!(check_output("grpck"), grpck_before, "grpck -r changed");
    cleanup_check(&root, &b, &id, &[]);
}

#[test]
fn fifty_containers_at_once_get_fifty_distinct_uids() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.annotation(NAME, "adm").sh("echo uid=$(id -u); sleep 1");
    b.write();
    let ids: Vec<String> = (0..50).map(|i| unique_id(&format!("many{i}"))).collect();
    // The config is written once above; run_command would rewrite it under the readers.
    let running: Vec<_> = ids
        .iter()
        .map(|id| {
            let mut c = command(&root);
            c.arg("run").arg("--bundle").arg(b.path()).arg(id);
            spawn(c)
        })
        .collect();
    let mut uids = std::collections::BTreeSet::new();
    for r in running {
        let out = r.finish(TIMEOUT);
        out.assert_code(0);
        uids.insert(out.must_value("uid"));
    }
    assert_eq!(uids.len(), 50, "uids were shared: {uids:?}");
    for id in &ids {
        assert!(ephemeral_users_for(id).is_empty(), "user of {id} left behind");
    }
}

#[test]
fn killed_right_after_creating_the_user_then_delete_force_removes_it() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.annotation(NAME, "adm").sh("sleep 100");
    let id = unique_id("ephcrash");
    b.write();
    let mut cmd = command(&root);
    cmd.env("HOSTPROC_CRASH_AT", "after-user").arg("create").arg("--bundle").arg(b.path()).arg(&id);
    let out = execute(cmd);
    assert_eq!(out.signal, Some(9), "hostproc should have died at the crash point:\n{}", out.dump());
    let made = ephemeral_users_for(&id);
    assert_eq!(made.len(), 1, "the user existed at the crash point");
    hostproc(&root, &["delete", "--force", &id]).assert_code(0);
    assert!(ephemeral_users_for(&id).is_empty(), "user left after delete --force: {made:?}");
    cleanup_check(&root, &b, &id, &[]);
}

#[test]
fn existing_user_runs_with_its_primary_and_supplementary_groups() {
    // A user of our own with a supplementary group, removed at the end.
    let user = format!("hptu{}", std::process::id() % 100000);
    let ok = Command::new("useradd").args(["--system", "--no-create-home", "--no-user-group", "--gid", "nogroup", "--groups", "adm", &user]).status().unwrap();
    assert!(ok.success());
    struct Del(String);
    impl Drop for Del {
        fn drop(&mut self) {
            let _ = Command::new("userdel").arg(&self.0).status();
        }
    }
    let _del = Del(user.clone());
    let root = Root::new();
    let mut b = Bundle::new();
    b.annotation(NAME, &user).sh("echo name=$(id -un); echo gid=$(id -gn); echo groups=$(id -Gn)");
    let id = unique_id("exist");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    assert_eq!(out.must_value("name"), user);
    assert_eq!(out.must_value("gid"), "nogroup");
    assert!(out.must_value("groups").split(' ').any(|g| g == "adm"), "{}", out.dump());
    cleanup_check(&root, &b, &id, &[]);
}

#[test]
fn windows_account_names_map_as_documented() {
    for (name, want_uid, want_gid) in [
        ("NT AUTHORITY\\SYSTEM", "0", "0"),
        ("NT AUTHORITY\\Local service", "65534", "65534"),
        ("NT AUTHORITY\\NetworkService", "65534", "65534"),
    ] {
        let root = Root::new();
        let mut b = Bundle::new();
        b.user(1000, 1000, &[], None).annotation(NAME, name).sh("echo uid=$(id -u); echo gid=$(id -g)");
        let id = unique_id("win");
        let out = run(&root, &b, &id);
        out.assert_code(0);
        assert_eq!(out.must_value("uid"), want_uid, "{name}");
        assert_eq!(out.must_value("gid"), want_gid, "{name}");
        cleanup_check(&root, &b, &id, &[]);
    }
}

#[test]
fn names_kubernetes_rejects_and_unknown_names_are_clear_errors() {
    for (name, needle) in [
        ("a@b", "runAsUserName's User cannot contain the following characters"),
        ("a\\b\\c", "cannot contain more than one backslash"),
        ("", "runAsUserName cannot be an empty string"),
        ("no-such-user-or-group-hp", "no such user or group"),
        ("CORP\\alice", "domain accounts are not available on Linux"),
    ] {
        let root = Root::new();
        let mut b = Bundle::new();
        b.annotation(NAME, name).sh("true");
        let id = unique_id("badname");
        let out = run(&root, &b, &id);
        out.assert_error();
        assert!(out.stderr.contains(needle), "{name:?}: {}", out.dump());
        cleanup_check(&root, &b, &id, &[]);
    }
}

#[test]
fn inherit_user_runs_as_the_caller() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.user(65534, 65534, &[], None).annotation("microsoft.com/hostprocess-inherit-user", "true").sh("echo uid=$(id -u); echo gid=$(id -g)");
    let id = unique_id("inherit");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    // SAFETY: getuid/getgid cannot fail.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    assert_eq!(out.must_value("uid"), uid.to_string());
    assert_eq!(out.must_value("gid"), gid.to_string());
    cleanup_check(&root, &b, &id, &[]);
}

#[test]
fn exec_runs_as_the_ephemeral_user_by_default() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.annotation(NAME, "adm").sh("sleep 100");
    let id = unique_id("ephexec");
    b.write();
    let mut cmd = command(&root);
    cmd.arg("create").arg("--bundle").arg(b.path()).arg(&id);
    execute(cmd).assert_code(0);
    hostproc(&root, &["start", &id]).assert_code(0);
    let out = hostproc(&root, &["exec", &id, "/bin/sh", "-c", "echo name=$(id -un); echo gid=$(id -gn)"]);
    out.assert_code(0);
    assert!(out.must_value("name").starts_with("hp"), "{}", out.dump());
    assert_eq!(out.must_value("gid"), "adm");
    hostproc(&root, &["delete", "--force", &id]).assert_code(0);
    assert!(ephemeral_users_for(&id).is_empty(), "user left after delete");
    cleanup_check(&root, &b, &id, &[]);
}

/// The gid of host group `name`.
fn host_gid(name: &str) -> u32 {
    let out = Command::new("getent").args(["group", name]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).split(':').nth(2).and_then(|g| g.trim().parse().ok()).unwrap_or_else(|| panic!("no host group {name}"))
}

/// The gids `id -G` printed: the gid, then the groups sorted (the kernel keeps them so).
fn id_groups(out: &Output) -> Vec<u32> {
    let mut g: Vec<u32> = out.must_value("groups").split_whitespace().map(|g| g.parse().unwrap()).collect();
    g[1..].sort_unstable();
    g
}

/// `want` in the order [`id_groups`] gives.
fn sorted(mut want: Vec<u32>) -> Vec<u32> {
    want[1..].sort_unstable();
    want
}

/// containerd (WithAdditionalGIDs) puts into additionalGids the primary gid, the groups of
/// the IMAGE's /etc/group that list the user, and the pod's supplementalGroups. A
/// HostProcess payload runs as a host account: the image's groups go unless the host's
/// group of that number has the same name, the host account's own groups come, the pod's
/// stay. Host users and groups made here, removed at the end.
#[test]
fn groups_containerd_took_from_the_image_give_way_to_the_host_accounts() {
    let tag = std::process::id() % 100000;
    let (ga, gb, user) = (format!("hpga{tag}"), format!("hpgb{tag}"), format!("hpgu{tag}"));
    struct Undo(Vec<(&'static str, String)>);
    impl Drop for Undo {
        fn drop(&mut self) {
            for (cmd, name) in self.0.iter().rev() {
                let _ = Command::new(cmd).arg(name).status();
            }
        }
    }
    let mut undo = Undo(Vec::new());
    for g in [&ga, &gb] {
        assert!(Command::new("groupadd").args(["--system", g]).status().unwrap().success());
        undo.0.push(("groupdel", g.clone()));
    }
    // The host account: a member of gb on the host.
    let ok = Command::new("useradd").args(["--system", "--no-create-home", "--no-user-group", "--gid", "nogroup", "--groups", &gb, &user]).status().unwrap();
    assert!(ok.success());
    undo.0.push(("userdel", user.clone()));
    let uid: u32 = String::from_utf8_lossy(&Command::new("id").args(["-u", &user]).output().unwrap().stdout).trim().parse().unwrap();
    let (ga_gid, gb_gid) = (host_gid(&ga), host_gid(&gb));
    // The image knows the uid as imguser, in its own "imgwheel" (ga's number on the host)
    // and in adm (4, adm on the host too).
    let image = |b: &Bundle, with_group: bool| {
        b.write_file("etc/passwd", &format!("root:x:0:0:root:/root:/bin/sh\nimguser:x:{uid}:65534::/home/imguser:/bin/sh\n"), 0o644);
        if with_group {
            b.write_file("etc/group", &format!("root:x:0:\nadm:x:4:imguser\nimgwheel:x:{ga_gid}:imguser\nimguser:x:{uid}:imguser\nnogroup:x:65534:\n"), 0o644);
        }
    };
    // As containerd writes it: primary, the image's groups, the pod's supplementalGroups (4242).
    let spec_gids = [65534, 4, ga_gid, 4242];

    let root = Root::new();
    let mut b = Bundle::new();
    image(&b, true);
    b.user(uid, 65534, &spec_gids, None).sh("echo groups=$(id -G)");
    let id = unique_id("imggroups");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    assert_eq!(id_groups(&out), sorted(vec![65534, 4, 4242, gb_gid]), "the image's imgwheel gone, adm and the pod's kept, the host's {gb} added:\n{}", out.dump());
    let warning = format!("dropped {ga_gid} (the image's imgwheel; {ga} on this host)");
    assert!(out.stderr.contains(&warning) && out.stderr.contains("process.user.additionalGids"), "{warning:?} not said:\n{}", out.dump());
    assert_eq!(out.stderr.matches("additionalGids").count(), 1, "said once:\n{}", out.dump());
    cleanup_check(&root, &b, &id, &[]);

    // exec runs with the same groups.
    let mut b2 = Bundle::new();
    image(&b2, true);
    b2.user(uid, 65534, &spec_gids, None).sh("sleep 100");
    let id2 = unique_id("imggroupsexec");
    // Through files: the detached payload keeps its stdio open.
    let c = common::lc::Ctr::new(&root, &id2);
    c.run_detached(&b2, &[]).assert_code(0);
    let out = c.exec(&[], &["/bin/sh", "-c", "echo groups=$(id -G)"]);
    // containerd's exec (kubectl exec, ExecSync) sends a copy of the container's process,
    // process.user and all.
    let pj = c.scratch().join("process.json");
    let process = json!({
        "user": { "uid": uid, "gid": 65534, "additionalGids": spec_gids },
        "args": ["/bin/sh", "-c", "echo groups=$(id -G)"],
        "env": ["PATH=/usr/bin:/bin"],
        "cwd": "/"
    });
    std::fs::write(&pj, process.to_string()).unwrap();
    let out_pj = c.exec(&["--process", pj.to_str().unwrap()], &[]);
    c.delete_force().assert_code(0);
    out.assert_code(0);
    assert_eq!(id_groups(&out), sorted(vec![65534, 4, 4242, gb_gid]), "{}", out.dump());
    out_pj.assert_code(0);
    assert_eq!(id_groups(&out_pj), sorted(vec![65534, 4, 4242, gb_gid]), "exec --process:\n{}", out_pj.dump());
    cleanup_check(&root, &b2, &id2, &[]);

    // Without an /etc/group in the rootfs, the spec's groups are applied as given.
    let mut b = Bundle::new();
    image(&b, false);
    b.user(uid, 65534, &spec_gids, None).sh("echo groups=$(id -G)");
    let id = unique_id("imgnogroup");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    assert_eq!(id_groups(&out), sorted(vec![65534, 4, ga_gid, 4242]), "{}", out.dump());
    assert!(!out.stderr.contains("additionalGids"), "{}", out.dump());
    cleanup_check(&root, &b, &id, &[]);
}

/// The issue's case: a busybox image lists root in `wheel` (10), which is `uucp` on this
/// host; containerd passes [0, 10] for root. The payload gets root's host groups only.
#[test]
fn busybox_wheel_is_not_the_hosts_uucp() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.write_file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", 0o644);
    b.write_file("etc/group", "root:x:0:\nwheel:x:10:root\nnogroup:x:65534:\n", 0o644);
    b.user(0, 0, &[0, 10], None).sh("echo groups=$(id -G)");
    let id = unique_id("busybox");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    let host_root: Vec<u32> = std::fs::read_to_string("/etc/group")
        .unwrap()
        .lines()
        .filter(|l| l.split(':').nth(3).is_some_and(|m| m.split(',').any(|u| u == "root")))
        .filter_map(|l| l.split(':').nth(2)?.parse().ok())
        .filter(|g| *g != 0)
        .collect();
    let want: Vec<u32> = std::iter::once(0).chain(host_root).collect();
    assert_eq!(id_groups(&out), sorted(want), "wheel (10) must not arrive as the host's group 10:\n{}", out.dump());
    assert!(out.stderr.contains("dropped 10 (the image's wheel;"), "{}", out.dump());
    cleanup_check(&root, &b, &id, &[]);

    // No runAsUser, the image's USER nobody: containerd still asks for uid 0's groups.
    b.user(65534, 65534, &[65534, 10], None);
    let id = unique_id("busyboxnobody");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    assert_eq!(id_groups(&out), vec![65534], "{}", out.dump());
    assert!(out.stderr.contains("dropped 10 (the image's wheel;"), "{}", out.dump());
    cleanup_check(&root, &b, &id, &[]);
}
