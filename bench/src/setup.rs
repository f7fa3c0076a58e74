//! Setting the run up (files, state roots, which runtimes, the machine's description) and
//! removing everything it made.

use std::fs;
use std::path::Path;
#[cfg(target_arch = "x86_64")]
use std::time::Instant;

use hostproc_sys::close_fd;

use crate::cgroup::own_dir;
use crate::ctx::Ctx;
use crate::process::{cstr, errno, sh};
use crate::runtime::{Rt, HPC_LOCATION};
use crate::Res;

fn build_rootfs(dir: &Path) -> Res<()> {
    // The rootfs of every runtime's bundles, and the floor's /bin/true: busybox-static if
    // there is one, else /bin/sh, true, sleep and their libraries (ldd).
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).map_err(|e| e.to_string())?;
    for d in ["proc", "dev", "sys", "tmp", "etc"] {
        fs::create_dir_all(dir.join(d)).map_err(|e| e.to_string())?;
    }
    let bb = Path::new("/bin/busybox");
    let is_static = bb.exists() && sh("ldd /bin/busybox 2>&1").contains("not a dynamic");
    if is_static {
        fs::copy(bb, bin.join("busybox")).map_err(|e| e.to_string())?;
        for a in ["sh", "true", "sleep", "cat"] {
            std::os::unix::fs::symlink("busybox", bin.join(a)).map_err(|e| e.to_string())?;
        }
        return Ok(());
    }
    for p in ["/bin/sh", "/bin/true", "/bin/sleep"] {
        let real = fs::canonicalize(p).map_err(|e| e.to_string())?;
        let name = Path::new(p).file_name().unwrap();
        fs::copy(&real, bin.join(name)).map_err(|e| format!("{}: {e}", real.display()))?;
        for lib in sh(&format!("ldd {} | grep -o '/[^ ]*'", real.display())).lines() {
            let dst = dir.join(lib.trim_start_matches('/'));
            fs::create_dir_all(dst.parent().unwrap()).map_err(|e| e.to_string())?;
            if !dst.exists() {
                fs::copy(lib, &dst).map_err(|e| format!("{lib}: {e}"))?;
            }
        }
    }
    Ok(())
}

