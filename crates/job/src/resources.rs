//! The job's limits and how they map onto cgroup v1 and v2 files.

use std::collections::BTreeMap;

use crate::JobError;

/// `major:minor` and a weight (blkio weightDevice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightDevice {
    pub major: i64,
    pub minor: i64,
    pub weight: u16,
}

/// `major:minor` and a rate (blkio throttles).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleDevice {
    pub major: i64,
    pub minor: i64,
    pub rate: u64,
}

/// The limits of a job, named as in the OCI runtime spec (linux.resources).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    pub memory_limit: Option<i64>,
    pub memory_reservation: Option<i64>,
    pub memory_swap: Option<i64>,
    pub memory_swappiness: Option<u64>,
    pub cpu_shares: Option<u64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<u64>,
    pub cpu_cpus: Option<String>,
    pub cpu_mems: Option<String>,
    pub pids_limit: Option<i64>,
    pub blkio_weight: Option<u16>,
    pub blkio_weight_device: Vec<WeightDevice>,
    pub throttle_read_bps: Vec<ThrottleDevice>,
    pub throttle_write_bps: Vec<ThrottleDevice>,
    pub throttle_read_iops: Vec<ThrottleDevice>,
    pub throttle_write_iops: Vec<ThrottleDevice>,
    /// linux.resources.unified: raw cgroup v2 files.
    pub unified: BTreeMap<String, String>,
}

/// One file to write: which controller's hierarchy, the file, the value, and the limit's
/// name in the spec (for errors). `alternatives` are other names of the same file on
/// other kernels (blkio.weight vs blkio.bfq.weight).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub controller: &'static str,
    pub file: String,
    pub alternatives: Vec<String>,
    pub value: String,
    pub limit: &'static str,
}

fn w(controller: &'static str, file: &str, value: impl ToString, limit: &'static str) -> Write {
    Write { controller, file: file.to_owned(), alternatives: Vec::new(), value: value.to_string(), limit }
}

const MEM_LIMIT: &str = "memory limit (linux.resources.memory.limit)";
const MEM_RES: &str = "memory reservation (linux.resources.memory.reservation)";
const MEM_SWAP: &str = "memory+swap limit (linux.resources.memory.swap)";
const SWAPPINESS: &str = "swappiness (linux.resources.memory.swappiness)";
const CPU_SHARES: &str = "cpu shares (linux.resources.cpu.shares)";
const CPU_QUOTA: &str = "cpu quota (linux.resources.cpu.quota)";
const CPU_PERIOD: &str = "cpu period (linux.resources.cpu.period)";
const CPUS: &str = "cpuset cpus (linux.resources.cpu.cpus)";
const MEMS: &str = "cpuset mems (linux.resources.cpu.mems)";
const PIDS: &str = "pids limit (linux.resources.pids.limit)";
const BLKIO_WEIGHT: &str = "block IO weight (linux.resources.blockIO.weight)";
const BLKIO_WDEV: &str = "block IO device weight (linux.resources.blockIO.weightDevice)";
const THROTTLE: &str = "block IO throttle (linux.resources.blockIO.throttle*Device)";
const UNIFIED: &str = "unified cgroup v2 file (linux.resources.unified)";

