//! Scenario 3: exec into a running container.

use std::collections::BTreeMap;

use super::{interleaved, variants};
use crate::ctx::Ctx;
use crate::process::{check_stop, reap_orphans, Pre};
use crate::report::{entry, ms};
use crate::results::Results;
use crate::runtime::Rt;
use crate::Res;

/// (3) exec /bin/true into a running container.
pub fn s3(c: &mut Ctx, r: &mut Results) -> Res<()> {
    eprintln!("[3] exec /bin/true ×{} each, interleaved", c.o.reps);
    let mut ids = BTreeMap::new();
    for rt in c.rts.clone() {
        let id = c.id("exec");
        ids.insert(rt, id.clone());
        let made = c
            .create(rt, &id, &["/bin/sleep", "1000000"])
            .and_then(|()| c.rt(rt, &["start", &id]));
        if let Err(e) = made {
            c.force_delete(ids.iter().map(|(rt, id)| (*rt, id.as_str())));
            return Err(e);
        }
    }
    let res = s3_measure(c, r, &ids);
    c.force_delete(ids.iter().map(|(rt, id)| (*rt, id.as_str())));
    res
}

fn s3_measure(c: &mut Ctx, r: &mut Results, ids: &BTreeMap<Rt, String>) -> Res<()> {
    let fs_i = c.new_floor_set()?;
    let procs = c.floor_sets[fs_i].procs();
    let variants = variants(c, &["floor", "floor+join-cgroup"]);
    let t = c.floor_payload();
    for (_, v) in interleaved(&variants, c.o.reps) {
        check_stop()?;
        let (d, _) = match v.as_str() {
            "floor" => c.run(&t, &Pre::None)?,
            "floor+join-cgroup" => c.run(&t, &Pre::Join(procs.clone()))?,
            name => {
                let rt = c.rt_named(name);
                c.rt(rt, &["exec", &ids[&rt], c.payload(rt)])?
            }
        };
        reap_orphans();
        entry(&mut r.s3, &v).push(ms(d));
    }
    if !c.drop_floor_set(fs_i) {
        return Err("cannot remove the floor cgroups of scenario 3".into());
    }
    Ok(())
}
