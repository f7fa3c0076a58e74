//! linux.resources field by field against the real cgroups of this host (issue 11,
//! defect 2): applied and read back from the cgroup file, refused at create with the field
//! named, or warned about; `update` by the same rules. And an absolute cgroupsPath whose
//! parents are missing (defect 5): made in every hierarchy and removed again.
//! The v2 mappings are tested in crates/job/tests/fields.rs (this host's v2 hierarchy has
//! no controllers).

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::lc::*;
use common::*;
use serde_json::json;

const MIB: u64 = 1024 * 1024;

fn v1_memory() -> bool {
    Path::new("/sys/fs/cgroup/memory/cgroup.procs").exists()
}

fn host_has(controller: &str) -> bool {
    fs::read_to_string("/proc/self/cgroup").unwrap().lines().any(|l| l.split(':').nth(1).is_some_and(|c| c.split(',').any(|c| c == controller)))
}

/// disableOOMKiller (runc writes 1 to memory.oom_control), useHierarchy and the cpu
/// extras reach their v1 files; the deprecated kernel limits and the device rules are
/// warned about and the container runs.
#[test]
fn v1_memory_and_cpu_fields_are_written_and_the_rest_warned_about() {
    if !v1_memory() || !Path::new("/sys/fs/cgroup/cpu/cpu.cfs_burst_us").exists() {
        eprintln!("not a cgroup v1 host with cpu.cfs_burst_us: covered by the job crate's v2 tests");
        return;
    }
    let root = Root::new();
    let mut b = Bundle::new();
    b.resources(json!({
        "devices": [{ "allow": false, "access": "rwm" }],
        "memory": { "limit": 256 * MIB, "disableOOMKiller": true, "useHierarchy": true, "kernel": 64 * MIB, "kernelTCP": 16 * MIB },
        "cpu": { "quota": 50000, "period": 100000, "burst": 10000, "realtimePeriod": 500000, "realtimeRuntime": 0, "idle": 1 }
    }))
    .sh(&format!(
        "{m}echo oom=$(grep oom_kill_disable $CG/memory.oom_control | cut -d' ' -f2); echo hier=$(cat $CG/memory.use_hierarchy); \
         {c}echo burst=$(cat $CG/cpu.cfs_burst_us); echo rtp=$(cat $CG/cpu.rt_period_us); echo rtr=$(cat $CG/cpu.rt_runtime_us); echo idle=$(cat $CG/cpu.idle)",
        m = sh_own_cgroup("memory"),
        c = sh_own_cgroup("cpu")
    ));
    let id = unique_id("fields");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    for (k, v) in [("oom", "1"), ("hier", "1"), ("burst", "10000"), ("rtp", "500000"), ("rtr", "0"), ("idle", "1")] {
        assert_eq!(out.must_value(k), v, "{k}:\n{}", out.dump());
    }
    for warned in ["linux.resources.memory.kernel is deprecated", "linux.resources.memory.kernelTCP is deprecated", "linux.resources.devices is not applied"] {
        assert!(out.stderr.contains(warned), "no warning {warned:?}:\n{}", out.dump());
    }
    cleanup_check(&root, &b, &id, &[]);
}

