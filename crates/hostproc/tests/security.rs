//! Security: the payload holds no descriptor of hostproc's and starts in the directory it
//! should (the CVE-2024-21626 class), for run, create/start and exec; a non-root payload
//! cannot leave its job, raise its limits or read hostproc's state; noNewPrivileges and
//! dropped capabilities hold; state and lock files are never followed through a planted
//! symlink.
//!
//! Cgroups this file makes itself are only ever made beneath the test's own cgroup in the
//! pids and unified hierarchies (never the memory one), and removed again.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::lc::{hostproc_files, Ctr, Scratch};
use common::*;

const NOBODY: u32 = 65534;

/// A shell snippet printing the descriptors the payload holds as `fd=N -> TARGET` (from
/// `ls -l /proc/self/fd`: ls inherits the shell's descriptors and adds one of its own,
/// the directory it reads, which is told apart by its target), then `cwd=...`.
const SHOW_FDS: &str = "ls -l /proc/self/fd | awk 'NR>1 {print \"fd=\" $9 \" -> \" $11}'; echo cwd=$(readlink /proc/$$/cwd)";

/// Checks the `fd=` lines: only 0, 1 and 2.
#[track_caller]
fn assert_only_stdio(text: &str, what: &str) {
    let fds: Vec<&str> = text.lines().filter(|l| l.starts_with("fd=")).collect();
    assert!(!fds.is_empty(), "[{what}] the payload printed no descriptors:\n{text}");
    let extra: Vec<&&str> = fds
        .iter()
        .filter(|l| {
            let n = l.trim_start_matches("fd=").split(' ').next().unwrap_or("");
            let target = l.split(" -> ").nth(1).unwrap_or("");
            let ls_own = target.starts_with("/proc/") && target.ends_with("/fd");
            !matches!(n, "0" | "1" | "2") && !ls_own
        })
        .collect();
    assert!(extra.is_empty(), "[{what}] the payload holds descriptors beyond 0, 1, 2: {extra:?}\nall output:\n{text}");
}

#[track_caller]
fn assert_cwd(text: &str, expected: &Path, what: &str) {
    let cwd = text.lines().find_map(|l| l.strip_prefix("cwd=")).unwrap_or("<none>");
    assert_eq!(cwd, expected.to_str().unwrap(), "[{what}] the payload's cwd is not the one asked for:\n{text}");
}

#[test]
fn run_payload_holds_only_stdio_and_its_cwd() {
    let root = Root::new();
    let work = tempdir();
    let mut b = Bundle::new();
    b.sh(SHOW_FDS).cwd(work.path().to_str().unwrap());
    let id = unique_id("secfdrun");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    assert_only_stdio(&out.stdout, "run");
    assert_cwd(&out.stdout, work.path(), "run");
    cleanup_check(&root, &b, &id, &[]);
}

/// Started with descriptors 0, 1 and 2 closed (a careless supervisor), hostproc puts
/// /dev/null there before opening anything, so no state or lock file it opens becomes
/// its stdout and no output lands in one: the payload, which gets hostproc's stdio, holds
/// /dev/null as 0, 1 and 2.
#[test]
fn closed_standard_descriptors_never_receive_a_file() {
    let root = Root::new();
    let mut b = Bundle::new();
    let seen = tempdir();
    let out_file = seen.path().join("fds");
    // The shell's own descriptors ($$), not ls's. ls runs in a subshell: sh (dash)
    // applies a simple command's redirections in the shell itself while the command runs,
    // so only the subshell's descriptors point at the file, never the payload shell's.
    b.sh(&format!("(ls -l /proc/$$/fd/ > {} 2>&1); echo payload-output", out_file.display()));
    let id = unique_id("secclosed");
    let mut cmd = run_command(&root, &b, &id);
    // SAFETY: only close(2) between fork and exec.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            for fd in 0..3 {
                libc::close(fd);
            }
            Ok(())
        });
    }
    let out = execute(cmd);
    out.assert_code(0);
    let fds = fs::read_to_string(&out_file).unwrap();
    let mut std_fds = std::collections::BTreeMap::new();
    for l in fds.lines().filter(|l| l.contains(" -> ")) {
        let (num, target) = l.split_once(" -> ").unwrap();
        let num: String = num.chars().rev().take_while(|c| c.is_ascii_digit()).collect::<String>().chars().rev().collect();
        if ["0", "1", "2"].contains(&num.as_str()) {
            std_fds.insert(num, target.to_owned());
        }
    }
    for n in ["0", "1", "2"] {
        assert_eq!(std_fds.get(n).map(String::as_str), Some("/dev/null"), "fd {n} of the payload's shell is not /dev/null:\n{fds}");
    }
    cleanup_check(&root, &b, &id, &[]);
}

