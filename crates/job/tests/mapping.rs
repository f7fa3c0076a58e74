//! Resource mapping against temporary directories laid out like cgroupfs (v2 and v1),
//! so the v2 path is tested on this hybrid host too. Real cgroups are exercised by the
//! binary's integration tests.
#![cfg(unix)]

use std::fs;
use std::path::Path;

use hostproc_job::{CgroupRoot, HierarchyKind, Job, JobError, Layout, Resources, ThrottleDevice};

mod common;
use common::{read, touch};

const V2_FILES: &[&str] = &[
    "cgroup.procs", "memory.max", "memory.low", "memory.swap.max", "cpu.weight", "cpu.max", "cpuset.cpus",
    "cpuset.mems", "pids.max", "io.weight", "io.max", "memory.high",
];

fn v2_root() -> (tempfile::TempDir, CgroupRoot) {
    let t = tempfile::tempdir().unwrap();
    fs::write(t.path().join("cgroup.controllers"), "cpuset cpu io memory pids\n").unwrap();
    touch(t.path(), &["cgroup.procs"]);
    let root = CgroupRoot(t.path().to_path_buf());
    (t, root)
}

#[test]
fn v2_layout_places_relative_paths_under_the_callers_cgroup() {
    let (t, root) = v2_root();
    let layout = Layout::from_proc_cgroup(&root, "0::/user.slice/session-1\n").unwrap();
    assert_eq!(layout.hierarchies.len(), 1);
    assert!(!layout.is_v1());
    let placed = layout.place(None, "c1").unwrap();
    assert_eq!(placed[0].0, t.path().join("user.slice/session-1/hostproc/c1"));
    assert_eq!(placed[0].1, t.path().join("user.slice/session-1"));
    let placed = layout.place(Some(Path::new("/kubepods/pod1/c1")), "c1").unwrap();
    assert_eq!(placed[0].0, t.path().join("kubepods/pod1/c1"));
    let placed = layout.place(Some(Path::new("mine/c1")), "c1").unwrap();
    assert_eq!(placed[0].0, t.path().join("user.slice/session-1/mine/c1"));
    assert!(matches!(layout.place(Some(Path::new("../escape")), "c1"), Err(JobError::BadPath(_))));
    assert!(matches!(layout.place(Some(Path::new("/")), "c1"), Err(JobError::BadPath(_))));
}

#[test]
fn v2_resources_are_written_with_runc_conversions() {
    let (t, root) = v2_root();
    let layout = Layout::from_proc_cgroup(&root, "0::/\n").unwrap();
    let dir = t.path().join("hostproc/c2");
    touch(&dir, V2_FILES);
    let res = Resources {
        memory_limit: Some(256 << 20),
        memory_reservation: Some(128 << 20),
        memory_swap: Some(512 << 20),
        cpu_shares: Some(1024),
        cpu_quota: Some(50_000),
        cpu_period: Some(100_000),
        cpu_cpus: Some("0".into()),
        cpu_mems: Some("0".into()),
        pids_limit: Some(42),
        blkio_weight: Some(500),
        throttle_read_bps: vec![ThrottleDevice { major: 8, minor: 0, rate: 1_048_576 }],
        unified: [("memory.high".to_string(), "200000000".to_string())].into(),
        ..Default::default()
    };
    let job = Job::create(&layout, None, "c2", &res).unwrap();
    assert_eq!(read(dir.join("memory.max")), (256u64 << 20).to_string());
    assert_eq!(read(dir.join("memory.low")), (128u64 << 20).to_string());
    assert_eq!(read(dir.join("memory.swap.max")), (256u64 << 20).to_string(), "v2 swap excludes memory");
    assert_eq!(read(dir.join("cpu.weight")), "39", "runc's shares-to-weight: 1 + (1024-2)*9999/262142");
    assert_eq!(read(dir.join("cpu.max")), "50000 100000");
    assert_eq!(read(dir.join("cpuset.cpus")), "0");
    assert_eq!(read(dir.join("pids.max")), "42");
    assert_eq!(read(dir.join("io.weight")), "4950");
    assert_eq!(read(dir.join("io.max")), "8:0 rbps=1048576");
    assert_eq!(read(dir.join("memory.high")), "200000000");
    assert_eq!(job.dirs.len(), 1);
}