/// hugepageLimits, network (classID, priorities) and rdma on a host without their
/// controller (this one has none of them mounted), and unified files on a host whose
/// controllers are v1: refused at create naming the field, nothing left behind.
#[test]
fn fields_this_host_cannot_apply_are_refused_at_create() {
    let cases = [
        ("hugetlb", json!({ "hugepageLimits": [{ "pageSize": "2MB", "limit": 4194304 }] }), "linux.resources.hugepageLimits", "hugetlb cgroup controller"),
        ("net_cls", json!({ "network": { "classID": 1048577 } }), "linux.resources.network.classID", "no net_cls cgroup controller"),
        ("net_prio", json!({ "network": { "priorities": [{ "name": "lo", "priority": 5 }] } }), "linux.resources.network.priorities", "no net_prio cgroup controller"),
        ("rdma", json!({ "rdma": { "mlx5_0": { "hcaHandles": 2 } } }), "linux.resources.rdma", "no rdma cgroup controller"),
    ];
    let root = Root::new();
    let mut tried = 0;
    for (controller, res, field, why) in cases {
        // This hybrid host offers hugetlb in cgroup v2 only, where the caller's cgroup does
        // not pass it down: refused as not enabled.
        if host_has(controller) {
            eprintln!("{controller}: this host has it; applied, as the job crate's tests show");
            continue;
        }
        tried += 1;
        let mut b = Bundle::new();
        b.resources(res).sh("echo ran");
        let id = unique_id(controller);
        let out = run(&root, &b, &id);
        out.assert_code(1);
        assert!(out.stderr.contains(field) && out.stderr.contains(why), "{field}:\n{}", out.dump());
        assert!(!out.stdout.contains("ran"), "{field}: the payload ran:\n{}", out.dump());
        cleanup_check(&root, &b, &id, &[]);
    }
    if v1_memory() {
        tried += 1;
        let mut b = Bundle::new();
        b.resources(json!({ "unified": { "memory.high": "100000000" } })).sh("echo ran");
        let id = unique_id("unified");
        let out = run(&root, &b, &id);
        out.assert_code(1);
        assert!(out.stderr.contains("linux.resources.unified") && out.stderr.contains("memory.high is a cgroup v2 file"), "{}", out.dump());
        cleanup_check(&root, &b, &id, &[]);
    }
    eprintln!("{tried} refusals checked");
}

/// update: applied, warned about and refused as at create; checkBeforeUpdate refuses a
/// limit below the job's usage and changes nothing.
#[test]
fn update_follows_the_rules_of_create() {
    if !v1_memory() {
        eprintln!("not a cgroup v1 host: covered by the job crate's tests");
        return;
    }
    let root = Root::new();
    let mut b = Bundle::new();
    b.grace("1s").resources(json!({ "memory": { "limit": 256 * MIB } })).sh("echo payload-ran; exec sleep 1000");
    let id = unique_id("updf");
    let c = Ctr::new(&root, &id);
    c.create(&b, &[]).assert_code(0);
    c.start().assert_code(0);
    let dir = cgroup_dir_of(c.pid(), "memory").expect("memory cgroup");
    let update = |res: serde_json::Value| hp_stdin(&root, &["update", "--resources", "-", &id], Some(res.to_string().as_bytes()));

    let out = update(json!({ "memory": { "disableOOMKiller": true, "kernel": 1048576 } }));
    out.assert_code(0);
    assert!(read_trim(&dir.join("memory.oom_control")).contains("oom_kill_disable 1"), "{}", dir.display());
    assert!(out.stderr.contains("linux.resources.memory.kernel is deprecated"), "{}", out.dump());

    if !host_has("hugetlb") {
        let out = update(json!({ "hugepageLimits": [{ "pageSize": "2MB", "limit": 4194304 }] }));
        out.assert_code(1);
        assert!(out.stderr.contains("linux.resources.hugepageLimits") && out.stderr.contains("hugetlb"), "{}", out.dump());
    }

    let out = update(json!({ "memory": { "limit": 4096, "checkBeforeUpdate": true } }));
    out.assert_code(1);
    assert!(out.stderr.contains("checkBeforeUpdate") && out.stderr.contains("linux.resources.memory.limit"), "{}", out.dump());
    assert_eq!(read_trim(&dir.join("memory.limit_in_bytes")), (256 * MIB).to_string(), "unchanged");

    let out = c.delete_force();
    assert_eq!(out.code, Some(0), "{}", out.dump());
    cleanup_check(&root, &b, &id, &[]);
}