#[test]
fn run_payload_holds_only_stdio_as_nobody_in_host_mode() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.sh(SHOW_FDS).host_mode().user(NOBODY, NOBODY, &[], None);
    let id = unique_id("secfdhost");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    assert_only_stdio(&out.stdout, "run, host mode, nobody");
    // Default cwd in host mode: the sandbox, the rootfs's own path.
    assert_cwd(&out.stdout, &b.rootfs(), "run, host mode, nobody");
    cleanup_check(&root, &b, &id, &[]);
}

#[test]
fn created_and_exec_payloads_hold_only_stdio_and_their_cwd() {
    let root = Root::new();
    let work = tempdir();
    let mut b = Bundle::new();
    let release = work.path().join("release");
    b.sh(&format!("{SHOW_FDS}; {} echo done", sh_wait_for(&release, 30)))
        .cwd(work.path().to_str().unwrap())
        .user(NOBODY, NOBODY, &[], None);
    let id = unique_id("secfdcs");
    let c = Ctr::new(&root, &id);
    c.create(&b, &[]).assert_code(0);
    c.start().assert_code(0);
    c.expect_out("cwd=", Duration::from_secs(10));
    let out = c.payload_out();
    assert_only_stdio(&out, "create/start");
    assert_cwd(&out, work.path(), "create/start");

    // exec, with and without --cwd, detached and not.
    let ex = c.exec(&["--cwd", "/tmp"], &["/bin/sh", "-c", SHOW_FDS]);
    ex.assert_code(0);
    assert_only_stdio(&ex.stdout, "exec --cwd /tmp");
    assert_cwd(&ex.stdout, Path::new("/tmp"), "exec --cwd /tmp");
    let ex = c.exec(&[], &["/bin/sh", "-c", SHOW_FDS]);
    ex.assert_code(0);
    assert_only_stdio(&ex.stdout, "exec");
    // exec's default cwd is the sandbox (bind mode: /hpc).
    assert_cwd(&ex.stdout, Path::new("/hpc"), "exec");
    let mut s = Scratch::new();
    let (o, e) = s.pair();
    let ex = hostproc_files(
        &["--root", root.path().to_str().unwrap(), "exec", "--detach", "--cwd", "/tmp", &id, "/bin/sh", "-c", SHOW_FDS],
        None,
        &o,
        &e,
    );
    ex.assert_code(0);
    assert!(common::lc::wait_until(Duration::from_secs(10), || fs::read_to_string(&o).unwrap_or_default().contains("cwd=")));
    let text = fs::read_to_string(&o).unwrap();
    assert_only_stdio(&text, "exec --detach");
    assert_cwd(&text, Path::new("/tmp"), "exec --detach");

    fs::write(&release, "").unwrap();
    assert!(c.wait_status("stopped", Duration::from_secs(10)), "container did not stop");
    c.delete().assert_code(0);
    cleanup_check(&root, &b, &id, &[]);
}

/// A cgroup this test makes beneath its own cgroup in one hierarchy, removed on drop.
struct TestCgroup(PathBuf);

