//! Faults of the host: cgroup creation refused, a mount failing, the disk full while
//! writing the state, the payload OOM-killed. Each must give a clear error (exit 1, a
//! message naming what failed and why) or a clear status, and leave nothing half-made.
//!
//! The cgroups this file makes are beneath the test's own cgroup in the unified hierarchy
//! only; the tmpfs it mounts is under a temporary directory and unmounted again.

mod common;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::lc::{hostproc_files, Ctr, Scratch};
use common::*;
use serde_json::json;

/// A cgroup this test makes beneath its own unified cgroup, removed on drop.
struct UnifiedCgroup(PathBuf);

impl UnifiedCgroup {
    fn new(name: &str) -> UnifiedCgroup {
        let text = fs::read_to_string("/proc/self/cgroup").unwrap();
        let rel = text.lines().find_map(|l| l.strip_prefix("0::")).unwrap_or("/").trim_start_matches('/').to_owned();
        let base = Path::new("/sys/fs/cgroup");
        let own = if base.join("cgroup.controllers").exists() { base.join(rel) } else { base.join("unified").join(rel) };
        let p = own.join(name);
        fs::create_dir(&p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
        UnifiedCgroup(p)
    }
}

impl Drop for UnifiedCgroup {
    fn drop(&mut self) {
        // Children hostproc may have left are reported by the test; remove them too.
        if let Ok(rd) = fs::read_dir(&self.0) {
            for e in rd.flatten() {
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    let _ = fs::remove_dir(e.path());
                }
            }
        }
        let _ = fs::remove_dir(&self.0);
    }
}

#[track_caller]
fn assert_clear_error(out: &Output, what: &str, must_mention: &[&str]) {
    out.assert_error();
    let msg = out.stderr.to_lowercase();
    let missing: Vec<&&str> = must_mention.iter().filter(|m| !msg.contains(&m.to_lowercase())).collect();
    assert!(missing.is_empty(), "[{what}] the error does not mention {missing:?}:\n{}", out.dump());
}

/// cgroup creation refused: the parent (made by the test under its own unified cgroup)
/// allows no descendants, so the job's mkdir fails with EAGAIN.
#[test]
fn cgroup_creation_refused_is_a_clear_error_and_nothing_is_left() {
    let name = format!("hpt-fault-desc-{}", std::process::id());
    let parent = UnifiedCgroup::new(&name);
    fs::write(parent.0.join("cgroup.max.descendants"), "0").unwrap();
    for cmd in ["run", "create"] {
        let root = Root::new();
        let mut b = Bundle::new();
        b.sh("echo should-not-run").cgroups_path(&format!("{name}/job"));
        let id = unique_id(&format!("fcg{cmd}"));
        let out = if cmd == "run" {
            run(&root, &b, &id)
        } else {
            Ctr::new(&root, &id).create(&b, &[])
        };
        assert!(!out.stdout.contains("should-not-run"), "[{cmd}] the payload ran:\n{}", out.dump());
        assert_clear_error(&out, cmd, &["cgroup", &name]);
        // Nothing of the job anywhere: not in the unified parent, not in the v1
        // hierarchies (where hostproc made <own>/<name>/job before it failed, if it did).
        let leftovers: Vec<PathBuf> = cgroups_named(&name).into_iter().filter(|p| *p != parent.0).collect();
        assert!(leftovers.is_empty(), "[{cmd}] cgroups left after the refused creation: {leftovers:?}\n{}", out.dump());
        assert!(parent.0.exists(), "[{cmd}] hostproc removed the test's own parent cgroup {}", parent.0.display());
        assert!(root.entries().is_empty(), "[{cmd}] state left: {:?}", root.entries());
        cleanup_check(&root, &b, &id, &[]);
    }
}

/// cgroup creation refused: deeper than the parent's cgroup.max.depth allows.
#[test]
fn cgroup_deeper_than_allowed_is_a_clear_error_and_nothing_is_left() {
    let name = format!("hpt-fault-depth-{}", std::process::id());
    let parent = UnifiedCgroup::new(&name);
    fs::write(parent.0.join("cgroup.max.depth"), "1").unwrap();
    let root = Root::new();
    let mut b = Bundle::new();
    b.sh("echo should-not-run").cgroups_path(&format!("{name}/a/b"));
    let id = unique_id("fcgdepth");
    let out = run(&root, &b, &id);
    assert_clear_error(&out, "depth", &["cgroup", &name]);
    let leftovers: Vec<PathBuf> = cgroups_named(&name).into_iter().filter(|p| *p != parent.0).collect();
    let under: Vec<PathBuf> = fs::read_dir(&parent.0).unwrap().flatten().filter(|e| e.path().is_dir()).map(|e| e.path()).collect();
    assert!(leftovers.is_empty() && under.is_empty(), "cgroups left: {leftovers:?} {under:?}\n{}", out.dump());
    cleanup_check(&root, &b, &id, &[]);
}

