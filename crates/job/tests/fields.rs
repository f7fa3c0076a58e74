//! Every field of linux.resources beyond the basic limits, applied or refused, and an
//! absolute cgroupsPath's missing parents, against temporary directories laid out like
//! cgroupfs for v1 (hybrid) and v2. The real cgroups are exercised by the binary's tests.
#![cfg(unix)]

use std::fs;
use std::path::{Path, PathBuf};

use hostproc_job::{CgroupRoot, HugepageLimit, Job, JobError, Layout, Rdma, Resources, WeightDevice};

mod common;
use common::{read, touch};

/// A hybrid host like this one, with hugetlb, net_cls,net_prio and rdma mounted too.
fn hybrid(extra: bool) -> (tempfile::TempDir, Layout) {
    let t = tempfile::tempdir().unwrap();
    let mut ctrls = vec!["cpu", "cpuacct", "cpuset", "memory", "pids", "freezer", "blkio", "devices"];
    if extra {
        ctrls.extend(["hugetlb", "net_cls,net_prio", "rdma"]);
    }
    for c in ctrls {
        touch(&t.path().join(c), &["cgroup.procs"]);
    }
    touch(&t.path().join("unified"), &["cgroup.procs", "cgroup.controllers"]);
    let mut proc = "9:pids:/\n8:blkio:/\n7:freezer:/\n6:devices:/\n5:memory:/\n4:cpuset:/\n3:cpuacct:/\n2:cpu:/\n0::/\n".to_string();
    if extra {
        proc.insert_str(0, "12:hugetlb:/\n11:net_cls,net_prio:/\n10:rdma:/\n");
    }
    let layout = Layout::from_proc_cgroup(&CgroupRoot(t.path().to_path_buf()), &proc).unwrap();
    (t, layout)
}

fn v2() -> (tempfile::TempDir, Layout) {
    let t = tempfile::tempdir().unwrap();
    fs::write(t.path().join("cgroup.controllers"), "cpuset cpu io memory hugetlb pids rdma\n").unwrap();
    touch(t.path(), &["cgroup.procs"]);
    let layout = Layout::from_proc_cgroup(&CgroupRoot(t.path().to_path_buf()), "0::/\n").unwrap();
    (t, layout)
}

fn optional_fields() -> Resources {
    Resources {
        hugepage_limits: vec![HugepageLimit { page_size: "2MB".into(), limit: 4 << 20 }],
        net_class_id: Some(0x100001),
        net_priorities: vec![("lo".into(), 5)],
        rdma: [("mlx5_0".to_string(), Rdma { hca_handles: Some(3), hca_objects: Some(1000) })].into(),
        ..Default::default()
    }
}

