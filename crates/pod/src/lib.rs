//! The pod concern: Kubernetes pod manifests run as HostProcess containers on one host.
//!
//! * `run`: the pod runner: bundles, env, volumes, the supervisor, ls/stop/rm.
//! * `logs`: containers' stdout/stderr in the CRI log format, rotated by size, read back
//!   for `pod logs`.
//! * `probe`: exec, httpGet and tcpSocket probes with kubelet's timings.
//! * `hooks`: lifecycle postStart / preStop handlers.

pub mod hooks;
pub mod logs;
pub mod probe;
pub mod run;
