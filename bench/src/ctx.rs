//! The run's context: options, hierarchies, temporary files, what it made, the report.

use std::fs;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cgroup::{hierarchies, own_dir, CgSet, Hier};
use crate::opts::Opts;
use crate::process::{ok_status, spawn, wait_child, Io, Pre};
use crate::runtime::{Rt, HPC_LOCATION};
use crate::Res;

pub struct Ctx {
    pub o: Opts,
    pub tmp: PathBuf,
    pub pid: u32,
    pub all: Vec<Hier>,
    pub job: Vec<Hier>,
    pub hybrid: bool,
    pub crun_base: String,
    pub rts: Vec<Rt>,
    pub devnull: RawFd,
    pub errlog: RawFd,
    pub errlog_path: PathBuf,
    pub template: Value,
    /// cgroup dirs that crun's absolute paths will create above its containers, deepest last.
    pub crun_parents: Vec<PathBuf>,
    pub floor_sets: Vec<CgSet>,
    /// Whether the default rootfs location (HPC_LOCATION) existed before the bench.
    pub hpc_existed: bool,
    /// hostproc's parent cgroups (`<own>/hostproc`, kept by hostproc once made) that did
    /// not exist before the bench: removed at the end.
    pub made_parents: Vec<PathBuf>,
    pub hostproc_src: PathBuf,
    pub seq: usize,
    pub report: Vec<String>,
    pub json: serde_json::Map<String, Value>,
}

impl Ctx {
    pub fn new(o: Opts) -> Res<Ctx> {
        let pid = std::process::id();
        let tmp = std::env::temp_dir().join(format!("hostproc-bench-{pid}"));
        let (all, job) = hierarchies()?;
        let hybrid = Path::new("/sys/fs/cgroup/unified/cgroup.procs").exists()
            && !Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        let own_mem = all
            .iter()
            .find(|h| h.has("memory"))
            .map(|h| h.own.clone())
            .unwrap_or("/".into());
        let made_parents = job.iter().map(|h| own_dir(h).join("hostproc")).filter(|p| !p.exists()).collect();
        Ok(Ctx {
            o,
            tmp: tmp.clone(),
            pid,
            all,
            job,
            hybrid,
            crun_base: own_mem,
            rts: vec![Rt::Hostproc],
            devnull: -1,
            errlog: -1,
            errlog_path: tmp.join("stderr.log"),
            template: Value::Null,
            crun_parents: Vec::new(),
            floor_sets: Vec::new(),
            hpc_existed: Path::new(HPC_LOCATION).exists(),
            made_parents,
            hostproc_src: PathBuf::new(),
            seq: 0,
            report: Vec::new(),
            json: serde_json::Map::new(),
        })
    }
    /// The start of every container id of this run (the clean-up finds them by it).
    pub fn id_prefix(&self) -> String {
        format!("hpb{}-", self.pid)
    }
    pub fn id(&mut self, tag: &str) -> String {
        self.seq += 1;
        format!("{}{tag}-{}", self.id_prefix(), self.seq)
    }
    pub fn io(&self) -> Io {
        Io {
            stdin: self.devnull,
            stdout: self.devnull,
            stderr: self.errlog,
        }
    }
    pub fn err_tail(&self) -> String {
        let s = fs::read(&self.errlog_path).unwrap_or_default();
        let start = s.len().saturating_sub(1500);
        String::from_utf8_lossy(&s[start..]).into_owned()
    }
    /// Runs a command to its end: (wall time, ru_maxrss KiB). Fails on a non-zero exit.
    pub fn run(&self, argv: &[String], pre: &Pre) -> Res<(Duration, i64)> {
        let t0 = Instant::now();
        let pid = spawn(argv, &self.io(), pre)?;
        let (st, rss) = wait_child(pid)?;
        let d = t0.elapsed();
        if !ok_status(st) {
            return Err(format!(
                "`{}` failed (status {st:#x}); stderr tail:\n{}",
                argv.join(" "),
                self.err_tail()
            ));
        }
        Ok((d, rss))
    }
}