#[test]
fn v1_applies_every_field_to_its_file() {
    let (t, layout) = hybrid(true);
    let p = |s: &str| t.path().join(s);
    touch(&p("memory/hostproc/f1"), &["cgroup.procs", "memory.oom_control", "memory.use_hierarchy", "memory.swappiness"]);
    touch(&p("cpu/hostproc/f1"), &["cgroup.procs", "cpu.cfs_quota_us", "cpu.cfs_burst_us", "cpu.rt_period_us", "cpu.rt_runtime_us", "cpu.idle"]);
    touch(&p("blkio/hostproc/f1"), &["cgroup.procs", "blkio.leaf_weight", "blkio.leaf_weight_device"]);
    touch(&p("hugetlb/hostproc/f1"), &["cgroup.procs", "hugetlb.2MB.limit_in_bytes"]);
    touch(&p("net_cls,net_prio/hostproc/f1"), &["cgroup.procs", "net_cls.classid", "net_prio.ifpriomap"]);
    touch(&p("rdma/hostproc/f1"), &["cgroup.procs", "rdma.max"]);
    let res = Resources {
        memory_disable_oom_killer: Some(true),
        memory_use_hierarchy: Some(true),
        memory_swappiness: Some(10),
        memory_check_before_update: Some(true),
        cpu_quota: Some(50_000),
        cpu_burst: Some(10_000),
        cpu_realtime_period: Some(1_000_000),
        cpu_realtime_runtime: Some(0),
        cpu_idle: Some(1),
        blkio_leaf_weight: Some(300),
        blkio_leaf_weight_device: vec![WeightDevice { major: 8, minor: 0, weight: 200 }],
        ..optional_fields()
    };
    let job = Job::create(&layout, None, "f1", &res).unwrap();
    assert_eq!(read(p("memory/hostproc/f1/memory.oom_control")), "1", "runc writes 1 for disableOOMKiller");
    assert_eq!(read(p("memory/hostproc/f1/memory.use_hierarchy")), "1");
    assert_eq!(read(p("memory/hostproc/f1/memory.swappiness")), "10");
    assert_eq!(read(p("cpu/hostproc/f1/cpu.cfs_burst_us")), "10000");
    assert_eq!(read(p("cpu/hostproc/f1/cpu.rt_period_us")), "1000000");
    assert_eq!(read(p("cpu/hostproc/f1/cpu.rt_runtime_us")), "0");
    assert_eq!(read(p("cpu/hostproc/f1/cpu.idle")), "1");
    assert_eq!(read(p("blkio/hostproc/f1/blkio.leaf_weight")), "300");
    assert_eq!(read(p("blkio/hostproc/f1/blkio.leaf_weight_device")), "8:0 200");
    assert_eq!(read(p("hugetlb/hostproc/f1/hugetlb.2MB.limit_in_bytes")), (4u64 << 20).to_string());
    assert_eq!(read(p("net_cls,net_prio/hostproc/f1/net_cls.classid")), "1048577");
    assert_eq!(read(p("net_cls,net_prio/hostproc/f1/net_prio.ifpriomap")), "lo 5");
    assert_eq!(read(p("rdma/hostproc/f1/rdma.max")), "mlx5_0 hca_handle=3 hca_object=1000");
    assert_eq!(job.dirs.len(), 10, "unified, six v1, and the hugetlb, net_cls,net_prio and rdma ones the spec asked for");
}

/// The optional hierarchies are joined only when a limit needs them: a spec without one
/// makes no directory more, and one with only hugepageLimits joins only hugetlb.
#[test]
fn optional_hierarchies_are_joined_only_when_used() {
    let (t, layout) = hybrid(true);
    let plain = Job::planned(&layout, None, "f2", &Resources { pids_limit: Some(5), ..Default::default() }).unwrap();
    assert_eq!(plain.dirs.len(), 7, "{:?}", plain.dirs);
    assert!(!plain.dirs.iter().any(|d| d.controllers.iter().any(|c| ["hugetlb", "net_cls", "net_prio", "rdma"].contains(&c.as_str()))));
    let huge = Resources { hugepage_limits: vec![HugepageLimit { page_size: "1GB".into(), limit: -1 }], ..Default::default() };
    let job = Job::planned(&layout, None, "f2", &huge).unwrap();
    assert_eq!(job.dirs.len(), 8);
    assert_eq!(job.dirs.last().unwrap().path, t.path().join("hugetlb/hostproc/f2"));
}