/// A mount that fails: the destination's parent is a file (ENOTDIR), in host mode (made
/// on the host by hostproc) and in bind mode (made in the init's mount namespace).
#[test]
fn a_failing_mount_is_a_clear_error_and_nothing_is_left() {
    let vol = tempdir();
    fs::write(vol.path().join("f"), "x").unwrap();
    // Host mode: <rootfs>/etc/app.conf is a file.
    {
        let root = Root::new();
        let mut b = Bundle::new();
        b.host_mode().bind(vol.path(), "/etc/app.conf/sub", &[]).sh("echo should-not-run");
        let id = unique_id("fmnthost");
        let out = run(&root, &b, &id);
        assert!(!out.stdout.contains("should-not-run"), "{}", out.dump());
        assert_clear_error(&out, "host mode", &["/etc/app.conf/sub"]);
        assert_eq!(fs::read_to_string(b.rootfs().join("etc/app.conf")).unwrap(), "key=value\n", "the rootfs file was changed");
        cleanup_check(&root, &b, &id, &[vol.path()]);
    }
    // Bind mode: the destination's parent on the host is a file.
    {
        let root = Root::new();
        let dir = tempdir();
        let file = dir.path().join("a-file");
        fs::write(&file, "x").unwrap();
        let dest = file.join("sub");
        let mut b = Bundle::new();
        b.bind(vol.path(), dest.to_str().unwrap(), &[]).sh("echo should-not-run");
        let id = unique_id("fmntbind");
        let out = run(&root, &b, &id);
        assert!(!out.stdout.contains("should-not-run"), "{}", out.dump());
        assert_clear_error(&out, "bind mode", &[dest.to_str().unwrap()]);
        assert_eq!(fs::read_to_string(&file).unwrap(), "x");
        cleanup_check(&root, &b, &id, &[vol.path(), dir.path()]);
        let lock = mountpoint_lock(&dest);
        assert!(!lock.exists(), "mount point lock file left: {}", lock.display());
    }
    // A bind source that does not exist.
    {
        let root = Root::new();
        let mut b = Bundle::new();
        let missing = vol.path().join("no-such-source");
        b.host_mode().bind(&missing, "/data", &[]).sh("echo should-not-run");
        let id = unique_id("fmntsrc");
        let out = run(&root, &b, &id);
        assert!(!out.stdout.contains("should-not-run"), "{}", out.dump());
        assert_clear_error(&out, "missing source", &[missing.to_str().unwrap()]);
        assert!(!b.rootfs().join("data").exists(), "the mount point was left in the rootfs");
        cleanup_check(&root, &b, &id, &[vol.path()]);
    }
}

/// A small tmpfs under a temporary directory, unmounted on drop.
struct SmallTmpfs {
    dir: tempfile::TempDir,
}

