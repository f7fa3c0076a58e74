//! Scenarios 1 (run to exit, and 7: its peak memory) and 2 (create, start, wait, delete).

use std::fs;
use std::time::Instant;

use hostproc_sys::pidfd_open;

use super::{interleaved, variants};
use crate::cgroup::CgSet;
use crate::ctx::Ctx;
use crate::process::{
    check_stop, ok_status, poll_in, read_pid, reap_orphans, spawn, wait_child, Pre,
};
use crate::report::{entry, get, ms};
use crate::results::Results;
use crate::runtime::Rt;
use crate::Res;

/// (1) run /bin/true to exit and clean-up, (7) its peak memory; also the crun wrapper's cost.
pub fn s1(c: &mut Ctx, r: &mut Results) -> Res<()> {
    eprintln!("[1] run /bin/true ×{} each, interleaved", c.o.reps);
    let mut floors = vec!["floor", "floor+cgroup"];
    if c.rts.contains(&Rt::Crun) && c.hybrid {
        floors.push("crun-wrapper(/bin/true)");
    }
    let variants = variants(c, &floors);
    let t = c.floor_payload();
    for (rep, v) in interleaved(&variants, c.o.reps) {
        check_stop()?;
        let (d, rss) = match v.as_str() {
            "floor" => c.run(&t, &Pre::None)?,
            "floor+cgroup" => {
                let name = format!("hostproc-bench-{}-f1-{rep}", c.pid);
                let t0 = Instant::now();
                let set = CgSet::create(&c.job, &name)?;
                let pid = spawn(&t, &c.io(), &Pre::Join(set.procs()))?;
                let (st, rss) = wait_child(pid)?;
                let removed = set.remove();
                let d = t0.elapsed();
                if !ok_status(st) || !removed {
                    return Err(format!(
                        "floor+cgroup failed: status {st:#x}, removed {removed}"
                    ));
                }
                (d, rss)
            }
            "crun-wrapper(/bin/true)" => c.run(&t, &Pre::CrunWrap)?,
            name => {
                let rt = c.rt_named(name);
                let id = c.id("run");
                let b = c.bundle(rt, &id, &[c.payload(rt)])?;
                let res = c.rt(rt, &["run", "--bundle", b.to_str().unwrap(), &id])?;
                if rep == 0 {
                    if let Some(d) = c.cgroup_left(rt, &id) {
                        return Err(format!("{name} run left its cgroup {}", d.display()));
                    }
                    if fs::read_dir(c.state_root(rt))
                        .map(|mut d| d.next().is_some())
                        .unwrap_or(false)
                    {
                        return Err(format!(
                            "{name} run left its state under {}",
                            c.state_root(rt).display()
                        ));
                    }
                }
                let _ = fs::remove_dir_all(&b);
                res
            }
        };
        reap_orphans();
        entry(&mut r.s1, &v).push(ms(d));
        entry(&mut r.s1_rss, &v).push(rss as f64 / 1024.0);
    }
    if let (Some(w), Some(f)) = (get(&r.s1, "crun-wrapper(/bin/true)"), get(&r.s1, "floor")) {
        r.wrapper_ms = (w.median() - f.median()).max(0.0);
    }
    Ok(())
}

/// (2) create, start, wait, delete as separate commands.
pub fn s2(c: &mut Ctx, r: &mut Results) -> Res<()> {
    eprintln!(
        "[2] create/start/wait/delete ×{} each, interleaved",
        c.o.reps
    );
    let rts = c.rts.clone();
    for (_, rt) in interleaved(&rts, c.o.reps) {
        check_stop()?;
        let id = c.id("life");
        let b = c.bundle(rt, &id, &[c.payload(rt)])?;
        let pidf = c.tmp.join(format!("{id}.pid"));
        let t0 = Instant::now();
        c.rt(
            rt,
            &[
                "create",
                "--bundle",
                b.to_str().unwrap(),
                "--pid-file",
                pidf.to_str().unwrap(),
                &id,
            ],
        )?;
        let pid = read_pid(&pidf)?;
        let pfd = pidfd_open(pid).map_err(|e| format!("pidfd_open {pid}: {e}"))?;
        c.rt(rt, &["start", &id])?;
        let exited = poll_in(&pfd, 30_000);
        drop(pfd);
        if !exited {
            return Err(format!("{} {id}: init did not exit", rt.name()));
        }
        let del = c.rt(rt, &["delete", &id]);
        let d = t0.elapsed();
        del?;
        reap_orphans();
        let _ = fs::remove_file(&pidf);
        let _ = fs::remove_dir_all(&b);
        entry(&mut r.s2, rt.name()).push(ms(d));
    }
    Ok(())
}