impl TestCgroup {
    fn new(controller: &str, name: &str) -> TestCgroup {
        let parent = own_cgroup_dir(controller);
        assert!(
            !parent.to_string_lossy().contains("memory"),
            "refusing to make a cgroup in the memory hierarchy ({})",
            parent.display()
        );
        let p = parent.join(name);
        fs::create_dir(&p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
        TestCgroup(p)
    }
    fn procs(&self) -> String {
        fs::read_to_string(self.0.join("cgroup.procs")).unwrap_or_default()
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.0);
    }
}

fn unified_own_dir() -> PathBuf {
    let text = fs::read_to_string("/proc/self/cgroup").unwrap();
    let rel = text.lines().find_map(|l| l.strip_prefix("0::")).unwrap_or("/").trim_start_matches('/').to_owned();
    let base = Path::new("/sys/fs/cgroup");
    if base.join("cgroup.controllers").exists() {
        base.join(rel)
    } else {
        base.join("unified").join(rel)
    }
}

#[test]
fn a_non_root_payload_cannot_leave_its_job_or_raise_its_limits() {
    let root = Root::new();
    let name = format!("hpt-secesc-{}", std::process::id());
    let pids_cg = TestCgroup::new("pids", &name);
    let uni_parent = unified_own_dir();
    let uni_cg = {
        let p = uni_parent.join(&name);
        fs::create_dir(&p).unwrap();
        TestCgroup(p)
    };
    let id = unique_id("secesc");
    let mut b = Bundle::new();
    b.user(NOBODY, NOBODY, &[], None)
        .resources(serde_json::json!({"pids": {"limit": 50}, "memory": {"limit": 268435456u64}}))
        .sh(&format!(
            "try() {{ if (echo $$ > \"$2\") 2>/dev/null; then echo $1=yes; else echo $1=no; fi; }}; \
             try escape_pids '{p}/cgroup.procs'; try escape_unified '{u}/cgroup.procs'; \
             {pidcg} try escape_parent \"$CG/../cgroup.procs\"; \
             if (echo max > $CG/pids.max) 2>/dev/null; then echo raise_pids=yes; else echo raise_pids=no; fi; \
             echo pidsmax=$(cat $CG/pids.max); \
             {memcg} if (echo -1 > $CG/memory.limit_in_bytes) 2>/dev/null; then echo raise_mem=yes; else echo raise_mem=no; fi; \
             echo memlimit=$(cat $CG/memory.limit_in_bytes); \
             echo injob=$(grep -c '/{id}$' /proc/self/cgroup)",
            p = pids_cg.0.display(),
            u = uni_cg.0.display(),
            pidcg = sh_own_cgroup("pids"),
            memcg = sh_own_cgroup("memory"),
        ));
    let out = run(&root, &b, &id);
    out.assert_code(0);
    for k in ["escape_pids", "escape_unified", "escape_parent", "raise_pids", "raise_mem"] {
        assert_eq!(out.must_value(k), "no", "a nobody payload could do {k}:\n{}", out.dump());
    }
    assert_eq!(out.must_value("pidsmax"), "50", "{}", out.dump());
    assert_eq!(out.must_value("memlimit"), "268435456", "{}", out.dump());
    let injob: usize = out.must_value("injob").parse().unwrap();
    assert!(injob >= 2, "the payload is no longer in its job in every hierarchy:\n{}", out.dump());
    assert!(pids_cg.procs().trim().is_empty(), "a process joined the test's pids cgroup");
    assert!(uni_cg.procs().trim().is_empty(), "a process joined the test's unified cgroup");
    cleanup_check(&root, &b, &id, &[]);
}

/// `hostproc --root ROOT ARGS...` for a root path hostproc makes itself.
fn hp_at(root: &Path, args: &[&str]) -> Output {
    let mut s = Scratch::new();
    let (o, e) = s.pair();
    let mut full = vec!["--root", root.to_str().unwrap()];
    full.extend_from_slice(args);
    hostproc_files(&full, None, &o, &e)
}

