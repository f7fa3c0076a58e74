//! hostproc-bench: hostproc against runc, crun and the floor (fork+exec+wait, with and
//! without a cgroup), in one run with interleaved repetitions. See docs/benchmarks.md.
//!
//! Run as root: `cargo run --release -p hostproc-bench` (after `cargo build --release -p hostproc`).
//!
//! Rules it keeps: every cgroup it (or a runtime it drives) makes is beneath the caller's own
//! cgroup in each hierarchy; it never writes the files of its own cgroup and never moves a
//! process out of it; it kills only processes it started (through the runtimes' own
//! `delete --force`, or pids it forked); it removes every container, cgroup, mount point
//! and temporary directory it made.

mod cgroup;
mod ctx;
mod opts;
mod process;
mod report;
mod results;
mod runtime;
mod scenarios;
mod setup;

use hostproc_sys::set_child_subreaper;

type Res<T> = Result<T, String>;

fn main() {
    let o = opts::parse_opts();
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("hostproc-bench must run as root");
        std::process::exit(2);
    }
    if !o.hostproc.is_file() {
        eprintln!(
            "{}: not found; build it first: cargo build --release -p hostproc",
            o.hostproc.display()
        );
        std::process::exit(2);
    }
    let _ = set_child_subreaper();
    process::catch_signals();
    let mut c = match ctx::Ctx::new(o) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1)
        }
    };
    let res = setup::setup(&mut c).and_then(|()| scenarios::run_all(&mut c));
    let leftovers = setup::cleanup(&mut c);
    if let Err(e) = &res {
        eprintln!("\nERROR: {e}");
    }
    if !leftovers.is_empty() {
        eprintln!("\nLEFT BEHIND (please check): {leftovers:?}");
    }
    if res.is_err() || !leftovers.is_empty() {
        std::process::exit(1);
    }
}
