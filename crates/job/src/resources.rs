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

/// A huge page size (`2MB`, as the hugetlb files name it) and its limit in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HugepageLimit {
    pub page_size: String,
    pub limit: i64,
}

/// An RDMA device's limits (rdma.max).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rdma {
    pub hca_handles: Option<u32>,
    pub hca_objects: Option<u32>,
}

/// The limits of a job, named as in the OCI runtime spec (linux.resources).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    pub memory_limit: Option<i64>,
    pub memory_reservation: Option<i64>,
    pub memory_swap: Option<i64>,
    pub memory_swappiness: Option<u64>,
    pub memory_disable_oom_killer: Option<bool>,
    pub memory_use_hierarchy: Option<bool>,
    /// Checked by `update` (Job::apply): no memory limit below the current usage.
    pub memory_check_before_update: Option<bool>,
    pub cpu_shares: Option<u64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<u64>,
    pub cpu_burst: Option<u64>,
    pub cpu_idle: Option<i64>,
    pub cpu_realtime_runtime: Option<i64>,
    pub cpu_realtime_period: Option<u64>,
    pub cpu_cpus: Option<String>,
    pub cpu_mems: Option<String>,
    pub pids_limit: Option<i64>,
    pub blkio_weight: Option<u16>,
    pub blkio_leaf_weight: Option<u16>,
    pub blkio_weight_device: Vec<WeightDevice>,
    /// weightDevice entries' leafWeight (the `weight` field holds it).
    pub blkio_leaf_weight_device: Vec<WeightDevice>,
    pub throttle_read_bps: Vec<ThrottleDevice>,
    pub throttle_write_bps: Vec<ThrottleDevice>,
    pub throttle_read_iops: Vec<ThrottleDevice>,
    pub throttle_write_iops: Vec<ThrottleDevice>,
    pub hugepage_limits: Vec<HugepageLimit>,
    pub net_class_id: Option<u32>,
    /// (interface, priority)
    pub net_priorities: Vec<(String, u32)>,
    /// Device name to its limits.
    pub rdma: BTreeMap<String, Rdma>,
    /// linux.resources.unified: raw cgroup v2 files.
    pub unified: BTreeMap<String, String>,
}

/// One file to write: which controller's hierarchy, the file, the value, and the limit's
/// name in the spec (for errors). `alternatives` are other names of the same file on
/// other kernels (blkio.weight vs blkio.bfq.weight). `unified`: a cgroup v2 file (from
/// linux.resources.unified), written only in the v2 hierarchy, also on a hybrid host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub controller: &'static str,
    pub file: String,
    pub alternatives: Vec<String>,
    pub value: String,
    pub limit: &'static str,
    pub unified: bool,
}

impl Write {
    /// The same limit as cgroup v2 names it, for a controller a hybrid host offers in v2
    /// only (hugetlb; rdma's file is the same in both).
    pub(crate) fn as_v2(&self) -> Write {
        let mut out = self.clone();
        if let Some(size) = self.file.strip_prefix("hugetlb.").and_then(|f| f.strip_suffix(".limit_in_bytes")) {
            out.file = format!("hugetlb.{size}.max");
            if self.value == "-1" {
                out.value = "max".into();
            }
        }
        out
    }
}

fn w(controller: &'static str, file: &str, value: impl ToString, limit: &'static str) -> Write {
    Write { controller, file: file.to_owned(), alternatives: Vec::new(), value: value.to_string(), limit, unified: false }
}