#[test]
fn v2_unlimited_values_become_max() {
    let (t, root) = v2_root();
    let layout = Layout::from_proc_cgroup(&root, "0::/\n").unwrap();
    let dir = t.path().join("hostproc/c3");
    touch(&dir, V2_FILES);
    let res = Resources { memory_limit: Some(-1), memory_swap: Some(-1), pids_limit: Some(-1), cpu_quota: Some(-1), ..Default::default() };
    Job::create(&layout, None, "c3", &res).unwrap();
    assert_eq!(read(dir.join("memory.max")), "max");
    assert_eq!(read(dir.join("memory.swap.max")), "max");
    assert_eq!(read(dir.join("pids.max")), "max");
    assert_eq!(read(dir.join("cpu.max")), "max");
}

fn v1_root(memory_own: &str) -> (tempfile::TempDir, CgroupRoot, String) {
    let t = tempfile::tempdir().unwrap();
    for c in ["cpu", "cpuacct", "cpuset", "memory", "pids", "freezer", "blkio", "devices"] {
        touch(&t.path().join(c), &["cgroup.procs"]);
    }
    touch(&t.path().join("cpuset"), &["cpuset.cpus", "cpuset.mems"]);
    fs::write(t.path().join("cpuset/cpuset.cpus"), "0-1\n").unwrap();
    touch(&t.path().join("unified"), &["cgroup.procs", "cgroup.controllers"]);
    let proc = format!(
        "9:name=systemd:/\n8:pids:/\n7:blkio:/\n6:freezer:/\n5:devices:/\n4:memory:{memory_own}\n3:cpuset:/\n2:cpuacct:/\n1:cpu:/\n0::/\n"
    );
    let root = CgroupRoot(t.path().to_path_buf());
    (t, root, proc)
}

#[test]
fn hybrid_layout_follows_the_callers_cgroup_in_each_hierarchy() {
    let (t, root, proc) = v1_root("/machine/managed");
    let layout = Layout::from_proc_cgroup(&root, &proc).unwrap();
    assert!(layout.is_v1());
    assert!(layout.hierarchies[0].is_unified(), "unified first: it has cgroup.kill");
    assert_eq!(layout.hierarchies.len(), 7, "six v1 controllers and unified; devices and name=systemd skipped, and freezer (the v2 one freezes)");
    assert!(!layout.hierarchies.iter().any(|h| matches!(&h.kind, HierarchyKind::V1 { controllers } if controllers.iter().any(|c| c == "freezer"))));
    let placed = layout.place(None, "c4").unwrap();
    let mem = placed.iter().find(|(d, _)| d.starts_with(t.path().join("memory"))).unwrap();
    assert_eq!(mem.0, t.path().join("memory/machine/managed/hostproc/c4"));
    let cpu = placed.iter().find(|(d, _)| d.starts_with(t.path().join("cpu/"))).unwrap();
    assert_eq!(cpu.0, t.path().join("cpu/hostproc/c4"));
}

/// Without a v2 hierarchy the v1 freezer is what pause and kill-all freeze with: kept.
#[test]
fn pure_v1_layout_keeps_the_freezer() {
    let (_t, root, proc) = v1_root("/m");
    let proc = proc.replace("0::/\n", "");
    let layout = Layout::from_proc_cgroup(&root, &proc).unwrap();
    assert_eq!(layout.hierarchies.len(), 7, "seven v1 controllers: {:?}", layout.hierarchies);
    assert!(layout.hierarchies.iter().any(|h| matches!(&h.kind, HierarchyKind::V1 { controllers } if controllers == &["freezer"])));
}

