use std::io::Read;
use std::path::PathBuf;

use hostproc_container::ContainerError;
use oci_spec::runtime::LinuxResources;

#[derive(clap::Args)]
pub struct Args {
    /// linux.resources as JSON, from a file or - for stdin
    #[arg(short, long)]
    resources: Option<PathBuf>,
    /// Memory limit in bytes (-1: no limit)
    #[arg(long, allow_negative_numbers = true)]
    memory: Option<i64>,
    /// Memory reservation (soft limit) in bytes
    #[arg(long = "memory-reservation", allow_negative_numbers = true)]
    memory_reservation: Option<i64>,
    /// Memory plus swap limit in bytes (-1: unlimited swap)
    #[arg(long = "memory-swap", allow_negative_numbers = true)]
    memory_swap: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(long = "cpu-shares")]
    cpu_shares: Option<u64>,
    /// CPU CFS quota in microseconds (-1: none)
    #[arg(long = "cpu-quota", allow_negative_numbers = true)]
    cpu_quota: Option<i64>,
    /// CPU CFS period in microseconds
    #[arg(long = "cpu-period")]
    cpu_period: Option<u64>,
    /// CPUs the job may use (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    cpuset_cpus: Option<String>,
    /// Memory nodes the job may use
    #[arg(long = "cpuset-mems")]
    cpuset_mems: Option<String>,
    /// Maximum number of processes (-1: no limit)
    #[arg(long = "pids-limit", allow_negative_numbers = true)]
    pids_limit: Option<i64>,
    /// Block IO weight (10 to 1000)
    #[arg(long = "blkio-weight")]
    blkio_weight: Option<u16>,
    /// The container's id
    id: String,
}

pub fn exec(cli: &crate::Global, a: &Args) -> super::Result {
    let mut res = match &a.resources {
        Some(p) => {
            let mut text = Vec::new();
            let path = p.clone();
            if p.as_os_str() == "-" {
                std::io::stdin().read_to_end(&mut text).map_err(|source| ContainerError::ReadBundle { path: path.clone(), source })?;
            } else {
                text = std::fs::read(p).map_err(|source| ContainerError::ReadBundle { path: path.clone(), source })?;
            }
            let r: LinuxResources = serde_json::from_slice(&text).map_err(|e| ContainerError::BadJson { path, what: "linux.resources JSON (give --resources a runtime-spec LinuxResources object)", detail: e.to_string() })?;
            hostproc_container::convert_resources(&r)
        }
        None => Default::default(),
    };
    res.memory_limit = a.memory.or(res.memory_limit);
    res.memory_reservation = a.memory_reservation.or(res.memory_reservation);
    res.memory_swap = a.memory_swap.or(res.memory_swap);
    res.cpu_shares = a.cpu_shares.or(res.cpu_shares);
    res.cpu_quota = a.cpu_quota.or(res.cpu_quota);
    res.cpu_period = a.cpu_period.or(res.cpu_period);
    res.cpu_cpus = a.cpuset_cpus.clone().or(res.cpu_cpus);
    res.cpu_mems = a.cpuset_mems.clone().or(res.cpu_mems);
    res.pids_limit = a.pids_limit.or(res.pids_limit);
    res.blkio_weight = a.blkio_weight.or(res.blkio_weight);
    hostproc_container::update(&cli.root, &a.id, &res)?;
    Ok(0)
}
