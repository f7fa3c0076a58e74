//! Scenarios with many containers: 5 (state and list) and 6 (hostproc's memory per
//! running container).

use std::collections::BTreeMap;
use std::fs;

use serde_json::Value;

use super::interleaved;
use crate::ctx::Ctx;
use crate::process::check_stop;
use crate::report::{entry, ms};
use crate::results::Results;
use crate::runtime::Rt;
use crate::Res;

/// Runs `f`, then `delete --force`s every container it made (it records each in `made`
/// once created), whether it succeeded or not.
fn with_containers(
    c: &mut Ctx,
    scenario: u32,
    f: impl FnOnce(&mut Ctx, &mut Vec<(Rt, String)>) -> Res<()>,
) -> Res<()> {
    let mut made = Vec::new();
    let res = f(c, &mut made);
    eprintln!("[{scenario}] deleting {} containers", made.len());
    c.force_delete(made.iter().map(|(rt, id)| (*rt, id.as_str())));
    res
}

/// (5) `state` of one container; `list` with many.
pub fn s5(c: &mut Ctx, r: &mut Results) -> Res<()> {
    eprintln!(
        "[5] state ×{}; list with {} containers of each runtime, then hostproc with {}",
        c.o.reps, c.o.list_others_n, c.o.list_n
    );
    with_containers(c, 5, |c, made| {
        let rts = c.rts.clone();
        let mut first = BTreeMap::new();
        let n_each = c.o.list_others_n.max(1);
        for _ in 0..n_each {
            for &rt in &rts {
                check_stop()?;
                let id = c.id("list");
                c.create(rt, &id, &["/bin/true"])?;
                made.push((rt, id.clone()));
                first.entry(rt).or_insert(id);
            }
        }
        for (_, rt) in interleaved(&rts, c.o.reps) {
            check_stop()?;
            let (d, _) = c.rt(rt, &["state", &first[&rt]])?;
            entry(&mut r.s5_state, rt.name()).push(ms(d));
        }
        if c.o.list_others_n > 0 {
            for (_, rt) in interleaved(&rts, c.o.reps) {
                check_stop()?;
                let (d, _) = c.rt(rt, &["list"])?;
                entry(&mut r.s5_list, rt.name()).push(ms(d));
            }
        }
        let have = made.iter().filter(|(rt, _)| *rt == Rt::Hostproc).count();
        for _ in have..c.o.list_n {
            check_stop()?;
            let id = c.id("list");
            c.create(Rt::Hostproc, &id, &["/bin/true"])?;
            made.push((Rt::Hostproc, id));
        }
        for _ in 0..c.o.reps {
            check_stop()?;
            let (d, _) = c.rt(Rt::Hostproc, &["list"])?;
            r.s5_list_n.push(ms(d));
        }
        Ok(())
    })
}

fn smaps_rollup(pid: i32) -> Option<(u64, u64)> {
    let s = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let field = |k: &str| -> Option<u64> {
        s.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    };
    Some((field("Rss:")?, field("Pss:")?))
}

/// (6) resident memory hostproc keeps per running container: its supervisors' RSS and PSS.
pub fn s6(c: &mut Ctx, r: &mut Results) -> Res<()> {
    let n = c.o.mem_n;
    eprintln!("[6] {n} running hostproc containers: supervisors' memory");
    with_containers(c, 6, |c, made| {
        for _ in 0..n {
            check_stop()?;
            let id = c.id("mem");
            c.create(Rt::Hostproc, &id, &["/bin/sleep", "1000000"])?;
            made.push((Rt::Hostproc, id.clone()));
            c.rt(Rt::Hostproc, &["start", &id])?;
        }
        let (mut rss, mut pss, mut procs) = (0u64, 0u64, 0usize);
        for (_, id) in made.iter() {
            let p = c.state_root(Rt::Hostproc).join(id).join("state.json");
            let v: Value =
                serde_json::from_slice(&fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?)
                    .map_err(|e| e.to_string())?;
            // hostproc.supervisor = [pid, start time]; any other per-container process
            // hostproc might keep would be listed there too.
            let sup = v["hostproc"]["supervisor"][0]
                .as_i64()
                .ok_or_else(|| format!("{}: no supervisor pid", p.display()))?;
            let (r_, p_) = smaps_rollup(sup as i32)
                .ok_or_else(|| format!("supervisor {sup} of {id} is gone"))?;
            rss += r_;
            pss += p_;
            procs += 1;
        }
        r.s6 = Some((rss as f64 / n as f64, pss as f64 / n as f64, procs));
        Ok(())
    })
}
