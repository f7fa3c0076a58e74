//! The scenarios' results: their tables and the targets (issue 6) they are held to.

use serde_json::json;

use crate::ctx::Ctx;
use crate::report::{fmt, fmt_opt, get, ratio, Rows, Stats};

#[derive(Default)]
pub struct Results {
    pub s1: Rows,
    pub s1_rss: Rows,
    pub s2: Rows,
    pub s3: Rows,
    pub s4: Rows,
    pub s5_state: Rows,
    pub s5_list: Rows,
    pub s5_list_n: Stats,
    pub s6: Option<(f64, f64, usize)>,
    pub s8: Rows,
    pub wrapper_ms: f64,
}

/// Adds "crun−wrapper" rows: crun's median (and min, max) less k × the wrapper's cost.
fn with_adjusted(rows: &[(String, Stats)], wrapper: f64, k: f64) -> Rows {
    let mut out: Rows = rows.to_vec();
    if wrapper > 0.0 {
        if let Some(s) = get(rows, "crun") {
            let adj = Stats {
                v: s.v.iter().map(|x| x - k * wrapper).collect(),
            };
            let i = out.iter().position(|(n, _)| n == "crun").unwrap();
            out[i].0 = "crun (raw)".into();
            out.insert(i + 1, ("crun".into(), adj));
        }
    }
    out
}

/// The target "hostproc's median ≤ k × another's": its line, and whether it is met (None
/// when either was not measured).
fn at_most(label: &str, h: Option<f64>, x: Option<f64>, k: f64) -> (String, Option<bool>) {
    (
        format!("{label}: {}", ratio(h, x)),
        h.zip(x).map(|(h, x)| h <= k * x),
    )
}

