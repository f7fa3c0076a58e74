//! The job: limits of linux.resources and of hcsshim's Windows annotations, enforced on
//! the payload's cgroup.

mod common;

use common::*;
use serde_json::json;

const MIB: u64 = 1024 * 1024;

/// A payload that allocates past its memory limit is killed. memory.swap (memory+swap on
/// v1) equals the limit, so swap cannot absorb the allocation.
#[test]
fn memory_limit_kills_an_allocation_past_it() {
    let root = Root::new();
    let mut b = Bundle::new();
    let limit = 64 * MIB;
    b.resources(json!({ "memory": { "limit": limit, "swap": limit } }))
        .sh(&format!(
            "{}echo limit=$(cat $CG/memory.limit_in_bytes 2>/dev/null || cat $CG/memory.max); \
         head -c 300M /dev/zero | tail > /dev/null; echo tail=$?",
            sh_own_cgroup("memory")
        ));
    let id = unique_id("mem");
    let out = run(&root, &b, &id);
    assert_eq!(
        out.must_value("limit"),
        limit.to_string(),
        "memory limit not set on the job:\n{}",
        out.dump()
    );
    // tail buffers its whole (newline-free) input: 300 MiB, far past 64 MiB. The OOM
    // killer ends it (SIGKILL: status 137); if it ended the shell instead, run's own exit
    // code is non-zero.
    match out.value("tail") {
        Some(st) => assert_eq!(
            st,
            "137",
            "the allocation past the limit was not killed:\n{}",
            out.dump()
        ),
        None => assert_ne!(out.code(), 0, "{}", out.dump()),
    }
    cleanup_check(&root, &b, &id, &[]);
}

/// A fork loop is contained by the pids limit: with 20, spawning 50 background sleeps
/// fails part-way.
#[test]
fn pids_limit_contains_a_fork_loop() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.grace("1s").resources(json!({ "pids": { "limit": 20 } })).sh(&format!(
        "{}echo max=$(cat $CG/pids.max); \
         i=0; while [ $i -lt 50 ]; do sleep 60 >/dev/null 2>&1 & i=$((i+1)); echo started=$i; done; echo loop=done",
        sh_own_cgroup("pids")
    ));
    let id = unique_id("pids");
    let out = run(&root, &b, &id);
    assert_eq!(
        out.must_value("max"),
        "20",
        "pids limit not set on the job:\n{}",
        out.dump()
    );
    assert!(
        out.value("loop").is_none(),
        "the fork loop was not contained:\n{}",
        out.dump()
    );
    let started = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("started="))
        .count();
    assert!(
        started < 20,
        "{started} processes started under a pids limit of 20:\n{}",
        out.dump()
    );
    assert!(
        out.stderr.to_lowercase().contains("fork"),
        "expected the shell's fork failure on stderr:\n{}",
        out.dump()
    );
    cleanup_check(&root, &b, &id, &[]);
}

/// A busy loop under a cpu quota of 20000/100000 is throttled, as the job's own cpu.stat
/// shows.
#[test]
fn cpu_quota_throttles_a_busy_loop() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.resources(json!({ "cpu": { "quota": 20000, "period": 100000 } }))
        .sh(&format!(
            "{}echo quota=$(cat $CG/cpu.cfs_quota_us); echo period=$(cat $CG/cpu.cfs_period_us); \
         read s _ < /proc/uptime; e=$(( ${{s%.*}} + 2 )); \
         while :; do read u _ < /proc/uptime; [ ${{u%.*}} -ge $e ] && break; done; \
         cat $CG/cpu.stat",
            sh_own_cgroup("cpu")
        ));
    let id = unique_id("cpu");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    assert_eq!(out.must_value("quota"), "20000", "{}", out.dump());
    assert_eq!(out.must_value("period"), "100000", "{}", out.dump());
    let throttled: u64 = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("nr_throttled "))
        .unwrap_or_else(|| panic!("no nr_throttled in cpu.stat:\n{}", out.dump()))
        .trim()
        .parse()
        .unwrap();
    assert!(
        throttled > 0,
        "the busy loop was never throttled:\n{}",
        out.dump()
    );
    cleanup_check(&root, &b, &id, &[]);
}

