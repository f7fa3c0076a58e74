//! Everything about a container resolved once, before anything is made.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use hostproc_identity::Identity;
use hostproc_job::{HugepageLimit, Rdma, Resources, ThrottleDevice, WeightDevice};
use hostproc_storage::Plan;
use oci_spec::runtime::{LinuxNamespaceType, LinuxResources, Process, Spec};

use crate::annotations::Annotations;
use crate::{env, ContainerError};

/// Capability sets, already converted for the `caps` crate.
#[derive(Debug, Clone, Default)]
pub struct CapSets {
    pub bounding: Vec<caps::Capability>,
    pub effective: Vec<caps::Capability>,
    pub permitted: Vec<caps::Capability>,
    pub inheritable: Vec<caps::Capability>,
    pub ambient: Vec<caps::Capability>,
}

/// The payload's process, resolved.
#[derive(Debug, Clone)]
pub struct ProcessConfig {
    pub args: Vec<String>,
    pub env: Vec<String>,
    /// The working directory as the payload sees it.
    pub cwd: PathBuf,
    pub caps: Option<CapSets>,
    /// (name, resource number, soft, hard)
    pub rlimits: Vec<(&'static str, i32, u64, u64)>,
    pub no_new_privileges: bool,
    pub oom_score_adj: Option<i32>,
    pub terminal: bool,
}

impl ProcessConfig {
    /// A process of the spec (init's, or one `exec --process` gives) resolved against the
    /// sandbox: `$CONTAINER_SANDBOX_MOUNT_POINT` expanded, the environment completed (HOME
    /// from `home` when unset), every value checked. The user is resolved by the caller.
    pub fn resolve(p: &Process, sandbox: &Path, home: impl FnOnce() -> Option<PathBuf>) -> Result<ProcessConfig, ContainerError> {
        let sb = sandbox.to_string_lossy();
        let args: Vec<String> = p.args().iter().flatten().map(|a| env::expand(a, &sb)).collect();
        if args.is_empty() || args[0].is_empty() {
            return Err(ContainerError::invalid("process.args", "no program given; set process.args to the program and its arguments"));
        }
        if args.iter().any(|a| a.contains('\0')) {
            return Err(ContainerError::invalid("process.args", "an argument contains a NUL byte"));
        }
        let envs = env::build(p.env().as_deref().unwrap_or(&[]), sandbox, home);
        if envs.iter().any(|e| e.contains('\0')) {
            return Err(ContainerError::invalid("process.env", "an entry contains a NUL byte"));
        }
        let cwd_s = env::expand(&p.cwd().to_string_lossy(), &sb);
        let cwd = if cwd_s.is_empty() || cwd_s == "/" {
            sandbox.to_path_buf()
        } else if Path::new(&cwd_s).is_absolute() {
            PathBuf::from(cwd_s)
        } else {
            return Err(ContainerError::invalid("process.cwd", format!("{cwd_s:?} is relative; give an absolute path or $CONTAINER_SANDBOX_MOUNT_POINT/...")));
        };
        let mut rlimits = Vec::new();
        for r in p.rlimits().iter().flatten() {
            let name = serde_json::to_value(r.typ()).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            let Some((name, res)) = rlimit_resource(&name) else {
                return Err(ContainerError::invalid("process.rlimits", format!("{name} is not a Linux resource limit")));
            };
            if r.soft() > r.hard() {
                return Err(ContainerError::invalid("process.rlimits", format!("{name}: soft {} is above hard {}; lower soft", r.soft(), r.hard())));
            }
            rlimits.push((name, res, r.soft(), r.hard()));
        }
        if let Some(adj) = p.oom_score_adj() {
            if !(-1000..=1000).contains(&adj) {
                return Err(ContainerError::invalid("process.oomScoreAdj", format!("{adj} is out of range; give -1000 to 1000")));
            }
        }
        Ok(ProcessConfig {
            args,
            env: envs,
            cwd,
            caps: p.capabilities().as_ref().map(cap_sets),
            rlimits,
            no_new_privileges: p.no_new_privileges().unwrap_or(false),
            oom_score_adj: p.oom_score_adj(),
            terminal: p.terminal().unwrap_or(false),
        })
    }
}

/// A container's configuration, resolved.
#[derive(Debug, Clone)]
pub struct Config {
    pub id: String,
    pub bundle: PathBuf,
    pub annotations: HashMap<String, String>,
    pub options: Annotations,
    pub storage: Plan,
    pub resources: Resources,
    pub cgroups_path: Option<PathBuf>,
    pub identity: Identity,
    /// A group name was given: an ephemeral user in this group is made at create.
    pub ephemeral_group: Option<(String, u32)>,
    pub process: ProcessConfig,
    /// The spec's hooks, checked.
    pub hooks: crate::hooks::Hooks,
}

fn host_cpus() -> u64 {
    std::thread::available_parallelism().map(|n| n.get() as u64).unwrap_or(1)
}

impl Config {
    /// Loads `<bundle>/config.json` and resolves it for container `id`.
    /// `systemd_cgroup`: the cgroupsPath is in systemd's `slice:prefix:name` form
    /// (`--systemd-cgroup`), turned into the cgroupfs path systemd would use.
    pub fn load(bundle: &Path, id: &str, systemd_cgroup: bool) -> Result<Config, ContainerError> {
        crate::validate_id(id)?;
        let bundle = std::path::absolute(bundle).map_err(crate::error::io_err("resolve the bundle path", bundle))?;
        let spec = crate::load_spec(&bundle)?;
        let mut cfg = Config::from_spec(&spec, &bundle, id)?;
        if systemd_cgroup {
            let p = cfg.cgroups_path.as_ref().map(|p| p.to_string_lossy().into_owned()).unwrap_or_else(|| format!("system.slice:hostproc:{id}"));
            cfg.cgroups_path = Some(hostproc_job::systemd_to_cgroupfs(&p)?);
        }
        Ok(cfg)
    }

