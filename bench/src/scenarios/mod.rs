//! The scenarios (docs/benchmarks.md), run in order, then the report.

mod exec;
mod kill;
mod many;
mod pod;
mod run;

use std::fs;
use std::time::Instant;

use serde_json::Value;

use crate::ctx::Ctx;
use crate::process::{reap_orphans, sh};
use crate::results::{print_results, Results};
use crate::Res;

/// Runs the scenarios asked for and prints the results; a failed scenario does not stop
/// the others (an interruption does).
pub fn run_all(c: &mut Ctx) -> Res<()> {
    let mut r = Results::default();
    let sc = c.o.scenarios.clone();
    let t0 = Instant::now();
    let mut failures = Vec::new();
    // Scenario 1 also gives the wrapper's cost, used by the others.
    let mut order = vec![1];
    order.extend(sc.iter().copied().filter(|&s| s != 1 && s != 7));
    for s in order {
        let res = match s {
            1 => run::s1(c, &mut r),
            2 => run::s2(c, &mut r),
            3 => exec::s3(c, &mut r),
            4 => kill::s4(c, &mut r),
            5 => many::s5(c, &mut r),
            6 => many::s6(c, &mut r),
            8 => pod::s8(c, &mut r),
            _ => Ok(()),
        };
        if let Err(e) = res {
            if e == "interrupted" {
                return Err(e);
            }
            eprintln!("scenario {s} failed: {e}");
            failures.push(format!("scenario {s}: {e}"));
        }
        reap_orphans();
    }
    print_results(c, &mut r);
    let v = sh("cat /proc/loadavg");
    c.say(format!(
        "\n- load average at end: {v}; bench wall time {:.0} s",
        t0.elapsed().as_secs_f64()
    ));
    if let Some(p) = c.o.json.clone() {
        let _ = fs::write(
            &p,
            serde_json::to_vec_pretty(&Value::Object(c.json.clone())).unwrap(),
        );
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}

/// Each repetition's variants as (repetition, variant), the order rotated by the
/// repetition's number so that none is always first.
fn interleaved<T: Clone>(variants: &[T], reps: usize) -> impl Iterator<Item = (usize, T)> + '_ {
    let n = variants.len();
    (0..reps).flat_map(move |rep| (0..n).map(move |i| (rep, variants[(i + rep) % n].clone())))
}

/// The variants a scenario times: its floors, then each runtime.
fn variants(c: &Ctx, floors: &[&str]) -> Vec<String> {
    floors
        .iter()
        .map(|f| f.to_string())
        .chain(c.rts.iter().map(|r| r.name().to_string()))
        .collect()
}