/// A host without those controllers (this one) refuses each such field at create, naming
/// it, before anything is made.
#[test]
fn fields_whose_controller_the_host_lacks_are_refused_before_anything_is_made() {
    let (t, layout) = hybrid(false);
    let cases: Vec<(Resources, &str, &str)> = vec![
        (Resources { hugepage_limits: optional_fields().hugepage_limits, ..Default::default() }, "linux.resources.hugepageLimits", "no hugetlb cgroup controller"),
        (Resources { net_class_id: Some(1), ..Default::default() }, "linux.resources.network.classID", "no net_cls cgroup controller"),
        (Resources { net_priorities: vec![("lo".into(), 1)], ..Default::default() }, "linux.resources.network.priorities", "no net_prio cgroup controller"),
        (Resources { rdma: optional_fields().rdma, ..Default::default() }, "linux.resources.rdma", "no rdma cgroup controller"),
        (Resources { unified: [("memory.high".to_string(), "1".to_string())].into(), ..Default::default() }, "linux.resources.unified", "memory.high is a cgroup v2 file"),
    ];
    for (res, field, why) in cases {
        let err = Job::create(&layout, None, "f3", &res).unwrap_err().to_string();
        assert!(err.contains(field) && err.contains(why), "{field}: {err}");
        for h in &layout.hierarchies {
            assert!(!h.mount.join("hostproc").exists(), "{field}: {} made", h.mount.display());
        }
    }
    assert!(!t.path().join("hugetlb").exists());
}

/// A kernel without a file (no RT group scheduling, no CFQ leaf weights, no such page
/// size) refuses the field with the reason, and the job is undone.
#[test]
fn a_missing_file_names_the_field_and_the_kernel_feature() {
    let (t, layout) = hybrid(true);
    for (res, field, why) in [
        (Resources { cpu_realtime_runtime: Some(1000), ..Default::default() }, "realtimeRuntime", "CONFIG_RT_GROUP_SCHED"),
        (Resources { blkio_leaf_weight: Some(100), ..Default::default() }, "blockIO.leafWeight", "Linux 5.0 removed"),
        (Resources { cpu_burst: Some(1000), ..Default::default() }, "cpu.burst", "Linux 5.14"),
        (Resources { hugepage_limits: vec![HugepageLimit { page_size: "64KB".into(), limit: 1 }], ..Default::default() }, "hugepageLimits", "pageSize"),
    ] {
        let err = Job::create(&layout, None, "f4", &res).unwrap_err().to_string();
        assert!(err.contains(field) && err.contains(why), "{field}: {err}");
        assert!(!t.path().join("cpu/hostproc").exists() && !t.path().join("hugetlb/hostproc").exists(), "{field}: undone");
    }
}

#[test]
fn v2_applies_what_it_has_and_refuses_what_it_has_not() {
    let (t, layout) = v2();
    let dir = t.path().join("hostproc/f5");
    touch(&dir, &["cgroup.procs", "cpu.max", "cpu.max.burst", "cpu.idle", "hugetlb.2MB.max", "rdma.max", "memory.max"]);
    let res = Resources {
        cpu_quota: Some(20_000),
        cpu_burst: Some(5_000),
        cpu_idle: Some(0),
        memory_disable_oom_killer: Some(true),
        memory_use_hierarchy: Some(true),
        hugepage_limits: vec![HugepageLimit { page_size: "2MB".into(), limit: -1 }],
        rdma: [("mlx5_0".to_string(), Rdma { hca_handles: Some(2), hca_objects: None })].into(),
        ..Default::default()
    };
    Job::create(&layout, None, "f5", &res).unwrap();
    assert_eq!(read(dir.join("cpu.max")), "20000");
    assert_eq!(read(dir.join("cpu.max.burst")), "5000");
    assert_eq!(read(dir.join("cpu.idle")), "0");
    assert_eq!(read(dir.join("hugetlb.2MB.max")), "max");
    assert_eq!(read(dir.join("rdma.max")), "mlx5_0 hca_handle=2");
    assert!(!dir.join("memory.oom_control").exists(), "disableOOMKiller has no v2 file: warned about, not written");
    let warned = Resources { memory_swappiness: Some(5), ..res.clone() }.v2_unapplied().join("\n");
    assert!(warned.contains("disableOOMKiller") && warned.contains("swappiness"), "{warned}");
    for (res, field) in [
        (Resources { net_class_id: Some(1), ..Default::default() }, "network.classID"),
        (Resources { net_priorities: vec![("lo".into(), 1)], ..Default::default() }, "network.priorities"),
        (Resources { cpu_realtime_period: Some(1000), ..Default::default() }, "cpu.realtimePeriod"),
        (Resources { cpu_realtime_runtime: Some(10), ..Default::default() }, "cpu.realtimeRuntime"),
        (Resources { blkio_leaf_weight: Some(100), ..Default::default() }, "blockIO.leafWeight"),
        (Resources { blkio_leaf_weight_device: vec![WeightDevice { major: 8, minor: 0, weight: 100 }], ..Default::default() }, "leafWeight"),
        (Resources { memory_use_hierarchy: Some(false), ..Default::default() }, "memory.useHierarchy"),
    ] {
        let err = Job::create(&layout, None, "f6", &res).unwrap_err();
        assert!(matches!(err, JobError::Unsupported { .. }), "{field}: {err}");
        let msg = err.to_string();
        assert!(msg.contains(field) && msg.contains("cgroup v2"), "{field}: {msg}");
        assert!(!t.path().join("hostproc/f6").exists());
    }
}