#[test]
fn a_non_root_payload_cannot_read_the_state_directory() {
    // A root that does not exist yet, so hostproc makes it with its own mode.
    let parent = tempdir();
    let root = parent.path().join("state");
    let id = unique_id("secstate");
    let mut b = Bundle::new();
    let release = parent.path().join("release");
    b.user(NOBODY, NOBODY, &[], None).sh(&format!(
        "if ls '{r}' >/dev/null 2>&1; then echo ls_root=yes; else echo ls_root=no; fi; \
         if ls '{r}/{id}' >/dev/null 2>&1; then echo ls_dir=yes; else echo ls_dir=no; fi; \
         if cat '{r}/{id}/state.json' >/dev/null 2>&1; then echo cat_state=yes; else echo cat_state=no; fi; \
         echo checked; {w}",
        r = root.display(),
        w = sh_wait_for(&release, 30)
    ));
    b.write();
    let mut s = Scratch::new();
    let (o, e) = s.pair();
    let bundle = b.path().to_str().unwrap().to_owned();
    hostproc_files(&["--root", root.to_str().unwrap(), "create", "--bundle", &bundle, &id], None, &o, &e).assert_code(0);
    hp_at(&root, &["start", &id]).assert_code(0);
    assert!(common::lc::wait_until(Duration::from_secs(10), || fs::read_to_string(&o).unwrap_or_default().contains("checked")));
    let text = fs::read_to_string(&o).unwrap();
    let mode = |p: &Path| fs::symlink_metadata(p).map(|m| m.permissions().mode() & 0o7777).unwrap_or(0);
    let mut problems = Vec::new();
    if mode(&root) != 0o700 {
        problems.push(format!("the state root {} has mode {:o}, not 700", root.display(), mode(&root)));
    }
    let dir = root.join(&id);
    if mode(&dir) & 0o077 != 0 {
        problems.push(format!("the state dir has mode {:o}", mode(&dir)));
    }
    for e in fs::read_dir(&dir).unwrap().flatten() {
        let m = mode(&e.path());
        if m & 0o077 != 0 {
            problems.push(format!("{} has mode {m:o} (readable by others)", e.path().display()));
        }
        if fs::symlink_metadata(e.path()).unwrap().uid() != 0 {
            problems.push(format!("{} is not owned by root", e.path().display()));
        }
    }
    for k in ["ls_root", "ls_dir", "cat_state"] {
        let v = text.lines().find_map(|l| l.strip_prefix(&format!("{k}="))).unwrap_or("?");
        if v != "no" {
            problems.push(format!("a nobody payload could {k}: {v}"));
        }
    }
    fs::write(&release, "").unwrap();
    let _ = hp_at(&root, &["delete", "--force", &id]);
    assert!(problems.is_empty(), "{}\npayload output:\n{text}", problems.join("\n"));
}

/// With the default `--root` (/run/hostproc) a non-root payload cannot list the
/// containers either: the default state root is private too.
#[test]
fn the_default_state_root_is_private() {
    let id = unique_id("secdefroot");
    let mut b = Bundle::new();
    b.user(NOBODY, NOBODY, &[], None).sh(&format!(
        "if ls /run/hostproc/{id} >/dev/null 2>&1; then echo ls_dir=yes; else echo ls_dir=no; fi; \
         if ls /run/hostproc >/dev/null 2>&1; then echo ls_root=yes; else echo ls_root=no; fi"
    ));
    b.write();
    let mut c = std::process::Command::new(HOSTPROC);
    c.arg("run").arg("--bundle").arg(b.path()).arg(&id);
    c.stdin(std::process::Stdio::null());
    let out = execute(c);
    out.assert_code(0);
    let mode = fs::metadata("/run/hostproc").map(|m| m.permissions().mode() & 0o777).unwrap_or(0);
    assert_eq!(out.must_value("ls_dir"), "no", "{}", out.dump());
    assert_eq!(
        out.must_value("ls_root"),
        "no",
        "a nobody payload can list the default state root /run/hostproc (mode {mode:o}), so it sees every container id:\n{}",
        out.dump()
    );
}