    pub fn from_spec(spec: &Spec, bundle: &Path, id: &str) -> Result<Config, ContainerError> {
        let annotations = spec.annotations().clone().unwrap_or_default();
        let options = Annotations::parse(&annotations)?;

        // Namespaces: the container shares the host's; only a private network or user
        // namespace is a request we cannot honour quietly.
        let linux = spec.linux().as_ref();
        if let Some(nss) = linux.and_then(|l| l.namespaces().as_ref()) {
            for ns in nss {
                match ns.typ() {
                    LinuxNamespaceType::Network => check_host_net(ns.path().as_deref())?,
                    LinuxNamespaceType::User => {
                        return Err(ContainerError::invalid(
                            "linux.namespaces (user)",
                            "a user namespace was asked for; HostProcess containers run as host users: remove the user entry",
                        ))
                    }
                    other => tracing::debug!("linux.namespaces: {other:?} ignored: a HostProcess container shares the host's"),
                }
            }
        }

        // Confinement a HostProcess container does not have: said, not silently dropped.
        if let Some(l) = linux {
            if l.seccomp().is_some() {
                tracing::warn!("linux.seccomp is not applied: HostProcess containers run unconfined on the host");
            }
            if l.sysctl().as_ref().is_some_and(|m| !m.is_empty()) {
                tracing::warn!("linux.sysctl is not applied: in the host's namespaces it would change the host's settings");
            }
            if l.mount_label().as_ref().is_some_and(|m| !m.is_empty()) {
                tracing::warn!("linux.mountLabel is not applied: HostProcess containers use the host's labels");
            }
            // containerd sets both for every container: worth saying once, nothing to fix.
            let set = |v: &Option<Vec<String>>| v.as_ref().is_some_and(|v| !v.is_empty());
            let paths: Vec<&str> = [("linux.readonlyPaths", set(l.readonly_paths())), ("linux.maskedPaths", set(l.masked_paths()))]
                .into_iter()
                .filter_map(|(name, on)| on.then_some(name))
                .collect();
            if !paths.is_empty() {
                tracing::warn!(
                    "{} {} not applied: a HostProcess container sees the host's filesystem as the host does (container runtimes set these paths for every container; nothing needs changing)",
                    paths.join(" and "),
                    if paths.len() == 1 { "is" } else { "are" }
                );
            }
        }
        if let Some(p) = spec.process() {
            if p.apparmor_profile().as_ref().is_some_and(|a| !a.is_empty()) || p.selinux_label().as_ref().is_some_and(|a| !a.is_empty()) {
                tracing::warn!("process.apparmorProfile/selinuxLabel are not applied: HostProcess containers run unconfined on the host");
            }
        }
        let root = spec.root().as_ref().ok_or_else(|| ContainerError::invalid("root", "root.path is missing; give the bundle's rootfs directory"))?;
        let rootfs = bundle.join(root.path());
        if !rootfs.is_dir() {
            return Err(ContainerError::invalid("root.path", format!("{} is not a directory; create it or fix root.path", rootfs.display())));
        }
        let bind_mode = options.mode == hostproc_storage::Mode::Bind;
        let mounts = spec
            .mounts()
            .iter()
            .flatten()
            .map(|m| {
                (
                    m.typ().clone().unwrap_or_default(),
                    m.source().as_ref().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
                    m.destination().to_string_lossy().into_owned(),
                    m.options().clone().unwrap_or_default(),
                )
            })
            .filter(|(_, source, dest, _)| {
                let skip = bind_mode && is_pod_copy(dest, source);
                if skip {
                    tracing::info!("{dest} from {source} is not mounted: the container manager's per-pod copy would hide the node's own file from a HostProcess payload");
                }
                !skip
            });
        let storage = Plan::new(options.mode, rootfs, root.readonly().unwrap_or(false), &options.location, mounts, bundle)?
            .with_root_propagation(linux.and_then(|l| l.rootfs_propagation().as_deref()))?;

        let mut resources = linux.and_then(|l| l.resources().as_ref()).map(convert_resources).unwrap_or_default();
        options.apply_to(&mut resources, host_cpus);
        resources.validate()?;
        let cgroups_path = linux.and_then(|l| l.cgroups_path().clone()).filter(|p| !p.as_os_str().is_empty());

        let p = spec.process().as_ref().ok_or_else(|| ContainerError::invalid("process", "process is missing; give at least process.args"))?;
        let u = p.user();
        check_ids(u)?;
        let name = options.run_as_user_name.clone().or_else(|| u.username().clone().filter(|n| !n.is_empty()));
        let mut ephemeral_group = None;
        let identity = if options.inherit_user {
            Identity::inherit(u.umask())
        } else if let Some(name) = name {
            match hostproc_identity::resolve(&name, u.umask()).map_err(|e| ContainerError::invalid(crate::annotations::RUN_AS_USER_NAME, e.to_string()))? {
                hostproc_identity::Resolved::Existing(id) => id,
                hostproc_identity::Resolved::Group { name, gid } => {
                    ephemeral_group = Some((name, gid));
                    // The uid is a placeholder until the user is made (`setup`); a process is
                    // never started with it (`start_process` refuses (uid_t)-1).
                    Identity { uid: u32::MAX, gid, additional_gids: vec![gid], umask: u.umask(), name: None }
                }
            }
        } else {
            let mut id = Identity::from_spec(u.uid(), u.gid(), u.additional_gids().as_deref().unwrap_or(&[]), u.umask());
            host_groups(&mut id, &storage.rootfs)?;
            id
        };
        let process = ProcessConfig::resolve(p, storage.sandbox(), || identity.home())?;
        let hooks = crate::hooks::Hooks::from_spec(spec)?;
        Ok(Config {
            id: id.to_owned(),
            bundle: bundle.to_path_buf(),
            annotations,
            options,
            storage,
            resources,
            cgroups_path,
            identity,
            ephemeral_group,
            process,
            hooks,
        })
    }
}

/// process.user as containerd wrote it gets the host account's groups, not those containerd
/// read from the image's /etc/group (docs/identity.md), said once when any is dropped.
pub fn host_groups(id: &mut Identity, rootfs: &Path) -> Result<(), ContainerError> {
    let fixed = hostproc_identity::host_groups(id, rootfs).map_err(|e| ContainerError::invalid("process.user.additionalGids", e.to_string()))?;
    let Some(f) = fixed else { return Ok(()) };
    if !f.added.is_empty() {
        tracing::debug!("process.user.additionalGids: the host account's groups {:?} added", f.added);
    }
    if !f.dropped.is_empty() {
        let each: Vec<String> = f
            .dropped
            .iter()
            .map(|(gid, image, host)| format!("{gid} (the image's {image}; {} on this host)", host.as_deref().unwrap_or("no group")))
            .collect();
        tracing::warn!(
            "process.user.additionalGids: dropped {}: containerd took them from the image's /etc/group, and a HostProcess payload runs as a host account, with the host's groups",
            each.join(", ")
        );
    }
    Ok(())
}

/// Whether a mount is one of the files a container manager writes for every pod and binds
/// over `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname` (containerd's
/// `.../sandboxes/<id>/{hosts,resolv.conf,hostname}`, CRI-O's `.../userdata/...`, the
/// kubelet's `.../pods/<uid>/etc-hosts`). For a host-network pod they are copies of the
/// node's; in bind mode they would hide the node's own files, which a HostProcess payload
/// (node set-up) means to read and edit, and which Windows HostProcess containers see.
fn is_pod_copy(dest: &str, source: &str) -> bool {
    let src = Path::new(source);
    let name = src.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let dir = |up: usize| src.ancestors().nth(up).and_then(Path::file_name).and_then(|n| n.to_str()).unwrap_or("");
    let managers = dir(2) == "sandboxes" || dir(1) == "userdata";
    match dest.trim_end_matches('/') {
        "/etc/hosts" => (name == "hosts" && managers) || (name == "etc-hosts" && dir(2) == "pods"),
        "/etc/resolv.conf" => name == "resolv.conf" && managers,
        "/etc/hostname" => name == "hostname" && managers,
        _ => false,
    }
}

/// (uid_t)-1 means "leave unchanged" to setresuid/setresgid: as a user it would run the
/// payload as root. Refused, with every other id that cannot name an account.
pub fn check_ids(u: &oci_spec::runtime::User) -> Result<(), ContainerError> {
    let bad = |field: &str, v: u32| {
        ContainerError::invalid(field, format!("{v} is not a valid id ((uid_t)-1 means \"unchanged\" to the kernel); give 0 to 4294967294"))
    };
    if u.uid() == u32::MAX {
        return Err(bad("process.user.uid", u.uid()));
    }
    if u.gid() == u32::MAX {
        return Err(bad("process.user.gid", u.gid()));
    }
    if let Some(g) = u.additional_gids().iter().flatten().find(|g| **g == u32::MAX) {
        return Err(bad("process.user.additionalGids", *g));
    }
    Ok(())
}

/// process.capabilities converted for the `caps` crate (unknown names were already
/// dropped with a warning when the spec was loaded).
pub fn cap_sets(c: &oci_spec::runtime::LinuxCapabilities) -> CapSets {
    let conv = |s: &Option<oci_spec::runtime::Capabilities>| -> Vec<caps::Capability> {
        s.iter().flatten().filter_map(|c| serde_json::to_value(c).ok()?.as_str()?.parse::<caps::Capability>().ok()).collect()
    };
    CapSets {
        bounding: conv(c.bounding()),
        effective: conv(c.effective()),
        permitted: conv(c.permitted()),
        inheritable: conv(c.inheritable()),
        ambient: conv(c.ambient()),
    }
}

fn check_host_net(path: Option<&Path>) -> Result<(), ContainerError> {
    let field = "linux.namespaces (network)";
    let Some(path) = path else {
        return Err(ContainerError::invalid(field, "a new network namespace was asked for; HostProcess containers share the host network: remove the network entry (in Kubernetes: set hostNetwork: true on the pod)"));
    };
    let ours = std::fs::metadata("/proc/self/ns/net").map_err(crate::error::io_err("stat", "/proc/self/ns/net"))?;
    let theirs = std::fs::metadata(path).map_err(crate::error::io_err("stat the network namespace", path))?;
    use std::os::unix::fs::MetadataExt;
    if (ours.dev(), ours.ino()) == (theirs.dev(), theirs.ino()) {
        return Ok(());
    }
    // Refused either way; the kind, asked only now, makes the message say what is wrong.
    // (nsfs files are regular files: anything else, a fifo say, is not opened.)
    use rustix::fs::{Mode, OFlags};
    let kind = theirs
        .is_file()
        .then(|| rustix::fs::open(path, OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC, Mode::empty()).ok())
        .flatten()
        .and_then(|fd| hostproc_sys::namespace_kind(std::os::fd::AsFd::as_fd(&fd)).ok());
    let why = match kind {
        Some("network") => "is not the host's network namespace".to_owned(),
        Some(other) => format!("is not a network namespace (it is a {other} namespace)"),
        None => "is not a namespace file".to_owned(),
    };
    Err(ContainerError::invalid(field, format!("{} {why}; HostProcess containers share the host network: remove the network entry (in Kubernetes: set hostNetwork: true on the pod)", path.display())))
}

/// A process.rlimits type by its name, with its Linux resource number (stable kernel ABI).
fn rlimit_resource(name: &str) -> Option<(&'static str, i32)> {
    const RLIMITS: [&str; 16] = [
        "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE", "RLIMIT_RSS", "RLIMIT_NPROC", "RLIMIT_NOFILE",
        "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS", "RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME",
    ];
    RLIMITS.iter().position(|n| *n == name).map(|i| (RLIMITS[i], i as i32))
}

/// linux.resources (oci-spec) to the job's limits. Every field is taken over (the job
/// applies it or refuses it, by the host's hierarchies) or warned about here: the
/// deprecated kernel memory limits, and the device rules a HostProcess container does
/// not have (docs/cli.md, field by field).
pub fn convert_resources(r: &LinuxResources) -> Resources {
    let mut out = Resources::default();
    if r.devices().as_ref().is_some_and(|d| !d.is_empty()) {
        // containerd sends a deny-all list for every container: a warning, not an error.
        tracing::warn!("linux.resources.devices is not applied: a HostProcess container reaches the host's devices (no device cgroup rules)");
    }
    if let Some(m) = r.memory() {
        out.memory_limit = m.limit();
        out.memory_reservation = m.reservation();
        out.memory_swap = m.swap();
        out.memory_swappiness = m.swappiness();
        out.memory_disable_oom_killer = m.disable_oom_killer();
        out.memory_use_hierarchy = m.use_hierarchy();
        out.memory_check_before_update = m.check_before_update();
        // As runc: deprecated, ignored with a warning (kernels since 5.16 and 6.2 lack them).
        if m.kernel().is_some() {
            tracing::warn!("linux.resources.memory.kernel is deprecated and not applied: kernel memory limits are ignored (as runc does)");
        }
        if m.kernel_tcp().is_some() {
            tracing::warn!("linux.resources.memory.kernelTCP is deprecated and not applied: kernel TCP memory limits are ignored (as runc does)");
        }
    }
    if let Some(c) = r.cpu() {
        out.cpu_shares = c.shares();
        out.cpu_quota = c.quota();
        out.cpu_period = c.period();
        out.cpu_burst = c.burst();
        out.cpu_idle = c.idle();
        out.cpu_realtime_runtime = c.realtime_runtime();
        out.cpu_realtime_period = c.realtime_period();
        out.cpu_cpus = c.cpus().clone().filter(|s| !s.is_empty());
        out.cpu_mems = c.mems().clone().filter(|s| !s.is_empty());
    }
    if let Some(p) = r.pids() {
        out.pids_limit = Some(p.limit());
    }
    if let Some(b) = r.block_io() {
        out.blkio_weight = b.weight();
        out.blkio_leaf_weight = b.leaf_weight();
        for d in b.weight_device().iter().flatten() {
            if let Some(w) = d.weight() {
                out.blkio_weight_device.push(WeightDevice { major: d.major(), minor: d.minor(), weight: w });
            }
            if let Some(w) = d.leaf_weight() {
                out.blkio_leaf_weight_device.push(WeightDevice { major: d.major(), minor: d.minor(), weight: w });
            }
        }
        let conv = |l: &Option<Vec<oci_spec::runtime::LinuxThrottleDevice>>| -> Vec<ThrottleDevice> {
            l.iter().flatten().map(|d| ThrottleDevice { major: d.major(), minor: d.minor(), rate: d.rate() }).collect()
        };
        out.throttle_read_bps = conv(b.throttle_read_bps_device());
        out.throttle_write_bps = conv(b.throttle_write_bps_device());
        out.throttle_read_iops = conv(b.throttle_read_iops_device());
        out.throttle_write_iops = conv(b.throttle_write_iops_device());
    }
    out.hugepage_limits = r.hugepage_limits().iter().flatten().map(|h| HugepageLimit { page_size: h.page_size().clone(), limit: h.limit() }).collect();
    if let Some(n) = r.network() {
        out.net_class_id = n.class_id();
        out.net_priorities = n.priorities().iter().flatten().map(|p| (p.name().clone(), p.priority())).collect();
    }
    if let Some(rdma) = r.rdma() {
        out.rdma = rdma.iter().map(|(k, v)| (k.clone(), Rdma { hca_handles: v.hca_handles(), hca_objects: v.hca_objects() })).collect();
    }
    if let Some(u) = r.unified() {
        out.unified = u.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::is_pod_copy;

    #[test]
    fn pod_copies_of_etc_files() {
        let sb = "/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/0123abcd";
        assert!(is_pod_copy("/etc/hosts", &format!("{sb}/hosts")));
        assert!(is_pod_copy("/etc/resolv.conf", &format!("{sb}/resolv.conf")));
        assert!(is_pod_copy("/etc/hostname", &format!("{sb}/hostname")));
        assert!(is_pod_copy("/etc/hosts", "/var/lib/kubelet/pods/5f0e-uid/etc-hosts"));
        assert!(is_pod_copy("/etc/resolv.conf", "/run/containers/storage/overlay-containers/abc/userdata/resolv.conf"));
        // An operator's own volume at those paths, or the files elsewhere, are mounted.
        assert!(!is_pod_copy("/etc/hosts", "/srv/my-hosts"));
        assert!(!is_pod_copy("/etc/resolv.conf", "/etc/resolv.conf"));
        assert!(!is_pod_copy("/data/hosts", &format!("{sb}/hosts")));
        assert!(!is_pod_copy("/etc/hostname", &format!("{sb}/resolv.conf")));
    }
}