#[test]
fn bad_values_of_the_new_fields_are_refused() {
    let (_t, layout) = v2();
    for (res, field) in [
        (Resources { cpu_idle: Some(2), ..Default::default() }, "cpu.idle"),
        (Resources { hugepage_limits: vec![HugepageLimit { page_size: "2M/../x".into(), limit: 1 }], ..Default::default() }, "hugepageLimits"),
        (Resources { hugepage_limits: vec![HugepageLimit { page_size: "2MB".into(), limit: -2 }], ..Default::default() }, "hugepageLimits"),
        (Resources { rdma: [("mlx 0".to_string(), Rdma { hca_handles: Some(1), hca_objects: None })].into(), ..Default::default() }, "rdma"),
        (Resources { rdma: [("mlx0".to_string(), Rdma::default())].into(), ..Default::default() }, "rdma"),
        (Resources { net_priorities: vec![("eth0\n".into(), 1)], ..Default::default() }, "network.priorities"),
        (Resources { blkio_leaf_weight: Some(5), ..Default::default() }, "blockIO.leafWeight"),
    ] {
        let err = Job::create(&layout, None, "f7", &res).unwrap_err();
        assert!(matches!(err, JobError::OutOfRange { .. }) && err.to_string().contains(field), "{field}: {err}");
    }
}

/// update: a field whose hierarchy the job did not join is refused as such, and
/// checkBeforeUpdate refuses a memory limit below the current usage.
#[test]
fn update_follows_the_same_rules() {
    let (t, layout) = hybrid(true);
    let job = Job::create(&layout, None, "f8", &Resources::default()).unwrap();
    let err = job.apply(&Resources { hugepage_limits: optional_fields().hugepage_limits, ..Default::default() }).unwrap_err();
    assert!(matches!(err, JobError::NotJoined { controller: "hugetlb", .. }), "{err}");
    let mem = t.path().join("memory/hostproc/f8");
    touch(&mem, &["memory.limit_in_bytes"]);
    fs::write(mem.join("memory.usage_in_bytes"), "8388608\n").unwrap();
    let low = Resources { memory_limit: Some(4 << 20), memory_check_before_update: Some(true), ..Default::default() };
    let err = job.apply(&low).unwrap_err();
    assert!(matches!(err, JobError::BelowUsage { usage: 8388608, .. }) && err.to_string().contains("checkBeforeUpdate"), "{err}");
    assert_eq!(read(mem.join("memory.limit_in_bytes")), "", "nothing written");
    job.apply(&Resources { memory_check_before_update: None, ..low }).unwrap();
    assert_eq!(read(mem.join("memory.limit_in_bytes")), (4u64 << 20).to_string(), "without the check it is written");
}