#[test]
fn no_new_privileges_and_dropped_capabilities_hold() {
    let root = Root::new();
    let show = "grep -E '^(NoNewPrivs|CapInh|CapPrm|CapEff|CapBnd|CapAmb):' /proc/self/status | tr -d ' \\t' | sed 's/:/=/'";
    // Non-root with noNewPrivileges: nothing at all.
    let mut b = Bundle::new();
    b.user(NOBODY, NOBODY, &[], None).process_field("noNewPrivileges", serde_json::json!(true)).sh(show);
    let id = unique_id("secnnp");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    assert_eq!(out.must_value("NoNewPrivs"), "1", "{}", out.dump());
    for k in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
        assert_eq!(out.must_value(k), "0000000000000000", "{k} of a nobody payload:\n{}", out.dump());
    }
    cleanup_check(&root, &b, &id, &[]);

    // Non-root without noNewPrivileges, but even so no capabilities.
    let mut b = Bundle::new();
    b.user(NOBODY, NOBODY, &[], None).sh(show);
    let id = unique_id("secnocap");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    for k in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
        assert_eq!(out.must_value(k), "0000000000000000", "{k} of a nobody payload:\n{}", out.dump());
    }
    cleanup_check(&root, &b, &id, &[]);

    // Root with only CAP_CHOWN (bit 0) in every set: the rest are dropped, the bounding
    // set too, and noNewPrivileges holds.
    let mut b = Bundle::new();
    b.process_field(
        "capabilities",
        serde_json::json!({
            "bounding": ["CAP_CHOWN"], "effective": ["CAP_CHOWN"], "permitted": ["CAP_CHOWN"],
            "inheritable": [], "ambient": []
        }),
    )
    .process_field("noNewPrivileges", serde_json::json!(true))
    .sh(&format!("{show}; \
                   if mount -t tmpfs none /mnt 2>/dev/null; then echo mount=yes; umount /mnt; else echo mount=no; fi"));
    let id = unique_id("secchown");
    let out = run(&root, &b, &id);
    out.assert_code(0);
    assert_eq!(out.must_value("NoNewPrivs"), "1", "{}", out.dump());
    assert_eq!(out.must_value("CapEff"), "0000000000000001", "{}", out.dump());
    assert_eq!(out.must_value("CapPrm"), "0000000000000001", "{}", out.dump());
    assert_eq!(out.must_value("CapBnd"), "0000000000000001", "{}", out.dump());
    assert_eq!(out.must_value("mount"), "no", "a payload without CAP_SYS_ADMIN could mount:\n{}", out.dump());
    cleanup_check(&root, &b, &id, &[]);

    // exec --no-new-privs as nobody.
    let mut b = Bundle::new();
    b.sh("sleep 30").grace("1s");
    let id = unique_id("secexecnnp");
    let c = Ctr::new(&root, &id);
    c.create(&b, &[]).assert_code(0);
    c.start().assert_code(0);
    let ex = c.exec(&["--no-new-privs", "--user", "65534:65534"], &["/bin/sh", "-c", show]);
    ex.assert_code(0);
    assert_eq!(ex.must_value("NoNewPrivs"), "1", "{}", ex.dump());
    assert_eq!(ex.must_value("CapEff"), "0000000000000000", "{}", ex.dump());
    c.delete_force().assert_code(0);
    cleanup_check(&root, &b, &id, &[]);
}

/// A file owned by the test, with a known content, that no command may change.
struct Victim {
    _dir: tempfile::TempDir,
    file: PathBuf,
    dir: PathBuf,
}

const VICTIM_TEXT: &str = "precious: hostproc must never write here\n";