/// cpu shares, cpuset and memory reservation land in the job's files.
#[test]
fn cpu_shares_cpuset_and_reservation_are_written() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.resources(json!({
        "cpu": { "shares": 512, "cpus": "0", "mems": "0" },
        "memory": { "limit": 256 * MIB, "reservation": 128 * MIB }
    }))
    .sh(&format!(
        "{c}echo shares=$(cat $CG/cpu.shares); {s}echo cpus=$(cat $CG/cpuset.cpus); \
         {m}echo soft=$(cat $CG/memory.soft_limit_in_bytes); echo allowed=$(grep Cpus_allowed_list /proc/self/status | cut -f2)",
        c = sh_own_cgroup("cpu"),
        s = sh_own_cgroup("cpuset"),
        m = sh_own_cgroup("memory")
    ));
    let id = unique_id("shares");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    assert_eq!(out.must_value("shares"), "512", "{}", out.dump());
    assert_eq!(out.must_value("cpus"), "0", "{}", out.dump());
    assert_eq!(out.must_value("allowed"), "0", "{}", out.dump());
    assert_eq!(
        out.must_value("soft"),
        (128 * MIB).to_string(),
        "{}",
        out.dump()
    );
    cleanup_check(&root, &b, &id, &[]);
}

/// hcsshim's Windows annotations map onto the same controls.
#[test]
fn windows_annotations_map_onto_cpu_and_memory() {
    let root = Root::new();
    let script = format!(
        "{c}echo quota=$(cat $CG/cpu.cfs_quota_us); echo period=$(cat $CG/cpu.cfs_period_us); \
         echo shares=$(cat $CG/cpu.shares); {m}echo limit=$(cat $CG/memory.limit_in_bytes)",
        c = sh_own_cgroup("cpu"),
        m = sh_own_cgroup("memory")
    );

    // memory.sizeinmb and processor.count.
    let mut b = Bundle::new();
    b.annotation("io.microsoft.container.memory.sizeinmb", "100")
        .annotation("io.microsoft.container.processor.count", "1")
        .sh(&script);
    let id = unique_id("wincount");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    assert_eq!(
        out.must_value("limit"),
        (100 * MIB).to_string(),
        "{}",
        out.dump()
    );
    let quota: i64 = out.must_value("quota").parse().unwrap();
    let period: i64 = out.must_value("period").parse().unwrap();
    assert_eq!(
        quota,
        period,
        "processor.count=1 should allow one CPU:\n{}",
        out.dump()
    );
    cleanup_check(&root, &b, &id, &[]);

    // processor.limit: a fraction (of 10000) of all the host's CPUs.
    let ncpu = std::thread::available_parallelism()
        .map(|n| n.get() as i64)
        .unwrap_or(1);
    let mut b = Bundle::new();
    b.annotation("io.microsoft.container.processor.limit", "5000")
        .sh(&script);
    let id = unique_id("winlimit");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    let quota: i64 = out.must_value("quota").parse().unwrap();
    let period: i64 = out.must_value("period").parse().unwrap();
    assert!(quota > 0, "processor.limit set no quota:\n{}", out.dump());
    let want = period * ncpu / 2;
    assert!(
        (quota - want).abs() <= want / 10 + 1,
        "quota {quota}, expected about {want}:\n{}",
        out.dump()
    );
    cleanup_check(&root, &b, &id, &[]);

    // processor.weight: a relative weight, not the default shares.
    let mut b = Bundle::new();
    b.annotation("io.microsoft.container.processor.weight", "5000")
        .sh(&script);
    let id = unique_id("winweight");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    // runc's conversion of cpu.weight 5000: 2 + (5000 - 1) * 262142 / 9999.
    assert_eq!(
        out.must_value("shares"),
        "131059",
        "processor.weight 5000 is not the cpu.shares it converts to:\n{}",
        out.dump()
    );
    cleanup_check(&root, &b, &id, &[]);
}

/// A real block device of this host (major, minor), if any: not loop, ram or zram.
fn a_block_device() -> Option<(u64, u64)> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/block")
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
        .into_iter()
        .filter(|n| !n.starts_with("loop") && !n.starts_with("ram") && !n.starts_with("zram"))
        .find_map(|n| {
            let dev = std::fs::read_to_string(format!("/sys/block/{n}/dev")).ok()?;
            let (ma, mi) = dev.trim().split_once(':')?;
            Some((ma.parse().ok()?, mi.parse().ok()?))
        })
}

/// blockIO throttles land in the job's blkio files.
#[test]
fn blkio_throttle_is_written() {
    let Some((major, minor)) = a_block_device() else {
        eprintln!("no block device on this host: nothing to throttle");
        return;
    };
    let root = Root::new();
    let mut b = Bundle::new();
    b.resources(json!({ "blockIO": { "throttleReadBpsDevice": [{ "major": major, "minor": minor, "rate": 1048576 }] } }))
        .sh(&format!("{}cat $CG/blkio.throttle.read_bps_device", sh_own_cgroup("blkio")));
    let id = unique_id("blkio");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    assert!(
        out.stdout
            .lines()
            .any(|l| l.trim() == format!("{major}:{minor} 1048576")),
        "throttle not set on the job:\n{}",
        out.dump()
    );
    cleanup_check(&root, &b, &id, &[]);
}
