//! Shared by the Windows test executables: the child modes (the test executable started
//! again through the job's own launcher, HOSTPROC_CHILD in the spec's env saying what to
//! do, reporting through the file HOSTPROC_OUT) and the set-up of a sandbox directory.
#![allow(dead_code)]

use std::fs;
use std::os::windows::io::AsHandle;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hostproc_job::windows::{Child, Command};
use hostproc_job::{Job, JobError};

/// What a child does, chosen by HOSTPROC_CHILD (each test executable calls this from its
/// `child` test, the one the children are started with).
pub fn child_main() {
    let Ok(mode) = std::env::var("HOSTPROC_CHILD") else { return };
    let out = PathBuf::from(std::env::var("HOSTPROC_OUT").unwrap());
    let write = |s: String| fs::write(&out, s).unwrap();
    match mode.as_str() {
        "sleep" => std::thread::sleep(Duration::from_secs(60)),
        "exit" => std::process::exit(7),
        "grandchild" => {
            // A plain std spawn: no job named, so it is in the job only by inheritance.
            let mut g = std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "child", "--nocapture"])
                .env("HOSTPROC_CHILD", "sleep")
                .spawn()
                .unwrap();
            write(g.id().to_string());
            // As long as the sleeping grandchild (60 s), unless the job ends both.
            let _ = g.wait();
        }
        "args" => write(std::env::args().skip(4).collect::<Vec<_>>().join("\n")),
        "env" => write(std::env::vars().map(|(k, v)| format!("{k}={v}\n")).collect()),
        "handle" => {
            let value: usize = std::env::var("HOSTPROC_HANDLE").unwrap().parse().unwrap();
            write(if hostproc_winsys::handle_is_open(value) { "open".into() } else { "closed".into() });
        }
        "cwd" => write(std::env::current_dir().unwrap().display().to_string()),
        "stdout" => print!("hello from the payload"),
        "alloc" => {
            let mut v: Vec<u8> = Vec::new();
            write(if v.try_reserve_exact(256 << 20).is_ok() { "allowed".into() } else { "refused".into() });
        }
        "busy" => {
            // CPU for 1.5 s of wall time, and 4 MiB written.
            fs::write(out.with_extension("data"), vec![7u8; 4 << 20]).unwrap();
            let t = Instant::now();
            let mut x = 0u64;
            while t.elapsed() < Duration::from_millis(1500) {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            }
            write(format!("done {x}"));
        }
        "ctrl" => {
            hostproc_winsys::exit_on_ctrl_event(100).unwrap();
            write("ready".into());
            std::thread::sleep(Duration::from_secs(60));
        }
        "orphan" => {
            // Leaves a child behind that stops on CTRL_SHUTDOWN, then exits with 3.
            let ready = out.with_extension("grandchild");
            std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "child", "--nocapture"])
                .env("HOSTPROC_CHILD", "ctrl")
                .env("HOSTPROC_OUT", &ready)
                .spawn()
                .unwrap();
            while fs::read_to_string(&ready).unwrap_or_default() != "ready" {
                std::thread::sleep(Duration::from_millis(20));
            }
            write("init done".into());
            std::process::exit(3);
        }
        "stubborn" => {
            hostproc_winsys::ignore_ctrl_events().unwrap();
            write("ready".into());
            std::thread::sleep(Duration::from_secs(60));
        }
        other => panic!("unknown child mode {other}"),
    }
    std::process::exit(0);
}

pub struct Setup {
    pub dir: tempfile::TempDir,
    pub out: PathBuf,
}

impl Setup {
    pub fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.txt");
        Setup { dir, out }
    }
    pub fn sandbox(&self) -> &Path {
        self.dir.path()
    }
    /// Starts this executable in `mode` in the job, with `extra` arguments.
    pub fn spawn(&self, job: &Job, mode: &str, extra: &[&str]) -> Result<Child, JobError> {
        let mut args: Vec<String> = [std::env::current_exe().unwrap().display().to_string(), "--exact".into(), "child".into(), "--nocapture".into()].into();
        args.extend(extra.iter().map(|s| s.to_string()));
        self.spawn_args(job, mode, &args, None, "")
    }
    pub fn spawn_args(&self, job: &Job, mode: &str, args: &[String], line: Option<&str>, cwd: &str) -> Result<Child, JobError> {
        self.spawn_env(job, mode, args, line, cwd, &[])
    }
    pub fn spawn_env(&self, job: &Job, mode: &str, args: &[String], line: Option<&str>, cwd: &str, extra: &[String]) -> Result<Child, JobError> {
        let mut env = vec![format!("HOSTPROC_CHILD={mode}"), format!("HOSTPROC_OUT={}", self.out.display())];
        env.extend_from_slice(extra);
        let (i, o, e) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
        let cmd = Command { args, command_line: line, cwd, env: &env, sandbox: self.sandbox(), stdio: [i.as_handle(), o.as_handle(), e.as_handle()] };
        job.spawn(&cmd)
    }
    /// Waits for the child's report.
    pub fn report(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(s) = fs::read_to_string(&self.out) {
                if !s.is_empty() {
                    return s;
                }
            }
            assert!(Instant::now() < deadline, "no report from the child in {}", self.out.display());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

pub fn id(name: &str) -> String {
    format!("{name}-{}", std::process::id())
}