/// An absolute cgroupsPath whose parents are missing: hostproc makes them in every
/// hierarchy and removes them again with the job; parents that existed stay.
#[test]
fn absolute_paths_get_their_missing_parents_and_only_those_are_removed() {
    for (t, layout) in [v2(), hybrid(false)] {
        let existing: Vec<PathBuf> = layout.hierarchies.iter().map(|h| h.mount.join("kubepods")).collect();
        for e in &existing {
            fs::create_dir(e).unwrap();
        }
        let job = Job::create(&layout, Some(Path::new("/kubepods/pod1/a/c9")), "c9", &Resources::default()).unwrap();
        for h in &layout.hierarchies {
            assert!(h.mount.join("kubepods/pod1/a/c9").is_dir(), "{}", h.mount.display());
        }
        assert!(job.dirs.iter().all(|d| d.stop.ends_with("kubepods")), "removal stops at the deepest parent that existed: {:?}", job.dirs);
        // A second job under the same new parents: its removal leaves the first one's.
        let other = Job::create(&layout, Some(Path::new("/kubepods/pod1/a/d9")), "d9", &Resources::default()).unwrap();
        other.destroy().unwrap();
        assert!(existing.iter().all(|e| e.join("pod1/a/c9").is_dir()), "a shared parent still in use stays");
        job.destroy().unwrap();
        for e in &existing {
            assert!(e.is_dir(), "a parent that existed is kept: {}", e.display());
            assert!(!e.join("pod1").exists(), "hostproc's parents are removed: {}", e.display());
        }
        // A failed create undoes its parents too.
        let bad = Resources { hugepage_limits: optional_fields().hugepage_limits, ..Default::default() };
        assert!(Job::create(&layout, Some(Path::new("/x/y/e9")), "e9", &bad).is_err());
        let res = Resources { pids_limit: Some(3), ..Default::default() };
        assert!(Job::create(&layout, Some(Path::new("/x/y/e9")), "e9", &res).is_err(), "no pids.max in a temp dir");
        for h in &layout.hierarchies {
            assert!(!h.mount.join("x").exists(), "undone: {}", h.mount.display());
        }
        drop(t);
    }
}

/// A hybrid host that offers hugetlb in cgroup v2 only (as this one does): the v2 file is
/// written where the job's v2 cgroup has the controller, and the field is refused as not
/// enabled where the caller's cgroup does not pass it down.
#[test]
fn hugetlb_offered_only_in_v2_on_a_hybrid_host() {
    let (t, _) = hybrid(false);
    fs::write(t.path().join("unified/cgroup.controllers"), "hugetlb\n").unwrap();
    let proc = "9:pids:/\n8:blkio:/\n5:memory:/\n4:cpuset:/\n3:cpuacct:/\n2:cpu:/\n0::/\n";
    let layout = Layout::from_proc_cgroup(&CgroupRoot(t.path().to_path_buf()), proc).unwrap();
    let res = Resources { hugepage_limits: vec![HugepageLimit { page_size: "2MB".into(), limit: -1 }], ..Default::default() };
    let dir = t.path().join("unified/hostproc/h1");
    touch(&dir, &["cgroup.procs", "hugetlb.2MB.max"]);
    fs::write(dir.join("cgroup.controllers"), "hugetlb\n").unwrap();
    Job::create(&layout, None, "h1", &res).unwrap();
    assert_eq!(read(dir.join("hugetlb.2MB.max")), "max", "the v2 file and value");
    // Real cgroupfs gives every cgroup its cgroup.controllers: here an empty one.
    touch(&t.path().join("unified/hostproc/h2"), &["cgroup.procs", "cgroup.controllers"]);
    let err = Job::create(&layout, None, "h2", &res).unwrap_err();
    assert!(matches!(err, JobError::NotEnabled { controller: "hugetlb", .. }), "{err}");
    assert!(err.to_string().contains("linux.resources.hugepageLimits") && err.to_string().contains("subtree_control"), "{err}");
    assert!(!t.path().join("cpu/hostproc/h2").exists(), "undone");
}