/// The v1 controllers a job joins only when its limits use them (see `Layout`), with the
/// limit that asks for each.
pub(crate) const OPTIONAL_CONTROLLERS: &[&str] = &["hugetlb", "net_cls", "net_prio", "rdma"];

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
pub(crate) const OOM: &str = "OOM killer (linux.resources.memory.disableOOMKiller)";
const HIERARCHY: &str = "hierarchical accounting (linux.resources.memory.useHierarchy)";
pub(crate) const CHECK: &str = "memory limit (linux.resources.memory.limit, with checkBeforeUpdate)";
const BURST: &str = "cpu burst (linux.resources.cpu.burst)";
const IDLE: &str = "cpu idle (linux.resources.cpu.idle)";
const RT_RUNTIME: &str = "realtime runtime (linux.resources.cpu.realtimeRuntime)";
const RT_PERIOD: &str = "realtime period (linux.resources.cpu.realtimePeriod)";
const LEAF: &str = "block IO leaf weight (linux.resources.blockIO.leafWeight)";
const LEAF_DEV: &str = "block IO device leaf weight (linux.resources.blockIO.weightDevice[].leafWeight)";
const HUGETLB: &str = "hugepage limit (linux.resources.hugepageLimits)";
const CLASSID: &str = "network class id (linux.resources.network.classID)";
const PRIO: &str = "network priorities (linux.resources.network.priorities)";
const RDMA: &str = "RDMA limit (linux.resources.rdma)";

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
        if let Some(v) = self.cpu_idle {
            if !(0..=1).contains(&v) {
                return bad(IDLE, v.to_string(), "give 0 (normal) or 1 (SCHED_IDLE)");
            }
        }
        if let Some(v) = self.cpu_realtime_runtime {
            if v < -1 {
                return bad(RT_RUNTIME, v.to_string(), "give microseconds per period, or -1 for no limit");
            }
        }
        if self.cpu_realtime_period == Some(0) {
            return bad(RT_PERIOD, "0".into(), "give a positive number of microseconds");
        }
        if let Some(v) = self.blkio_leaf_weight {
            if !(10..=1000).contains(&v) {
                return bad(LEAF, v.to_string(), "give 10 to 1000");
            }
        }
        for d in &self.blkio_leaf_weight_device {
            if !(10..=1000).contains(&d.weight) {
                return bad(LEAF_DEV, d.weight.to_string(), "give 10 to 1000");
            }
        }
        for h in &self.hugepage_limits {
            if !valid_page_size(&h.page_size) {
                return bad(HUGETLB, h.page_size.clone(), "name the page size as the kernel does: a number and KB, MB or GB (2MB, 1GB)");
            }
            if h.limit < -1 {
                return bad(HUGETLB, h.limit.to_string(), "give a number of bytes, or -1 for no limit");
            }
        }
        for (name, _) in &self.net_priorities {
            if !simple_name(name) {
                return bad(PRIO, name.clone(), "name a network interface (no spaces, slashes or NUL)");
            }
        }
        for (dev, r) in &self.rdma {
            if !simple_name(dev) {
                return bad(RDMA, dev.clone(), "name an RDMA device (no spaces, slashes or NUL)");
            }
            if r.hca_handles.is_none() && r.hca_objects.is_none() {
                return bad(RDMA, dev.clone(), "give hcaHandles or hcaObjects for the device");
            }
        }
        Ok(())
    }

    /// The v1 controllers beyond the always-joined ones that these limits need.
    pub fn optional_controllers(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if !self.hugepage_limits.is_empty() {
            out.push("hugetlb");
        }
        if self.net_class_id.is_some() {
            out.push("net_cls");
        }
        if !self.net_priorities.is_empty() {
            out.push("net_prio");
        }
        if !self.rdma.is_empty() {
            out.push("rdma");
        }
        out
    }

    /// Limits cgroup v2 cannot have, refused (v1 has a file for each; a v1 host that lacks
    /// one is refused when the job is planned or the file is written).
    pub fn v2_refusal(&self) -> Option<JobError> {
        let no = |limit, why: &str| Some(JobError::Unsupported { limit, why: why.to_owned() });
        if self.memory_use_hierarchy == Some(false) {
            return no(HIERARCHY, "cgroup v2 accounting is always hierarchical; give true or drop the field");
        }
        if self.cpu_realtime_runtime.is_some() || self.cpu_realtime_period.is_some() {
            let limit = if self.cpu_realtime_runtime.is_some() { RT_RUNTIME } else { RT_PERIOD };
            return no(limit, "cgroup v2 has no realtime CPU limits (cpu.rt_runtime_us is cgroup v1's); drop the field");
        }
        if self.blkio_leaf_weight.is_some() {
            return no(LEAF, "cgroup v2's io controller has no leaf weights; drop the field");
        }
        if !self.blkio_leaf_weight_device.is_empty() {
            return no(LEAF_DEV, "cgroup v2's io controller has no leaf weights; drop the field");
        }
        if self.net_class_id.is_some() {
            return no(CLASSID, "cgroup v2 has no net_cls controller (classify traffic with eBPF or iptables' cgroup match instead); drop the field");
        }
        if !self.net_priorities.is_empty() {
            return no(PRIO, "cgroup v2 has no net_prio controller; drop the field");
        }
        None
    }

    /// What these limits ask that cgroup v2 has no file for and that is not applied there,
    /// with a warning rather than a refusal (as runc, which ignores both, so that clients
    /// which always send them keep working).
    pub fn v2_unapplied(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.memory_disable_oom_killer == Some(true) {
            out.push(format!("{OOM} is not applied: cgroup v2 cannot turn the OOM killer off for a cgroup (runc ignores it too)"));
        }
        if self.memory_swappiness.is_some() {
            out.push(format!("{SWAPPINESS} is not applied: cgroup v2 has no per-cgroup swappiness (runc ignores it too)"));
        }
        out
    }

    /// The files to write on a cgroup v1 host, in order.
    pub fn v1_writes(&self) -> Vec<Write> {
        let mut out = Vec::new();
        if let Some(v) = self.memory_use_hierarchy {
            out.push(w("memory", "memory.use_hierarchy", u8::from(v), HIERARCHY));
        }
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
        if let Some(v) = self.memory_disable_oom_killer {
            out.push(w("memory", "memory.oom_control", u8::from(v), OOM));
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
        // After the quota, which bounds it.
        if let Some(v) = self.cpu_burst {
            out.push(w("cpu", "cpu.cfs_burst_us", v, BURST));
        }
        // The period first, as runc: the runtime must fit in it.
        if let Some(v) = self.cpu_realtime_period {
            out.push(w("cpu", "cpu.rt_period_us", v, RT_PERIOD));
        }
        if let Some(v) = self.cpu_realtime_runtime {
            out.push(w("cpu", "cpu.rt_runtime_us", v, RT_RUNTIME));
        }
        // After the shares: the kernel refuses shares for an idle group.
        if let Some(v) = self.cpu_idle {
            out.push(w("cpu", "cpu.idle", v, IDLE));
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
        // CFQ's; BFQ has no leaf weights, so a current kernel refuses them (no such file).
        if let Some(v) = self.blkio_leaf_weight {
            out.push(w("blkio", "blkio.leaf_weight", v, LEAF));
        }
        for d in &self.blkio_leaf_weight_device {
            out.push(w("blkio", "blkio.leaf_weight_device", format!("{}:{} {}", d.major, d.minor, d.weight), LEAF_DEV));
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
        for h in &self.hugepage_limits {
            out.push(w("hugetlb", &format!("hugetlb.{}.limit_in_bytes", h.page_size), h.limit, HUGETLB));
        }
        if let Some(v) = self.net_class_id {
            out.push(w("net_cls", "net_cls.classid", v, CLASSID));
        }
        for (name, prio) in &self.net_priorities {
            out.push(w("net_prio", "net_prio.ifpriomap", format!("{name} {prio}"), PRIO));
        }
        self.rdma_writes(&mut out);
        self.unified_writes(&mut out);
        out
    }

    fn rdma_writes(&self, out: &mut Vec<Write>) {
        for (dev, r) in &self.rdma {
            let mut line = dev.clone();
            if let Some(h) = r.hca_handles {
                line.push_str(&format!(" hca_handle={h}"));
            }
            if let Some(o) = r.hca_objects {
                line.push_str(&format!(" hca_object={o}"));
            }
            out.push(w("rdma", "rdma.max", line, RDMA));
        }
    }

    /// linux.resources.unified: cgroup v2 files, in the v2 hierarchy whatever the host.
    fn unified_writes(&self, out: &mut Vec<Write>) {
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
            out.push(Write { unified: true, ..w(controller, k, v, UNIFIED) });
        }
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
        if let Some(v) = self.cpu_burst {
            out.push(w("cpu", "cpu.max.burst", v, BURST));
        }
        if let Some(v) = self.cpu_idle {
            out.push(w("cpu", "cpu.idle", v, IDLE));
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
        for h in &self.hugepage_limits {
            out.push(w("hugetlb", &format!("hugetlb.{}.max", h.page_size), max(h.limit), HUGETLB));
        }
        self.rdma_writes(&mut out);
        self.unified_writes(&mut out);
        out
    }
}

/// `2MB`, `64KB`, `1GB`: how the hugetlb files name a page size.
fn valid_page_size(s: &str) -> bool {
    let Some(num) = s.strip_suffix("KB").or_else(|| s.strip_suffix("MB")).or_else(|| s.strip_suffix("GB")) else { return false };
    !num.is_empty() && num.len() <= 10 && num.bytes().all(|b| b.is_ascii_digit())
}

/// A name written into a "name value" cgroup line.
fn simple_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && !s.contains(|c: char| c.is_whitespace() || c == '/' || c == '\0' || c.is_control())
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