impl SmallTmpfs {
    fn new(size: &str) -> SmallTmpfs {
        let dir = tempdir();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0755"), "hostproc-test-full"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(st.success(), "cannot mount a tmpfs at {}", dir.path().display());
        SmallTmpfs { dir }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    /// Fills it up to the brim.
    fn fill(&self) {
        let mut f = fs::File::create(self.path().join("filler")).unwrap();
        let chunk = vec![0u8; 4096];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
        // Small files too, for the last partial pages.
        let mut i = 0;
        while fs::write(self.path().join(format!("f{i}")), b"x").is_ok() && i < 10000 {
            i += 1;
        }
    }
}

impl Drop for SmallTmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

#[test]
fn a_full_disk_while_writing_state_is_a_clear_error_and_nothing_is_left() {
    let fs_ = SmallTmpfs::new("256k");
    let root_path = fs_.path().join("root");
    fs::create_dir(&root_path).unwrap();
    fs_.fill();
    for cmd in ["run", "create"] {
        let mut b = Bundle::new();
        b.sh("echo should-not-run; sleep 5");
        b.write();
        let id = unique_id(&format!("ffull{cmd}"));
        let bundle = b.path().to_str().unwrap().to_owned();
        let mut s = Scratch::new();
        let (o, e) = s.pair();
        let out = hostproc_files(&["--root", root_path.to_str().unwrap(), cmd, "--bundle", &bundle, &id], None, &o, &e);
        let payload_ran = out.stdout.contains("should-not-run");
        let _ = hostproc_files(&["--root", root_path.to_str().unwrap(), "delete", "--force", &id], None, &o, &e);
        assert!(!payload_ran, "[{cmd}] the payload ran although the state could not be written:\n{}", out.dump());
        assert_clear_error(&out, cmd, &["state", "no space left"]);
        let left: Vec<String> = fs::read_dir(&root_path).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        assert!(left.is_empty(), "[{cmd}] state left on the full disk: {left:?}\n{}", out.dump());
        let cgs = cgroups_named(&id);
        assert!(cgs.is_empty(), "[{cmd}] cgroups left: {cgs:?}");
        let procs: Vec<i32> = processes_in_cgroup(&id).into_iter().filter(|p| pid_alive(*p)).collect();
        assert!(procs.is_empty(), "[{cmd}] processes left: {procs:?}");
        assert!(mounts_mentioning(&[&bundle, &id]).is_empty(), "[{cmd}] mounts left");
        // `list` on the full disk still works.
        let l = hostproc_files(&["--root", root_path.to_str().unwrap(), "list", "-q"], None, &o, &e);
        assert_eq!(l.code, Some(0), "list on a full disk:\n{}", l.dump());
    }
}

const EAT_200M: &str = "x=$(head -c 200M /dev/zero | tr '\\0' a); echo survived ${#x}";

fn oom_bundle(script: &str) -> Bundle {
    let mut b = Bundle::new();
    b.resources(json!({"memory": {"limit": 33554432u64, "swap": 33554432u64}})).sh(script).grace("1s");
    b
}

/// `run`: the payload's init is OOM-killed; run exits 137 (128+SIGKILL) and says why.
#[test]
fn an_oom_killed_run_exits_137_and_says_why() {
    let root = Root::new();
    let b = oom_bundle(EAT_200M);
    // No "oom" in the id: the checks below must not pass on the id alone.
    let id = unique_id("fmemrun");
    let out = run(&root, &b, &id);
    assert!(!out.stdout.contains("survived"), "the payload was not limited:\n{}", out.dump());
    out.assert_code(137);
    cleanup_check(&root, &b, &id, &[]);
    assert!(
        out.stderr.contains(&format!("container {id}: the kernel's OOM killer ended a process of the job")),
        "run exited 137 but does not say the payload was OOM-killed:\n{}",
        out.dump()
    );
}

/// create/start: init OOM-killed; the state says stopped, and says it was OOM-killed.
#[test]
fn an_oom_killed_container_is_stopped_and_its_state_says_why() {
    let root = Root::new();
    let b = oom_bundle(EAT_200M);
    // No "oom" in the id: the checks below must not pass on the id alone.
    let id = unique_id("fmemcs");
    let c = Ctr::new(&root, &id);
    c.create(&b, &[]).assert_code(0);
    c.start().assert_code(0);
    assert!(c.wait_status("stopped", Duration::from_secs(20)), "the OOM-killed container is not stopped: {}", c.state());
    let st = c.state();
    assert_eq!(st["pid"], 0, "{st}");
    assert!(!c.payload_out().contains("survived"), "the payload was not limited: {}", c.payload_out());
    c.delete().assert_code(0);
    cleanup_check(&root, &b, &id, &[]);
    assert_eq!(st["reason"], "OOMKilled", "`state` does not say the container was OOM-killed:\n{st:#}");
}

/// `events` streams an "oom" event when a process of the job is OOM-killed (the init
/// survives: a child is the one that eats the memory).
#[test]
fn events_report_an_oom_kill_in_the_job() {
    let root = Root::new();
    let dir = tempdir();
    let go = dir.path().join("go");
    let b = oom_bundle(&format!("{} sh \"$CONTAINER_SANDBOX_MOUNT_POINT/eat.sh\"; echo child-done; sleep 30", sh_wait_for(&go, 30)));
    b.write_file("eat.sh", &format!("{EAT_200M}\n"), 0o755);
    // No "oom" in the id: the check below must not pass on the id alone.
    let id = unique_id("fmemev");
    let c = Ctr::new(&root, &id);
    c.create(&b, &[]).assert_code(0);
    c.start().assert_code(0);
    let mut ev = command(&root);
    ev.args(["events", "--interval", "100ms", &id]);
    let mut events = spawn(ev);
    assert!(events.wait_stdout("\"stats\"", Duration::from_secs(10)), "events printed no stats");
    fs::write(&go, "").unwrap();
    assert!(c.wait_out("child-done", Duration::from_secs(20)), "the eating child never ended: {}", c.payload_out());
    // The event as `events` prints it: {"id": ID, "type": "oom"}, one JSON object a line.
    let oom_event = |text: &str| {
        text.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()).any(|v| v["type"] == "oom" && v["id"] == id.as_str())
    };
    let saw = common::lc::wait_until(Duration::from_secs(5), || oom_event(&events.stdout_now()));
    let out = events.kill_and_collect();
    c.delete_force().assert_code(0);
    cleanup_check(&root, &b, &id, &[]);
    assert!(!c.payload_out().contains("survived"), "the child was not limited: {}", c.payload_out());
    assert!(saw, "events printed no oom event:\n{}", out.dump());
}