impl Resources {
    /// Rejects values no kernel accepts, before anything is made.
    pub fn validate(&self) -> Result<(), JobError> {
        let bad = |limit, value: String, hint| Err(JobError::OutOfRange { limit, value, hint });
        if let Some(v) = self.memory_limit {
            if v == 0 || v < -1 {
                return bad(MEM_LIMIT, v.to_string(), "give a positive number of bytes, or -1 for no limit");
            }
        }
        if let Some(v) = self.memory_reservation {
            if v < -1 {
                return bad(MEM_RES, v.to_string(), "give a positive number of bytes, or -1 for none");
            }
        }
        if let Some(v) = self.memory_swap {
            if v == 0 || v < -1 {
                return bad(MEM_SWAP, v.to_string(), "give memory+swap in bytes, or -1 for unlimited swap");
            }
            if let (Some(l), true) = (self.memory_limit, v > 0) {
                if l > 0 && v < l {
                    return bad(MEM_SWAP, v.to_string(), "memory.swap counts memory plus swap, so it must be at least memory.limit");
                }
            }
        }
        if let Some(v) = self.memory_swappiness {
            if v > 100 {
                return bad(SWAPPINESS, v.to_string(), "give 0 to 100");
            }
        }
        if let Some(v) = self.cpu_shares {
            if !(2..=262144).contains(&v) {
                return bad(CPU_SHARES, v.to_string(), "give 2 to 262144");
            }
        }
        if let Some(v) = self.cpu_quota {
            if v == 0 || v < -1 || (v > 0 && v < 1000) {
                return bad(CPU_QUOTA, v.to_string(), "give at least 1000 microseconds, or -1 for no quota");
            }
        }
        if let Some(v) = self.cpu_period {
            if !(1000..=1_000_000).contains(&v) {
                return bad(CPU_PERIOD, v.to_string(), "give 1000 to 1000000 microseconds");
            }
        }
        if let Some(v) = self.pids_limit {
            if v == 0 || v < -1 {
                return bad(PIDS, v.to_string(), "give a positive number of processes, or -1 for no limit");
            }
        }
        if let Some(v) = self.blkio_weight {
            if !(10..=1000).contains(&v) {
                return bad(BLKIO_WEIGHT, v.to_string(), "give 10 to 1000");
            }
        }
        for d in &self.blkio_weight_device {
            if !(10..=1000).contains(&d.weight) {
                return bad(BLKIO_WDEV, d.weight.to_string(), "give 10 to 1000");
            }
        }
        for k in self.unified.keys() {
            if k.contains('/') || k.starts_with('.') || k.is_empty() || k.starts_with("cgroup.") {
                return bad(UNIFIED, k.clone(), "name a controller file such as memory.high in the job's own cgroup");
            }
        }
        Ok(())
    }

    /// The files to write on a cgroup v1 host, in order.
    pub fn v1_writes(&self) -> Vec<Write> {
        let mut out = Vec::new();
        if let Some(v) = self.memory_limit {
            out.push(w("memory", "memory.limit_in_bytes", v, MEM_LIMIT));
        }
        if let Some(v) = self.memory_swap {
            out.push(w("memory", "memory.memsw.limit_in_bytes", v, MEM_SWAP));
        }
        if let Some(v) = self.memory_reservation {
            out.push(w("memory", "memory.soft_limit_in_bytes", v, MEM_RES));
        }
        if let Some(v) = self.memory_swappiness {
            out.push(w("memory", "memory.swappiness", v, SWAPPINESS));
        }
        if let Some(v) = self.cpu_shares {
            out.push(w("cpu", "cpu.shares", v, CPU_SHARES));
        }
        if let Some(v) = self.cpu_period {
            out.push(w("cpu", "cpu.cfs_period_us", v, CPU_PERIOD));
        }
        if let Some(v) = self.cpu_quota {
            out.push(w("cpu", "cpu.cfs_quota_us", v, CPU_QUOTA));
        }
        if let Some(v) = &self.cpu_cpus {
            out.push(w("cpuset", "cpuset.cpus", v, CPUS));
        }
        if let Some(v) = &self.cpu_mems {
            out.push(w("cpuset", "cpuset.mems", v, MEMS));
        }
        if let Some(v) = self.pids_limit {
            out.push(w("pids", "pids.max", if v == -1 { "max".to_string() } else { v.to_string() }, PIDS));
        }
        // CFQ's blkio.weight is gone from current kernels; BFQ offers blkio.bfq.weight.
        if let Some(v) = self.blkio_weight {
            let mut x = w("blkio", "blkio.weight", v, BLKIO_WEIGHT);
            x.alternatives.push("blkio.bfq.weight".into());
            out.push(x);
        }
        for d in &self.blkio_weight_device {
            let mut x = w("blkio", "blkio.weight_device", format!("{}:{} {}", d.major, d.minor, d.weight), BLKIO_WDEV);
            x.alternatives.push("blkio.bfq.weight_device".into());
            out.push(x);
        }
        for (list, file) in [
            (&self.throttle_read_bps, "blkio.throttle.read_bps_device"),
            (&self.throttle_write_bps, "blkio.throttle.write_bps_device"),
            (&self.throttle_read_iops, "blkio.throttle.read_iops_device"),
            (&self.throttle_write_iops, "blkio.throttle.write_iops_device"),
        ] {
            for d in list {
                out.push(w("blkio", file, format!("{}:{} {}", d.major, d.minor, d.rate), THROTTLE));
            }
        }
        out
    }