impl Victim {
    fn new() -> Victim {
        let d = tempdir();
        let dir = d.path().join("victim-dir");
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("keep"), VICTIM_TEXT).unwrap();
        let file = d.path().join("victim-file");
        fs::write(&file, VICTIM_TEXT).unwrap();
        Victim { _dir: d, file, dir }
    }
    #[track_caller]
    fn assert_intact(&self, what: &str) {
        assert_eq!(fs::read_to_string(&self.file).unwrap_or_default(), VICTIM_TEXT, "[{what}] the victim file was changed");
        let names: Vec<String> = fs::read_dir(&self.dir)
            .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        assert_eq!(names, vec!["keep".to_owned()], "[{what}] the victim directory was changed");
        assert_eq!(fs::read_to_string(self.dir.join("keep")).unwrap_or_default(), VICTIM_TEXT, "[{what}] the victim directory's file was changed");
    }
}

#[test]
fn a_symlink_planted_as_the_state_directory_is_never_followed() {
    let root = Root::new();
    let victim = Victim::new();
    let id = unique_id("seclinkdir");
    std::os::unix::fs::symlink(&victim.dir, root.path().join(&id)).unwrap();
    let mut b = Bundle::new();
    b.sh("sleep 5").grace("1s");
    b.write();
    let bundle = b.path().to_str().unwrap().to_owned();
    let c = Ctr::new(&root, &id);
    let cr = c.create(&b, &[]);
    assert_eq!(cr.code, Some(1), "create over a planted symlink must fail:\n{}", cr.dump());
    victim.assert_intact("create");
    let r = run(&root, &b, &id);
    assert_eq!(r.code, Some(1), "run over a planted symlink must fail:\n{}", r.dump());
    victim.assert_intact("run");
    for args in [
        vec!["state", id.as_str()],
        vec!["start", id.as_str()],
        vec!["kill", id.as_str(), "KILL"],
        vec!["delete", id.as_str()],
        vec!["exec", id.as_str(), "/bin/true"],
        vec!["pause", id.as_str()],
        vec!["list"],
        vec!["list", "--format", "json"],
    ] {
        let out = hostproc(&root, &args);
        victim.assert_intact(&args.join(" "));
        if args[0] != "list" {
            assert_eq!(out.code, Some(1), "`{}` through a planted symlink must fail:\n{}", args.join(" "), out.dump());
        } else {
            out.assert_code(0);
        }
    }
    // delete --force removes the link only.
    let _ = bundle;
    hostproc(&root, &["delete", "--force", &id]).assert_code(0);
    victim.assert_intact("delete --force");
    assert!(fs::symlink_metadata(root.path().join(&id)).is_err(), "delete --force left the planted link");
    cleanup_check(&root, &b, &id, &[]);
}

/// The temporary files `State::save` writes, `.state.json.<pid of the writer>`, left in
/// the container's state directory.
fn state_temporaries(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n.starts_with(".state.json.")).collect())
        .unwrap_or_default()
}