/// The median time of one `cpuid`: glibc's start-up, in every process each runtime and
/// the floor start, executes it dozens of times, and in a VM each one is an exit to the
/// hypervisor; this is what explains a slow floor.
#[cfg(target_arch = "x86_64")]
fn cpuid_cost_us() -> f64 {
    let mut runs: Vec<f64> = (0..21)
        .map(|_| {
            let t = Instant::now();
            for leaf in 0..50u32 {
                std::hint::black_box(std::arch::x86_64::__cpuid_count(0x8000_0000 + leaf % 8, 0));
            }
            t.elapsed().as_secs_f64() * 1e6 / 50.0
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[runs.len() / 2]
}

pub fn setup(c: &mut Ctx) -> Res<()> {
    prepare(c)?;
    let notes = find_runtimes(c)?;
    describe(c, notes);
    Ok(())
}

/// The temporary directory: stderr log, rootfs, state roots, a copy of hostproc.
fn prepare(c: &mut Ctx) -> Res<()> {
    fs::create_dir_all(&c.tmp).map_err(|e| format!("{}: {e}", c.tmp.display()))?;
    c.devnull = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    let log = cstr(&c.errlog_path);
    c.errlog = unsafe {
        libc::open(
            log.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND | libc::O_CLOEXEC,
            0o600,
        )
    };
    if c.devnull < 0 || c.errlog < 0 {
        return Err(format!("open: {}", errno()));
    }
    // One rootfs for every runtime, and its /bin/true is the program every variant times.
    build_rootfs(&c.tmp.join("rootfs"))?;
    // Every runtime keeps its state under /run, a tmpfs on systemd hosts; this machine's
    // may be a disk, so by default the state roots get a tmpfs of their own.
    let state = c.tmp.join("state");
    fs::create_dir_all(&state).map_err(|e| e.to_string())?;
    if !c.o.state_on_disk {
        let (src, dst) = (c"tmpfs", cstr(&state));
        let r = unsafe {
            libc::mount(src.as_ptr(), dst.as_ptr(), src.as_ptr(), libc::MS_NOSUID | libc::MS_NODEV, c"mode=0700".as_ptr().cast())
        };
        if r != 0 {
            return Err(format!("mount a tmpfs on {}: {}", state.display(), errno()));
        }
    }
    // A private copy of the binary: the target directory may be rebuilt while we run.
    let snap = c.tmp.join("hostproc");
    fs::copy(&c.o.hostproc, &snap).map_err(|e| format!("copy {}: {e}", c.o.hostproc.display()))?;
    c.hostproc_src = c.o.hostproc.clone();
    c.o.hostproc = snap;
    Ok(())
}

/// runc and crun, if installed and usable here: the spec template their bundles start
/// from, their state roots. Returns notes on what was skipped and why.
fn find_runtimes(c: &mut Ctx) -> Res<Vec<String>> {
    let mut notes = Vec::new();
    let mut want = Vec::new();
    if let Some(r) = &c.o.runc {
        if r.is_file() {
            want.push(Rt::Runc);
        } else {
            notes.push(format!("runc: {} not found, skipped", r.display()));
        }
    } else {
        notes.push("runc: not installed (or --runc none), skipped".into());
    }
    if let Some(r) = &c.o.crun {
        if r.is_file() {
            // crun takes an absolute cgroupsPath in every hierarchy: it is beneath our own
            // cgroup everywhere only if each v1 hierarchy's own cgroup is "/" or the memory one.
            let base = c.crun_base.clone();
            let bad: Vec<String> = c
                .all
                .iter()
                .filter(|h| !h.ctrls.is_empty() || !c.hybrid)
                .filter(|h| {
                    !(h.own == "/"
                        || base == h.own
                        || base.starts_with(&format!("{}/", h.own.trim_end_matches('/'))))
                })
                .map(|h| format!("{}:{}", h.ctrls, h.own))
                .collect();
            if bad.is_empty() {
                want.push(Rt::Crun);
            } else {
                notes.push(format!("crun: skipped: no absolute cgroup path is beneath our own cgroup in every hierarchy ({bad:?})"));
            }
        } else {
            notes.push(format!("crun: {} not found, skipped", r.display()));
        }
    } else {
        notes.push("crun: not installed (or --crun none), skipped; apt-get install -y crun".into());
    }
    if !want.is_empty() {
        let spec_dir = c.tmp.join("spec");
        fs::create_dir_all(&spec_dir).map_err(|e| e.to_string())?;
        let spec_bin = if want.contains(&Rt::Runc) {
            c.o.runc.clone().unwrap()
        } else {
            c.o.crun.clone().unwrap()
        };
        let st = std::process::Command::new(&spec_bin)
            .arg("spec")
            .current_dir(&spec_dir)
            .status()
            .map_err(|e| e.to_string())?;
        if !st.success() {
            return Err(format!("{} spec failed", spec_bin.display()));
        }
        c.template = serde_json::from_slice(
            &fs::read(spec_dir.join("config.json")).map_err(|e| e.to_string())?,
        )
        .map_err(|e| e.to_string())?;
    }
    if want.contains(&Rt::Crun) {
        // Directories crun's absolute path makes above its containers in hierarchies where
        // they do not exist yet (they are beneath our own cgroup there); removed at the end.
        let comps: Vec<&str> = c.crun_base.split('/').filter(|s| !s.is_empty()).collect();
        for h in c.all.iter().filter(|h| !h.ctrls.is_empty()) {
            let mut p = h.mount.clone();
            for comp in &comps {
                p = p.join(comp);
                if !p.exists() {
                    c.crun_parents.push(p.clone());
                }
            }
        }
    }
    c.rts.extend(want);
    for rt in c.rts.clone() {
        fs::create_dir_all(c.state_root(rt)).map_err(|e| e.to_string())?;
    }
    Ok(notes)
}

/// The report's head: the machine, the cgroups, each runtime's version, the settings.
fn describe(c: &mut Ctx, notes: Vec<String>) {
    let v = |cmd: &str| sh(cmd).lines().next().unwrap_or("").to_string();
    c.say("## hostproc-bench".to_string());
    c.say(format!(
        "- machine: {} CPUs, kernel {}, {}",
        v("nproc"),
        v("uname -r"),
        v("grep MemTotal /proc/meminfo | tr -s ' '")
    ));
    #[cfg(target_arch = "x86_64")]
    c.say(format!(
        "- cpuid: {:.2} µs each (it traps to the hypervisor in a VM; glibc 2.36 runs it 41 times as every process starts, docs/benchmarks.md)",
        cpuid_cost_us()
    ));
    c.say(format!(
        "- cgroups: {}; own cgroup: {}",
        if c.hybrid {
            "hybrid (v1 controllers + v2 at /sys/fs/cgroup/unified)"
        } else if c.all.iter().any(|h| h.ctrls.is_empty()) && c.all.len() == 1 {
            "v2"
        } else {
            "v1"
        },
        c.all
            .iter()
            .map(|h| format!(
                "{}:{}",
                if h.ctrls.is_empty() { "0:" } else { &h.ctrls },
                h.own
            ))
            .collect::<Vec<_>>()
            .join(" ")
    ));
    c.say(format!(
        "- job hierarchies (floor+cgroup and hostproc): {}",
        c.job.len()
    ));
    c.say(format!(
        "- hostproc: {} ({}, sha256 {})",
        c.hostproc_src.display(),
        v(&format!("{} --version", c.o.hostproc.display())),
        v(&format!(
            "sha256sum {} | cut -c1-16",
            c.o.hostproc.display()
        ))
    ));
    if c.rts.contains(&Rt::Runc) {
        c.say(format!(
            "- runc: {} ({}), cgroupsPath relative (beneath its own cgroup)",
            c.o.runc.as_ref().unwrap().display(),
            v(&format!(
                "{} --version",
                c.o.runc.as_ref().unwrap().display()
            ))
        ));
    }
    if c.rts.contains(&Rt::Crun) {
        c.say(format!(
            "- crun: {} ({}), cgroupsPath {}/hostproc-bench-<id>{}",
            c.o.crun.as_ref().unwrap().display(),
            v(&format!("{} --version", c.o.crun.as_ref().unwrap().display())),
            c.crun_base.trim_end_matches('/'),
            if c.hybrid { "; every crun command runs in a private mount namespace with /sys/fs/cgroup/unified hidden (its cost is measured and subtracted)" } else { "" }
        ));
    }
    for n in notes {
        c.say(format!("- {n}"));
    }
    c.say(format!(
        "- repetitions: {} (scenarios 1-3, 5), {} (scenario 4, {} processes); list with {} (all runtimes) and {} (hostproc); {} running for memory",
        c.o.reps, c.o.kill_reps, c.o.kill_procs, c.o.list_others_n, c.o.list_n, c.o.mem_n
    ));
    c.say(format!(
        "- state roots (--root of every runtime): {}",
        if c.o.state_on_disk {
            format!("{} (--state-on-disk; the file system of the temporary directory)", c.tmp.join("state").display())
        } else {
            format!("a tmpfs at {}, as /run is on systemd hosts (--state-on-disk to keep them on disk)", c.tmp.join("state").display())
        }
    ));
    c.say(format!(
        "- load average at start: {}",
        v("cat /proc/loadavg")
    ));
}

/// Removes everything: containers of every runtime under our state roots, floor cgroups,
/// the directories crun's paths made, the state tmpfs, hostproc's parent cgroups and /hpc
/// if the bench made them, the temporary directory.
/// Returns what could not be removed.
pub fn cleanup(c: &mut Ctx) -> Vec<String> {
    let mut left = Vec::new();
    let mut ours = Vec::new();
    let tag = c.id_prefix();
    for &rt in &c.rts {
        let Ok(rd) = fs::read_dir(c.state_root(rt)) else {
            continue;
        };
        for e in rd.flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            if id.starts_with(&tag) {
                ours.push((rt, id));
            }
        }
    }
    c.force_delete(ours.iter().map(|(rt, id)| (*rt, id.as_str())));
    for i in 0..c.floor_sets.len() {
        if !c.floor_sets[i].dirs.is_empty() && !c.drop_floor_set(i) {
            left.extend(c.floor_sets[i].dirs.iter().map(|d| d.display().to_string()));
        }
    }
    for p in c.crun_parents.iter().rev() {
        if p.exists() && fs::remove_dir(p).is_err() {
            left.push(p.display().to_string());
        }
    }
    // Job cgroups of ours still there?
    for h in &c.all {
        for base in [own_dir(h), own_dir(h).join("hostproc")] {
            if let Ok(rd) = fs::read_dir(&base) {
                for e in rd.flatten() {
                    let n = e.file_name().to_string_lossy().into_owned();
                    if n.contains(&tag) || n.starts_with(&format!("hostproc-bench-{}-", c.pid)) {
                        left.push(e.path().display().to_string());
                    }
                }
            }
        }
    }
    if !c.o.state_on_disk {
        let st = cstr(c.tmp.join("state"));
        unsafe { libc::umount2(st.as_ptr(), libc::MNT_DETACH) };
    }
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let tmp_s = c.tmp.display().to_string();
    for l in mounts.lines() {
        if let Some(mp) = l.split_whitespace().nth(4) {
            if mp.starts_with(&tmp_s) || (mp == HPC_LOCATION && !c.hpc_existed) {
                left.push(format!("mount {mp}"));
            }
        }
    }
    for p in &c.made_parents {
        // Another user's containers may be in it now: then it is theirs to leave.
        let _ = fs::remove_dir(p);
    }
    // hostproc keeps /hpc once made; the bench removes it if it made it. (An rmdir of a
    // directory another mount namespace has a mount on detaches that mount: on a host whose
    // containers use /hpc, make it before the bench so that it is left alone.)
    if !c.hpc_existed && Path::new(HPC_LOCATION).exists() && fs::remove_dir(HPC_LOCATION).is_err() {
        left.push(HPC_LOCATION.to_string());
    }
    if left.iter().all(|l| !l.starts_with("mount")) {
        close_fd(c.devnull);
        close_fd(c.errlog);
        if let Err(e) = fs::remove_dir_all(&c.tmp) {
            left.push(format!("{}: {e}", c.tmp.display()));
        }
    }
    left
}