    /// The files to write on a cgroup v2 host, in order, with runc's conversions.
    pub fn v2_writes(&self) -> Vec<Write> {
        let mut out = Vec::new();
        let max = |v: i64| if v == -1 { "max".to_string() } else { v.to_string() };
        if let Some(v) = self.memory_limit {
            out.push(w("memory", "memory.max", max(v), MEM_LIMIT));
        }
        if let Some(v) = self.memory_swap {
            // v1's swap counts memory plus swap; v2's memory.swap.max counts swap alone.
            let swap = match (v, self.memory_limit) {
                (-1, _) => "max".to_string(),
                (v, Some(l)) if l > 0 => (v - l).to_string(),
                (v, _) => v.to_string(),
            };
            out.push(w("memory", "memory.swap.max", swap, MEM_SWAP));
        }
        if let Some(v) = self.memory_reservation {
            out.push(w("memory", "memory.low", max(v), MEM_RES));
        }
        if let Some(v) = self.cpu_shares {
            out.push(w("cpu", "cpu.weight", shares_to_weight(v), CPU_SHARES));
        }
        if self.cpu_quota.is_some() || self.cpu_period.is_some() {
            let quota = match self.cpu_quota {
                Some(q) if q > 0 => q.to_string(),
                _ => "max".to_string(),
            };
            let line = match self.cpu_period {
                Some(p) => format!("{quota} {p}"),
                None => quota,
            };
            out.push(w("cpu", "cpu.max", line, CPU_QUOTA));
        }
        if let Some(v) = &self.cpu_cpus {
            out.push(w("cpuset", "cpuset.cpus", v, CPUS));
        }
        if let Some(v) = &self.cpu_mems {
            out.push(w("cpuset", "cpuset.mems", v, MEMS));
        }
        if let Some(v) = self.pids_limit {
            out.push(w("pids", "pids.max", max(v), PIDS));
        }
        if let Some(v) = self.blkio_weight {
            out.push(w("io", "io.weight", blkio_weight_to_io(v), BLKIO_WEIGHT));
        }
        for d in &self.blkio_weight_device {
            out.push(w("io", "io.weight", format!("{}:{} {}", d.major, d.minor, blkio_weight_to_io(d.weight)), BLKIO_WDEV));
        }
        for (list, key) in [
            (&self.throttle_read_bps, "rbps"),
            (&self.throttle_write_bps, "wbps"),
            (&self.throttle_read_iops, "riops"),
            (&self.throttle_write_iops, "wiops"),
        ] {
            for d in list {
                out.push(w("io", "io.max", format!("{}:{} {}={}", d.major, d.minor, key, d.rate), THROTTLE));
            }
        }
        for (k, v) in &self.unified {
            let controller = match k.split('.').next().unwrap_or("") {
                "memory" => "memory",
                "cpu" => "cpu",
                "cpuset" => "cpuset",
                "pids" => "pids",
                "io" => "io",
                "hugetlb" => "hugetlb",
                "rdma" => "rdma",
                "misc" => "misc",
                _ => "",
            };
            out.push(w(controller, k, v, UNIFIED));
        }
        out
    }
}

/// cgroup v1 cpu.shares (2..262144) to v2 cpu.weight (1..10000), as runc converts.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + ((shares.saturating_sub(2)) * 9999) / 262142
}

/// v2 cpu.weight (1..10000) back to v1 cpu.shares: the inverse of `shares_to_weight`.
pub fn weight_to_shares(weight: u64) -> u64 {
    2 + (weight.clamp(1, 10000) - 1) * 262142 / 9999
}

/// blkio weight (10..1000) to io.weight (1..10000), as runc converts.
pub fn blkio_weight_to_io(weight: u16) -> u64 {
    1 + (u64::from(weight).saturating_sub(10)) * 9999 / 990
}