/// `hostproc --root ROOT ARGS...` run through a shell that first plants a symlink to
/// `victim` at the name of the state temporary file this very process will write
/// (`<state dir>/.state.json.<its pid>`: `exec` keeps the shell's pid for hostproc).
fn hp_planting_state_tmp(root: &Path, state_dir: &Path, victim: &Path, args: &[&str]) -> Output {
    let mut c = std::process::Command::new("/bin/sh");
    c.arg("-c")
        .arg(r#"ln -s "$0" "$1/.state.json.$$" && shift && exec "$@""#)
        .arg(victim)
        .arg(state_dir)
        .arg(HOSTPROC)
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(std::process::Stdio::null());
    execute(c)
}

#[test]
fn a_symlink_planted_as_the_state_temporary_file_is_never_followed() {
    let root = Root::new();
    let victim = Victim::new();
    let id = unique_id("seclinktmp");
    let mut b = Bundle::new();
    let release = victim._dir.path().join("release");
    b.sh(&format!("echo up; {} echo done", sh_wait_for(&release, 30))).grace("1s");
    let c = Ctr::new(&root, &id);
    c.create(&b, &[]).assert_code(0);
    let dir = root.path().join(&id);
    assert!(state_temporaries(&dir).is_empty(), "create left a temporary state file: {:?}", state_temporaries(&dir));
    let raw_status = || {
        let v: serde_json::Value = serde_json::from_slice(&fs::read(dir.join("state.json")).unwrap()).unwrap();
        v["status"].as_str().unwrap_or("?").to_owned()
    };
    // Every command that writes the state (start, pause, resume: State::save makes its
    // temporary file with O_EXCL|O_NOFOLLOW and, when the name is taken, removes what is
    // there and makes it afresh), each with the link planted at the very name it writes;
    // delete --force, which writes none, too.
    for (cmd, args, status) in [("start", vec!["start", id.as_str()], "running"), ("pause", vec!["pause", id.as_str()], "paused"), ("resume", vec!["resume", id.as_str()], "running")] {
        let out = hp_planting_state_tmp(root.path(), &dir, &victim.file, &args);
        victim.assert_intact(cmd);
        out.assert_code(0);
        assert_eq!(raw_status(), status, "[{cmd}] the state was not written through the planted name:\n{}", out.dump());
        let left = state_temporaries(&dir);
        assert!(left.is_empty(), "[{cmd}] the planted link was left, not replaced: {left:?}\n{}", out.dump());
    }
    // The supervisor records the stop: the link at its name (its pid is in the state).
    let v: serde_json::Value = serde_json::from_slice(&fs::read(dir.join("state.json")).unwrap()).unwrap();
    let sup = v["hostproc"]["supervisor"][0].as_i64().filter(|p| *p > 0).unwrap_or_else(|| panic!("the state names no supervisor: {v:#}"));
    std::os::unix::fs::symlink(&victim.file, dir.join(format!(".state.json.{sup}"))).unwrap();
    fs::write(&release, "").unwrap();
    let recorded = common::lc::wait_until(Duration::from_secs(20), || raw_status() == "stopped");
    victim.assert_intact("the supervisor recording the stop");
    assert!(recorded, "the supervisor did not record the stop through the planted name (status {}); left: {:?}", raw_status(), state_temporaries(&dir));
    assert!(state_temporaries(&dir).is_empty(), "the supervisor left the planted link: {:?}", state_temporaries(&dir));
    let del = hp_planting_state_tmp(root.path(), &dir, &victim.file, &["delete", "--force", &id]);
    victim.assert_intact("delete --force");
    del.assert_code(0);
    assert!(fs::symlink_metadata(&dir).is_err(), "delete --force left the state directory");
    cleanup_check(&root, &b, &id, &[]);
}

#[test]
fn a_symlink_planted_as_a_mount_point_lock_file_is_never_followed() {
    let root = Root::new();
    let victim = Victim::new();
    let vol = tempdir();
    let dest_parent = tempdir();
    let dest = dest_parent.path().join("vol");
    let lock = mountpoint_lock(&dest);
    fs::create_dir_all(hostproc_container::MOUNTPOINT_LOCKS).unwrap();
    std::os::unix::fs::symlink(&victim.file, &lock).unwrap();
    let mut b = Bundle::new();
    b.bind(vol.path(), dest.to_str().unwrap(), &[]).sh("echo ran");
    let id = unique_id("seclinklock");
    let out = run(&root, &b, &id);
    victim.assert_intact("run with a planted lock file");
    let planted_left = fs::symlink_metadata(&lock).map(|m| m.file_type().is_symlink()).unwrap_or(false);
    let _ = fs::remove_file(&lock);
    // The lock file is opened O_NOFOLLOW: refused, naming it, and the planted link is left
    // as it was (neither followed nor replaced).
    assert!(
        out.code == Some(1) && out.stderr.contains(&lock.to_string_lossy().into_owned()),
        "run with a planted lock file must fail naming the lock file:\n{}",
        out.dump()
    );
    assert!(planted_left, "run refused the planted lock file but did not leave it in place:\n{}", out.dump());
    cleanup_check(&root, &b, &id, &[dest_parent.path()]);
}