pub fn print_results(c: &mut Ctx, r: &mut Results) {
    let w = r.wrapper_ms;
    let mut targets: Vec<(String, Option<bool>)> = Vec::new();
    let med = |rows: &[(String, Stats)], n: &str| get(rows, n).map(|s| s.median());
    if w > 0.0 {
        c.say(format!(
            "\ncrun's wrapper (private mount namespace, tmpfs over /sys/fs/cgroup/unified) costs {} ms a command (median of \
             wrapper-then-exec /bin/true less the floor); the rows named `crun` have it subtracted once per crun command, \
             `crun (raw)` are as measured.",
            fmt(w)
        ));
    }
    let s1 = with_adjusted(&r.s1, w, 1.0);
    if !s1.is_empty() {
        c.table(
            "1. run /bin/true to exit and clean-up",
            "ms",
            &s1,
            &["runc", "crun", "floor", "floor+cgroup"],
        );
        let h = med(&s1, "hostproc");
        for (name, k, label) in [
            ("runc", 0.2, "(1) run ≤ 0.2 × runc"),
            ("crun", 0.25, "(1) run ≤ 0.25 × crun"),
            ("floor+cgroup", 2.5, "(1) run ≤ 2.5 × floor+cgroup"),
            ("floor", 2.5, "(1) run ≤ 2.5 × floor (plain fork+exec+wait)"),
        ] {
            targets.push(at_most(label, h, med(&s1, name), k));
        }
    }
    let s2 = with_adjusted(&r.s2, w, 3.0);
    if !s2.is_empty() {
        let mut rows = s2.clone();
        for f in ["floor", "floor+cgroup"] {
            if let Some(s) = get(&r.s1, f) {
                rows.push((format!("{f} (from 1)"), s.clone()));
            }
        }
        c.table(
            "2. create, start, wait, delete (separate commands)",
            "ms",
            &rows,
            &["runc", "crun", "floor+cgroup (from 1)"],
        );
        let h = med(&s2, "hostproc");
        targets.push(at_most("(2) create..delete ≤ 0.3 × crun", h, med(&s2, "crun"), 0.3));
    }
    let s3 = with_adjusted(&r.s3, w, 1.0);
    if !s3.is_empty() {
        c.table(
            "3. exec /bin/true into a running container",
            "ms",
            &s3,
            &["runc", "crun", "floor", "floor+join-cgroup"],
        );
    }
    if !r.s4.is_empty() {
        let t = format!(
            "4. kill-all of a job of {} processes: init's exit to all gone and cgroup removed",
            c.o.kill_procs
        );
        c.table(&t, "ms", &r.s4.clone(), &["runc", "crun", "floor+cgroup"]);
        let h = med(&r.s4, "hostproc");
        targets.push((
            format!("(4) kill-all < 100 ms: {} ms", fmt_opt(h)),
            h.map(|h| h < 100.0),
        ));
    }
    let st = with_adjusted(&r.s5_state, w, 1.0);
    if !st.is_empty() {
        c.table("5a. state of one container", "ms", &st, &["runc", "crun"]);
        let h = med(&st, "hostproc");
        targets.push((
            format!("(5) state < 2 ms: {} ms", fmt_opt(h)),
            h.map(|h| h < 2.0),
        ));
    }
    let ls = with_adjusted(&r.s5_list, w, 1.0);
    if !ls.is_empty() {
        c.table(
            &format!(
                "5b. list with {} containers of each runtime",
                c.o.list_others_n
            ),
            "ms",
            &ls,
            &["runc", "crun"],
        );
    }
    if !r.s5_list_n.v.is_empty() {
        let rows = vec![(
            format!("hostproc list, {} containers", c.o.list_n),
            r.s5_list_n.clone(),
        )];
        c.table(
            &format!("5c. hostproc list with {} created containers", c.o.list_n),
            "ms",
            &rows,
            &[],
        );
        let m = r.s5_list_n.median();
        targets.push((
            format!("(5) list of {} < 50 ms: {} ms", c.o.list_n, fmt(m)),
            Some(m < 50.0),
        ));
    }
    if let Some((rss, pss, n)) = r.s6 {
        c.say(format!(
            "\n### 6. memory hostproc keeps per running container ({} running)\n",
            c.o.mem_n
        ));
        c.say(format!(
            "supervisor processes found: {n}; per container: RSS {} KiB, PSS {} KiB (runc and crun keep no process of their own \
             once a container runs; the caller's shim does)",
            fmt(rss),
            fmt(pss)
        ));
        c.json.insert(
            "6. per-container memory (KiB)".into(),
            json!({"rss": rss, "pss": pss, "containers": c.o.mem_n}),
        );
        targets.push((
            format!("(6) < 1 MiB per container (PSS): {} KiB", fmt(pss)),
            Some(pss < 1024.0),
        ));
        targets.push((
            format!("(6) < 1 MiB per container (RSS): {} KiB", fmt(rss)),
            Some(rss < 1024.0),
        ));
    }
    if !r.s1_rss.is_empty() {
        let rows = r.s1_rss.clone();
        c.table("7. peak memory of one run (ru_maxrss of the command, its waited-for children included)", "MiB", &rows, &["runc", "crun", "floor"]);
        let h = med(&rows, "hostproc");
        targets.push((
            format!(
                "(7) peak ≤ crun's: {} vs {} MiB",
                fmt_opt(h),
                fmt_opt(med(&rows, "crun"))
            ),
            h.zip(med(&rows, "crun")).map(|(h, x)| h <= x),
        ));
    }
    if !r.s8.is_empty() {
        let rows = r.s8.clone();
        c.table("8. pod: one init container and one container that exits, to exit and clean-up", "ms", &rows, &["podman"]);
        let h = med(&rows, "hostproc pod run --rm");
        targets.push(at_most("(8, issue 12) pod run ≤ 0.1 × podman kube play + wait + kube down", h, med(&rows, "podman"), 0.1));
    }
    c.say("\n### Targets (issues 6 and 12)\n".to_string());
    for (t, ok) in targets {
        let mark = match ok {
            Some(true) => "MET",
            Some(false) => "NOT MET",
            None => "n/a",
        };
        c.say(format!("- {mark}: {t}"));
    }
}
