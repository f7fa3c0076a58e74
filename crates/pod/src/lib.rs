//! hostproc's pod concern: Kubernetes manifests read into k8s-openapi types, checked as the
//! API server checks HostProcess pods, and run on this host as a kubelet would.
//!
//! - [`manifest`]: reading YAML or JSON files (several documents each) into pods, with the
//!   ConfigMaps and Secrets beside them; hostile input refused (size, alias bombs, nesting,
//!   unknown fields).
//! - [`validate`]: `hostproc pod validate`: the API server's rules for HostProcess pods, with
//!   its field paths, order and messages, and the Pod Security Standards level a pod needs.
//! - [`run`]: the pod runner: bundles, env, volumes, the supervisor, ls/stop/rm.
//! - [`logs`]: containers' stdout/stderr in the CRI log format, rotated by size, read back
//!   for `pod logs`.
//! - [`probe`]: exec, httpGet and tcpSocket probes with kubelet's timings.
//! - [`hooks`]: lifecycle postStart / preStop handlers.

pub mod hooks;
pub mod logs;
pub mod manifest;
pub mod probe;
pub mod run;
pub mod validate;
