//! Scenario 4: kill-all of a job of many processes.

use std::fs;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use hostproc_sys::{pidfd_open, pipe};

use super::{interleaved, variants};
use crate::ctx::Ctx;
use crate::process::{check_stop, poll_in, read_pid, reap_orphans, spawn, wait_child, Io, Pre};
use crate::report::{entry, ms};
use crate::results::Results;
use crate::Res;

/// (4) kill-all of a job of N processes: from init's exit to `run` returning (every process
/// gone and the cgroup removed).
pub fn s4(c: &mut Ctx, r: &mut Results) -> Res<()> {
    let n = c.o.kill_procs;
    eprintln!(
        "[4] kill-all of {n} processes ×{} each, interleaved",
        c.o.kill_reps
    );
    let script = format!(
        "i=0; while [ $i -lt {n} ]; do sleep 1000000 </dev/null >/dev/null 2>&1 & i=$((i+1)); done; echo ready; read x"
    );
    let variants = variants(c, &["floor+cgroup"]);
    for (_, v) in interleaved(&variants, c.o.kill_reps) {
        check_stop()?;
        // Owned: whatever fails below, the descriptors are closed on the way out.
        let (in_r, in_w) = pipe().map_err(|e| format!("pipe: {e}"))?;
        let (out_r, out_w) = pipe().map_err(|e| format!("pipe: {e}"))?;
        let io = Io {
            stdin: in_r.as_raw_fd(),
            stdout: out_w.as_raw_fd(),
            stderr: c.errlog,
        };
        let args = ["/bin/sh", "-c", script.as_str()];
        let pidf = c.tmp.join("kill.pid");
        let _ = fs::remove_file(&pidf);
        let mut floor_set = None;
        let mut id = String::new();
        let mut rt = None;
        let child = if v == "floor+cgroup" {
            let i = c.new_floor_set()?;
            floor_set = Some(i);
            let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            spawn(&argv, &io, &Pre::Join(c.floor_sets[i].procs()))?
        } else {
            let r_ = c.rt_named(&v);
            rt = Some(r_);
            id = c.id("kill");
            let b = c.bundle(r_, &id, &args)?;
            let (argv, pre) = c.cmd(
                r_,
                &[
                    "run",
                    "--bundle",
                    b.to_str().unwrap(),
                    "--pid-file",
                    pidf.to_str().unwrap(),
                    &id,
                ],
            );
            spawn(&argv, &io, &pre)?
        };
        drop(in_r);
        drop(out_w);
        if !wait_ready(fs::File::from(out_r)) {
            drop(in_w);
            let _ = wait_child(child);
            return Err(format!(
                "{v}: payload never got ready; stderr tail:\n{}",
                c.err_tail()
            ));
        }
        let init = if rt.is_some() { read_pid(&pidf)? } else { child };
        let pfd = pidfd_open(init).map_err(|e| format!("pidfd_open {init}: {e}"))?;
        // Let the payload's `read` return; the write end is closed with the File.
        let _ = fs::File::from(in_w).write_all(b"\n");
        let exited = poll_in(&pfd, 60_000);
        let t0 = Instant::now();
        drop(pfd);
        if !exited {
            return Err(format!("{v}: init did not exit"));
        }
        let d = if let Some(i) = floor_set {
            floor_kill_all(c, i, child)?;
            t0.elapsed()
        } else {
            let _ = wait_child(child)?;
            let d = t0.elapsed();
            if let Some(dir) = c.cgroup_left(rt.unwrap(), &id) {
                return Err(format!(
                    "{v}: cgroup {} still there after run returned",
                    dir.display()
                ));
            }
            let _ = fs::remove_dir_all(c.tmp.join("bundles").join(&id));
            d
        };
        reap_orphans();
        entry(&mut r.s4, &v).push(ms(d));
    }
    Ok(())
}

/// Waits for "ready" (every sleep started) on the payload's stdout.
fn wait_ready(mut out: fs::File) -> bool {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 256];
    loop {
        if !poll_in(&out, 120_000) {
            return false;
        }
        let k = match out.read(&mut chunk) {
            Ok(k) if k > 0 => k,
            _ => return false,
        };
        buf.extend_from_slice(&chunk[..k]);
        if buf.windows(5).any(|w| w == b"ready") {
            return true;
        }
    }
}

/// The floor: what any runtime must do at least — kill every process of the cgroup
/// (cgroup.kill on v2, else SIGKILL each listed pid), wait for it to be empty (we are the
/// subreaper, so we reap), remove the cgroups.
fn floor_kill_all(c: &mut Ctx, i: usize, child: i32) -> Res<()> {
    wait_child(child)?;
    let set = &c.floor_sets[i];
    let unified = set
        .dirs
        .iter()
        .find(|d| d.join("cgroup.kill").exists())
        .cloned();
    if let Some(u) = unified {
        fs::write(u.join("cgroup.kill"), "1").map_err(|e| format!("cgroup.kill: {e}"))?;
    } else {
        for d in &set.dirs {
            if let Ok(s) = fs::read_to_string(d.join("cgroup.procs")) {
                for p in s.split_whitespace().filter_map(|p| p.parse::<i32>().ok()) {
                    let _ = hostproc_sys::kill(p, libc::SIGKILL);
                }
                break;
            }
        }
    }
    while !c.floor_sets[i].empty() {
        reap_orphans();
        std::thread::sleep(Duration::from_micros(100));
    }
    reap_orphans();
    if !c.drop_floor_set(i) {
        return Err("floor: cannot remove the cgroups".into());
    }
    Ok(())
}
