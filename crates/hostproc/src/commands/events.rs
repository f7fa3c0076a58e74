
use serde_json::{json, Value};

#[derive(clap::Args)]
pub struct Args {
    /// Print the usage once and exit
    #[arg(long)]
    stats: bool,
    /// Interval between stats in the stream (5s, 500ms)
    #[arg(long, default_value = "5s")]
    interval: String,
    /// The container's id
    id: String,
}

/// runc's stats event (`events --stats`), from the job's cgroup files.
fn stats_event(id: &str, s: &hostproc_job::Stats) -> Value {
    let entries = |list: &[(u64, u64, String, u64)]| -> Vec<Value> {
        list.iter().map(|(major, minor, op, value)| json!({"major": major, "minor": minor, "op": op, "value": value})).collect()
    };
    json!({
        "type": "stats",
        "id": id,
        "data": {
            "cpu": {
                "usage": {
                    "total": s.cpu_usage_ns.unwrap_or(0),
                    "percpu": s.cpu_percpu_ns,
                    "kernel": s.cpu_kernel_ns.unwrap_or(0),
                    "user": s.cpu_user_ns.unwrap_or(0)
                },
                "throttling": {
                    "periods": s.cpu_periods.unwrap_or(0),
                    "throttledPeriods": s.cpu_throttled_periods.unwrap_or(0),
                    "throttledTime": s.cpu_throttled_ns.unwrap_or(0)
                }
            },
            "memory": {
                "usage": {
                    "limit": s.memory_limit.unwrap_or(0),
                    "usage": s.memory_usage.unwrap_or(0),
                    "max": s.memory_max_usage.unwrap_or(0),
                    "failcnt": s.memory_failcnt.unwrap_or(0)
                },
                "swap": {"limit": s.swap_limit.unwrap_or(0), "usage": s.swap_usage.unwrap_or(0)},
                "kernel": {},
                "raw": s.memory_raw
            },
            "pids": {"current": s.pids_current.unwrap_or(s.pids.len() as u64), "limit": s.pids_limit.unwrap_or(0)},
            "blkio": {
                "ioServiceBytesRecursive": entries(&s.io_bytes),
                "ioServicedRecursive": entries(&s.io_ops)
            }
        }
    })
}

pub fn exec(cli: &crate::Global, a: &Args) -> super::Result {
    if a.stats {
        let s = hostproc_container::stats(&cli.root, &a.id)?;
        println!("{}", stats_event(&a.id, &s));
        return Ok(0);
    }
    let interval = hostproc_container::parse_duration(&a.interval)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| hostproc_container::ContainerError::invalid("--interval", format!("{:?} is not a duration; give 5s or 500ms", a.interval)))?;
    let mut ooms = None;
    loop {
        let s = match hostproc_container::stats(&cli.root, &a.id) {
            Ok(s) => s,
            Err(hostproc_container::ContainerError::NotRunning) | Err(hostproc_container::ContainerError::NotExist(_)) => return Ok(0),
            Err(e) => return Err(e),
        };
        if let (Some(before), Some(now)) = (ooms, s.oom_kills) {
            if now > before {
                println!("{}", json!({"type": "oom", "id": a.id}));
            }
        }
        ooms = s.oom_kills.or(ooms);
        println!("{}", stats_event(&a.id, &s));
        std::thread::sleep(interval);
    }
}