#[test]
fn v1_resources_are_written_to_their_controllers() {
    let (t, root, proc) = v1_root("/");
    let layout = Layout::from_proc_cgroup(&root, &proc).unwrap();
    touch(&t.path().join("memory/hostproc/c5"), &["cgroup.procs", "memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.soft_limit_in_bytes"]);
    touch(&t.path().join("cpu/hostproc/c5"), &["cgroup.procs", "cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us"]);
    touch(&t.path().join("pids/hostproc/c5"), &["cgroup.procs", "pids.max"]);
    touch(&t.path().join("blkio/hostproc/c5"), &["cgroup.procs", "blkio.bfq.weight"]);
    let res = Resources {
        memory_limit: Some(64 << 20),
        memory_swap: Some(64 << 20),
        memory_reservation: Some(32 << 20),
        cpu_shares: Some(512),
        cpu_quota: Some(20_000),
        cpu_period: Some(100_000),
        pids_limit: Some(7),
        blkio_weight: Some(300),
        ..Default::default()
    };
    let job = Job::create(&layout, None, "c5", &res).unwrap();
    let p = |s: &str| t.path().join(s);
    assert_eq!(read(p("memory/hostproc/c5/memory.limit_in_bytes")), (64u64 << 20).to_string());
    assert_eq!(read(p("memory/hostproc/c5/memory.memsw.limit_in_bytes")), (64u64 << 20).to_string(), "v1 swap counts memory+swap");
    assert_eq!(read(p("memory/hostproc/c5/memory.soft_limit_in_bytes")), (32u64 << 20).to_string());
    assert_eq!(read(p("cpu/hostproc/c5/cpu.shares")), "512");
    assert_eq!(read(p("cpu/hostproc/c5/cpu.cfs_quota_us")), "20000");
    assert_eq!(read(p("cpu/hostproc/c5/cpu.cfs_period_us")), "100000");
    assert_eq!(read(p("pids/hostproc/c5/pids.max")), "7");
    assert_eq!(read(p("blkio/hostproc/c5/blkio.bfq.weight")), "300", "BFQ's file when CFQ's blkio.weight is absent");
    assert_eq!(job.dirs.len(), 7, "unified and six v1 (no freezer beside a v2 one)");
}

#[test]
fn a_limit_the_host_lacks_is_a_clear_error_and_nothing_is_left() {
    let (t, root, proc) = v1_root("/");
    let layout = Layout::from_proc_cgroup(&root, &proc).unwrap();
    // No memory.memsw.limit_in_bytes: swap accounting is off on this "host".
    touch(&t.path().join("memory/hostproc/c6"), &["cgroup.procs", "memory.limit_in_bytes"]);
    let res = Resources { memory_limit: Some(1 << 20), memory_swap: Some(2 << 20), ..Default::default() };
    let err = Job::create(&layout, None, "c6", &res).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("linux.resources.memory.swap") && msg.contains("swapaccount=1"), "{msg}");
    // Every job directory it made is gone again (the pre-made memory one holds files, so
    // a plain directory stays; the others were created by Job::create).
    assert!(!t.path().join("cpu/hostproc/c6").exists());
    assert!(!t.path().join("pids/hostproc").exists());
}

#[test]
fn out_of_range_values_are_refused_before_anything_is_made() {
    let (t, root) = v2_root();
    let layout = Layout::from_proc_cgroup(&root, "0::/\n").unwrap();
    for (res, field) in [
        (Resources { memory_limit: Some(0), ..Default::default() }, "memory.limit"),
        (Resources { memory_limit: Some(10 << 20), memory_swap: Some(1 << 20), ..Default::default() }, "memory.swap"),
        (Resources { cpu_shares: Some(1), ..Default::default() }, "cpu.shares"),
        (Resources { cpu_quota: Some(-5), ..Default::default() }, "cpu.quota"),
        (Resources { cpu_period: Some(10), ..Default::default() }, "cpu.period"),
        (Resources { pids_limit: Some(-7), ..Default::default() }, "pids.limit"),
        (Resources { blkio_weight: Some(5000), ..Default::default() }, "blockIO.weight"),
        (Resources { unified: [("../x".to_string(), "1".to_string())].into(), ..Default::default() }, "unified"),
    ] {
        let err = Job::create(&layout, None, "c7", &res).unwrap_err().to_string();
        assert!(err.contains(field), "{field}: {err}");
        assert!(!t.path().join("hostproc").exists(), "{field}: nothing made");
    }
}

/// The default placement's parent (`<own>/hostproc`) is kept when a job is destroyed; a
/// caller's relative cgroupsPath is removed up to the caller's cgroup, as it always was.
#[test]
fn destroy_keeps_hostprocs_own_parent_only() {
    let (t, root) = v2_root();
    let layout = Layout::from_proc_cgroup(&root, "0::/\n").unwrap();
    let job = Job::create(&layout, None, "k1", &Resources::default()).unwrap();
    assert!(t.path().join("hostproc/k1").is_dir());
    job.destroy().unwrap();
    assert!(!t.path().join("hostproc/k1").exists());
    assert!(t.path().join("hostproc").is_dir(), "hostproc's parent was removed with the job");
    let job = Job::create(&layout, Some(Path::new("mine/k2")), "k2", &Resources::default()).unwrap();
    job.destroy().unwrap();
    assert!(!t.path().join("mine").exists(), "a caller's own path is removed up to its cgroup");
}
