//! The job: every process of a container lives in one cgroup, the Linux stand-in for a
//! Windows Job Object. This crate finds the host's cgroup layout (v1, hybrid or v2),
//! places the job under the caller's own cgroup in each hierarchy, writes its limits,
//! lists, signals and kills its processes and removes it again.
//!
//! We write the cgroup files ourselves rather than through youki's libcgroups: its v1
//! manager joins one relative path under every hierarchy's mount point, so it cannot put
//! a job under the caller's own cgroup where that differs between hierarchies (as on
//! hybrid hosts whose memory cgroup is managed separately), its per-controller code is
//! crate-private, and it has no kill-all.
//!
//! On Windows the job is what it was born as, a Job Object (src/windows/, hcsshim's job
//! container model), behind the same names: `Job`, `JobError`, `Resources`, `Stats`.

#[cfg(unix)]
mod error;
#[cfg(unix)]
mod layout;
#[cfg(unix)]
mod resources;
#[cfg(unix)]
mod job;
#[cfg(unix)]
mod dirs;

#[cfg(unix)]
pub use error::JobError;
#[cfg(unix)]
pub use job::{Entry, Job, Part, Stats};
#[cfg(unix)]
pub use layout::{systemd_to_cgroupfs, CgroupRoot, Hierarchy, HierarchyKind, Layout};
#[cfg(unix)]
pub use resources::{blkio_weight_to_io, shares_to_weight, weight_to_shares, HugepageLimit, Rdma, Resources, ThrottleDevice, WeightDevice, Write};

#[cfg(windows)]
pub mod windows;
#[cfg(windows)]
pub use windows::{Job, JobError, Resources, Stats};
