//! The command line: flags, their defaults and the usage text.

use std::path::{Path, PathBuf};

pub struct Opts {
    pub reps: usize,
    pub kill_reps: usize,
    pub kill_procs: usize,
    pub list_n: usize,
    pub list_others_n: usize,
    pub mem_n: usize,
    pub hostproc: PathBuf,
    pub runc: Option<PathBuf>,
    pub crun: Option<PathBuf>,
    pub podman: Option<PathBuf>,
    /// Repetitions of scenario 8 (a podman round takes about 1 s).
    pub pod_reps: usize,
    pub scenarios: Vec<u32>,
    pub json: Option<PathBuf>,
    /// State roots on the temporary directory's file system instead of a tmpfs.
    pub state_on_disk: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: hostproc-bench [--reps N (30)] [--kill-reps N (5)] [--kill-procs N (1000)] [--list N (500)]\n\
         \x20      [--list-others N (100)] [--mem N (200)] [--hostproc PATH] [--runc PATH|none] [--crun PATH|none]\n\
         \x20      [--podman PATH|none] [--pod-reps N (10)] [--scenarios 1,2,3,4,5,6,8] [--json FILE] [--state-on-disk]\n\
         Scenario 7 (peak memory) comes from scenario 1's runs."
    );
    std::process::exit(2)
}

fn which(name: &str, extra: &[&str]) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .map(|d| Path::new(d).join(name))
        .chain(extra.iter().map(PathBuf::from))
        .find(|p| p.is_file())
}

pub fn parse_opts() -> Opts {
    // Built next to this program (target/<triple>/release/).
    let default_hp = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("hostproc")))
        .unwrap_or_else(|| PathBuf::from("hostproc"));
    let mut o = Opts {
        reps: 30,
        kill_reps: 5,
        kill_procs: 1000,
        list_n: 500,
        list_others_n: 100,
        mem_n: 200,
        hostproc: default_hp,
        runc: which("runc", &["/usr/sbin/runc"]),
        crun: which("crun", &["/usr/bin/crun"]),
        podman: which("podman", &["/usr/bin/podman"]),
        pod_reps: 10,
        scenarios: vec![1, 2, 3, 4, 5, 6, 8],
        json: None,
        state_on_disk: false,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if a == "--state-on-disk" {
            o.state_on_disk = true;
            i += 1;
            continue;
        }
        let v = args.get(i + 1).cloned().unwrap_or_else(|| usage());
        let num = || v.parse::<usize>().unwrap_or_else(|_| usage());
        match a {
            "--reps" => o.reps = num().max(1),
            "--kill-reps" => o.kill_reps = num().max(1),
            "--kill-procs" => o.kill_procs = num(),
            "--list" => o.list_n = num().max(1),
            "--list-others" => o.list_others_n = num(),
            "--mem" => o.mem_n = num().max(1),
            "--hostproc" => o.hostproc = PathBuf::from(&v),
            "--runc" => o.runc = (v != "none").then(|| PathBuf::from(&v)),
            "--crun" => o.crun = (v != "none").then(|| PathBuf::from(&v)),
            "--podman" => o.podman = (v != "none").then(|| PathBuf::from(&v)),
            "--pod-reps" => o.pod_reps = num().max(1),
            "--scenarios" => {
                o.scenarios = v
                    .split(',')
                    .map(|s| s.trim().parse().unwrap_or_else(|_| usage()))
                    .collect()
            }
            "--json" => o.json = Some(PathBuf::from(&v)),
            _ => usage(),
        }
        i += 2;
    }
    o
}