/// Each hierarchy's mount point and the caller's own cgroup in it (as /proc/self/cgroup
/// names it, with its leading `/`), for the hierarchies hostproc may use.
fn hierarchies() -> Vec<(PathBuf, String)> {
    let base = Path::new("/sys/fs/cgroup");
    let pure_v2 = base.join("cgroup.controllers").exists();
    fs::read_to_string("/proc/self/cgroup")
        .unwrap()
        .lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let (_, ctrls, own) = (it.next()?, it.next()?, it.next()?);
            let mount = match ctrls {
                "" if pure_v2 => base.to_path_buf(),
                "" => base.join("unified"),
                c if c.starts_with("name=") => return None,
                c => [base.join(c), base.join(c.split(',').next()?)].into_iter().find(|m| m.join("cgroup.procs").exists())?,
            };
            mount.join("cgroup.procs").exists().then(|| (mount, own.to_owned()))
        })
        .collect()
}

/// Removes, deepest first, every directory of `made` still there (the test's own
/// cleanup, should hostproc leave any).
struct Rmdirs(Vec<PathBuf>);

impl Drop for Rmdirs {
    fn drop(&mut self) {
        for d in self.0.iter().rev() {
            let _ = fs::remove_dir(d);
        }
    }
}

/// `ctr run --cgroup /a/b/id`: an absolute cgroupsPath whose parents do not exist. The
/// machine forbids cgroups outside the test's own in any hierarchy, and an absolute path
/// is the same string in each: so the path is put beneath the deepest of the test's own
/// cgroups, which lies beneath (or is) its own cgroup in every other hierarchy here (the
/// memory cgroup is /process_api/<hash>, the others /). The parents hostproc makes are
/// removed with the job; those that existed stay.
#[test]
fn absolute_cgroups_path_gets_its_missing_parents_and_removes_them() {
    let hs = hierarchies();
    let deepest = hs.iter().map(|(_, own)| own.clone()).max_by_key(|o| o.len()).unwrap();
    let nested = |own: &str| own == "/" || deepest == own || deepest.starts_with(&format!("{own}/"));
    if let Some((m, own)) = hs.iter().find(|(_, own)| !nested(own)) {
        eprintln!("skipped: the test's own cgroups are not nested ({own} in {}, {deepest} elsewhere): an absolute path would leave one of them", m.display());
        return;
    }
    let id = unique_id("abs");
    let top = format!("{}/{id}-p", deepest.trim_end_matches('/'));
    let path = format!("{top}/a/{id}");
    // Every level below the mount that does not exist yet, in each hierarchy, shallow first.
    let mut missing = Vec::new();
    let mut existing = Vec::new();
    for (mount, _) in &hs {
        let mut cur = mount.clone();
        for c in Path::new(&path).components().skip(1) {
            cur.push(c);
            if cur.exists() { existing.push(cur.clone()) } else { missing.push(cur.clone()) }
        }
    }
    assert!(existing.iter().all(|p| !p.ends_with(&id)), "job directory exists already");
    let _guard = Rmdirs(missing.clone());
    assert!(missing.len() >= 3 * hs.len(), "the parents {top} and {top}/a and the job are new in each hierarchy: {missing:?}");
    eprintln!("{path}: {} levels to make, {} existing", missing.len(), existing.len());
    let root = Root::new();
    let mut b = Bundle::new();
    b.cgroups_path(&path).sh("cat /proc/self/cgroup");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    let lines: Vec<&str> = out.stdout.lines().filter(|l| l.contains(':')).collect();
    for ctrl in ["memory", "cpu", "pids"] {
        if !host_has(ctrl) {
            continue;
        }
        let line = lines.iter().find(|l| l.split(':').nth(1).is_some_and(|c| c.split(',').any(|c| c == ctrl))).unwrap_or_else(|| panic!("{ctrl}:\n{}", out.dump()));
        assert!(line.ends_with(&path), "{ctrl}: the payload is not in {path}: {line}");
    }
    for p in &missing {
        assert!(!p.exists(), "a parent hostproc made is left: {}", p.display());
    }
    for p in &existing {
        assert!(p.exists(), "a parent that existed was removed: {}", p.display());
    }
    cleanup_check(&root, &b, &id, &[]);
}
