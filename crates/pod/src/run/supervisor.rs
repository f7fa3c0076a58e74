//! The pod's supervisor: init containers one at a time, then the containers together,
//! restarts with kubelet's back-off, the pod's phase, a graceful stop on SIGINT/SIGTERM.
//!
//! Each container runs as `hostproc run` in a child process of the supervisor: the
//! engine's foreground `run` waits for any child and takes SIGINT/SIGTERM for the whole
//! process, so two containers cannot share one; a process each is the engine's own model
//! (it stops its job with SIGTERM, grace, kill when told SIGTERM, and undoes everything).

use std::path::{Path, PathBuf};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hostproc_sys as sig;
use k8s_openapi::api::core::v1::Container;

use super::bundle;
use super::env::Facts;
use super::state::{start_time, CState, CStatus, PodState, Running, Terminated, INPUT_FILE};
use super::volumes;
use super::{io_err, now, pods_dir, PodError, PodInput};

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub root: PathBuf,
    pub node_name: Option<String>,
    pub detach: bool,
    /// Remove the pod once it ends (foreground only).
    pub remove: bool,
    /// How images are pulled (credentials, CA files, insecure registries); the pod's
    /// imagePullSecrets are added to its keyring.
    pub pull: hostproc_image::PullOptions,
}

/// kubelet's crash-loop back-off.
pub const BACKOFF_INITIAL: Duration = Duration::from_secs(10);
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// kubelet's crash-loop back-off for one container (flowcontrol.Backoff with 10 s
/// initial, 5 min max): (current back-off, last update).
#[derive(Debug, Default, Clone, Copy)]
pub struct Backoff(Option<(Duration, Instant)>);

impl Backoff {
    /// At an exit (`IsInBackOffSince`): a live entry means waiting its back-off from the
    /// exit; none, or one not updated for 2 x max (10 min), means restarting at once.
    pub fn wait(&self, now: Instant) -> Duration {
        match self.0 {
            Some((b, last)) if now.saturating_duration_since(last) <= 2 * BACKOFF_MAX => b,
            _ => Duration::ZERO,
        }
    }

    /// At a restart (`Next`): the entry doubles (up to max), or starts at 10 s when it
    /// is new or expired.
    pub fn next(&mut self, now: Instant) {
        self.0 = Some(match self.0 {
            Some((b, last)) if now.saturating_duration_since(last) <= 2 * BACKOFF_MAX => ((b * 2).min(BACKOFF_MAX), now),
            _ => (BACKOFF_INITIAL, now),
        });
    }
}

/// What `pod run` refuses before making anything (the rest is `pod validate`'s).
fn check(input: &PodInput) -> Result<(), PodError> {
    if input.name().is_empty() {
        return Err(PodError::invalid("metadata.name", "is required"));
    }
    for (f, s) in [("metadata.name", input.name()), ("metadata.namespace", input.namespace())] {
        if !s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.') {
            return Err(PodError::invalid(f, format!("{s:?} is not a DNS subdomain (lower-case letters, digits, '-', '.')")));
        }
    }
    if input.spec.host_network != Some(true) {
        return Err(PodError::invalid("spec.hostNetwork", "HostProcess pods need hostNetwork: true; set it"));
    }
    let pod_hpc = input.spec.security_context.as_ref().and_then(|s| s.windows_options.as_ref()).and_then(|w| w.host_process);
    let all = input.spec.init_containers.iter().flatten().map(|c| ("spec.initContainers", c)).chain(input.spec.containers.iter().map(|c| ("spec.containers", c)));
    let mut names = std::collections::HashSet::new();
    for (i, (f, c)) in all.enumerate() {
        let hpc = c.security_context.as_ref().and_then(|s| s.windows_options.as_ref()).and_then(|w| w.host_process).or(pod_hpc);
        if hpc != Some(true) {
            return Err(PodError::invalid(
                format!("{f}[{}].securityContext.windowsOptions.hostProcess", i),
                format!("container {:?} is not a HostProcess container: hostproc runs only those; set hostProcess: true (pod or container securityContext.windowsOptions)", c.name),
            ));
        }
        if !names.insert(c.name.clone()) || c.name.is_empty() || !c.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return Err(PodError::invalid(format!("{f}.name"), format!("{:?}: container names must be unique DNS labels", c.name)));
        }
    }
    for (i, c) in input.spec.init_containers.iter().flatten().enumerate() {
        // The API server's rule: "Always" (a sidecar) is the only restartPolicy an init
        // container may have.
        if let Some(p) = c.restart_policy.as_deref().filter(|p| *p != "Always") {
            return Err(PodError::invalid(format!("spec.initContainers[{i}].restartPolicy"), format!("Unsupported value: {p:?}: supported values: \"Always\" (a sidecar; leave it out for an init container that runs to completion)")));
        }
    }
    if input.spec.containers.is_empty() {
        return Err(PodError::invalid("spec.containers", "at least one container is required"));
    }
    volumes::check(input.spec.volumes.as_deref().unwrap_or_default())
}

fn restart_policy(input: &PodInput) -> &str {
    input.spec.restart_policy.as_deref().unwrap_or("Always")
}

/// `pod run`: makes the pod's state, volumes and bundles, then supervises it here (exit
/// code: 0 when the pod Succeeded or was stopped, 1 when it Failed) or in a detached
/// supervisor (0 once it is started).
pub fn run(opts: &RunOptions, mut input: PodInput) -> Result<i32, PodError> {
    check(&input)?;
    if input.metadata.uid.as_deref().unwrap_or_default().is_empty() {
        let u = std::fs::read_to_string("/proc/sys/kernel/random/uuid").map_err(io_err("read", "/proc/sys/kernel/random/uuid"))?;
        input.metadata.uid = Some(u.trim().to_string());
    }
    let dir = pods_dir(&opts.root).join(input.key());
    std::fs::create_dir_all(pods_dir(&opts.root)).map_err(io_err("create", pods_dir(&opts.root)))?;
    match std::fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(PodError::Exists(format!("{}/{}", input.namespace(), input.name()))),
        Err(e) => return Err(io_err("create", &dir)(e)),
    }
    let made = prepare(opts, &input, &dir);
    let st = match made {
        Ok(st) => st,
        Err(e) => {
            let st = PodState::load(&dir).unwrap_or_default();
            super::ops::release_views(&dir);
            volumes::remove_all(&dir, &st.tmpfs);
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
    };
    if opts.detach {
        let errlog = std::fs::File::create(dir.join("supervisor.log")).map_err(io_err("create", dir.join("supervisor.log")))?;
        let child = Command::new("/proc/self/exe")
            .arg("--root")
            .arg(&opts.root)
            .args(["pod", "supervise", &input.key()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(errlog)
            .spawn()
            .map_err(io_err("start the pod's supervisor", "/proc/self/exe"))?;
        let pid = child.id() as i32;
        let mut st = st;
        st.supervisor = Some((pid, start_time(pid).unwrap_or(0)));
        st.detached = true;
        st.save(&dir)?;
        return Ok(0);
    }
    let code = supervise(&opts.root, &dir, &input, st);
    if opts.remove {
        super::ops::remove_dir(&opts.root, &dir, true)?;
    }
    code
}

/// The pod's state directory made: input, state, volumes, every container's bundle. On
/// error the caller removes the directory (tmpfs mounts are recorded in the state first).
fn prepare(opts: &RunOptions, input: &PodInput, dir: &Path) -> Result<PodState, PodError> {
    let input_path = dir.join(INPUT_FILE);
    {
        use std::os::unix::fs::OpenOptionsExt;
        let f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&input_path).map_err(io_err("write", &input_path))?;
        serde_json::to_writer(f, input).map_err(|e| io_err("write", &input_path)(e.into()))?;
    }
    let node_name = opts.node_name.clone().unwrap_or_else(super::host_name);
    let ips = super::host_ips();
    let status = |c: &Container, reason: &str| CStatus { name: c.name.clone(), state: CState::waiting(reason), image: c.image.clone().unwrap_or_default(), ..Default::default() };
    let mut st = PodState {
        name: input.name(),
        namespace: input.namespace(),
        uid: input.metadata.uid.clone().unwrap_or_default(),
        node_name: node_name.clone(),
        host_ip: ips[0].clone(),
        start_time: now(),
        phase: "Pending".into(),
        init_container_statuses: input.spec.init_containers.iter().flatten().map(|c| status(c, "PodInitializing")).collect(),
        container_statuses: input.spec.containers.iter().map(|c| status(c, if input.spec.init_containers.as_ref().is_some_and(|i| !i.is_empty()) { "PodInitializing" } else { "ContainerCreating" })).collect(),
        ..Default::default()
    };
    st.save(dir)?;
    let pull = pull_options(opts, input)?;
    let facts = Facts { input, node_name: &node_name, host_ips: &ips };
    let vols = volumes::prepare(&facts, dir, &mut |p| {
        st.tmpfs.push(p.to_path_buf());
        st.save(dir)
    })?;
    for (f, list) in [("spec.initContainers", input.spec.init_containers.as_deref().unwrap_or_default()), ("spec.containers", &input.spec.containers[..])] {
        for (i, c) in list.iter().enumerate() {
            let field = format!("{f}[{i}]");
            // Hooks and probes checked now, before anything runs.
            crate::hooks::Hooks::of(c, &field).map_err(|e| PodError::invalid(field.clone(), e.to_string()))?;
            for (kind, p) in [("livenessProbe", &c.liveness_probe), ("readinessProbe", &c.readiness_probe), ("startupProbe", &c.startup_probe)] {
                if let Some(p) = p {
                    crate::probe::Action::from_probe(p, c, &format!("{field}.{kind}")).map_err(|e| PodError::invalid(format!("{field}.{kind}"), e.to_string()))?;
                }
            }
            let (rootfs, image) = bundle::image_view(&opts.root, c, input.base_dir.as_deref(), &field, &bundle_dir(dir, &c.name), &pull)?;
            let spec = bundle::Spec { facts: &facts, container: c, field, volumes: &vols, rootfs, image };
            bundle::write(&spec, &bundle_dir(dir, &c.name))?;
        }
    }
    Ok(st)
}

/// The pull options with the pod's imagePullSecrets (Secrets given with the pod); one that
/// is not there is skipped with a warning, as the kubelet does.
fn pull_options(opts: &RunOptions, input: &PodInput) -> Result<hostproc_image::PullOptions, PodError> {
    let mut pull = opts.pull.clone();
    for (i, r) in input.spec.image_pull_secrets.iter().flatten().enumerate() {
        let field = format!("spec.imagePullSecrets[{i}]");
        let Some(s) = input.secrets.iter().find(|s| s.metadata.name.as_deref() == Some(r.name.as_str())) else {
            tracing::warn!("{field}: Secret {:?} is not among the files given: pulling without it", r.name);
            continue;
        };
        let data = s.data.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone())).collect();
        pull.keyring.add_secret(&r.name, s.type_.as_deref(), &data).map_err(|e| PodError::invalid(field, e.to_string()))?;
    }
    Ok(pull)
}

pub fn bundle_dir(pod_dir: &Path, container: &str) -> PathBuf {
    pod_dir.join("containers").join(container)
}

/// The detached supervisor (`pod supervise KEY`, hidden): its own session, then the same
/// loop as the foreground.
pub fn supervise_detached(root: &Path, key: &str) -> Result<i32, PodError> {
    let _ = sig::setsid();
    let dir = pods_dir(root).join(key);
    let p = dir.join(INPUT_FILE);
    let input: PodInput = serde_json::from_slice(&std::fs::read(&p).map_err(io_err("read", &p))?).map_err(|e| PodError::invalid(p.display().to_string(), e.to_string()))?;
    let st = PodState::load(&dir)?;
    supervise(root, &dir, &input, st)
}

/// One container's life in the supervisor.
pub(super) struct Ctr {
    pub(super) init: bool,
    /// Index into the state's init or main statuses.
    pub(super) idx: usize,
    pub(super) child: Option<Child>,
    pub(super) logs: Vec<std::thread::JoinHandle<Result<(), crate::logs::LogError>>>,
    /// kubelet's back-off entry: (current back-off, last update).
    pub(super) backoff: Backoff,
    /// A restart waits until then.
    pub(super) next_start: Option<Instant>,
    /// Ended for good (no restart will come).
    pub(super) done: bool,
    /// The next start is a restart (counted when it happens, as kubelet counts).
    pub(super) restart: bool,
    /// The probes of the current run.
    pub(super) probes: Option<crate::probe::ProbeHandle>,
    /// postStart and preStop.
    pub(super) hooks: crate::hooks::Hooks,
    /// The container's field (`spec.containers[0]`), for probe and hook errors.
    pub(super) field: String,
    /// Started, the engine not yet running it.
    pub(super) creating: bool,
    /// When its runner was started (the start time of a run too short to be seen running).
    pub(super) spawned_at: String,
    pub(super) exit: i32,
    /// A sidecar that has started once (what follows it in the init phase may run).
    pub(super) ever_started: bool,
}

pub(super) struct Sup<'a> {
    pub(super) root: &'a Path,
    pub(super) dir: &'a Path,
    pub(super) input: &'a PodInput,
    pub(super) st: PodState,
    pub(super) ctrs: Vec<Ctr>,
    pub(super) probe_tx: std::sync::mpsc::Sender<crate::probe::ProbeUpdate>,
    /// When the stop was asked for.
    pub(super) stop_at: Option<Instant>,
    /// The pod has finished; its sidecars are being stopped.
    pub(super) ending: bool,
}

fn supervise(root: &Path, dir: &Path, input: &PodInput, st: PodState) -> Result<i32, PodError> {
    let mut set = sig::SigSet::empty();
    for s in [sig::SIGINT, sig::SIGTERM, sig::SIGCHLD] {
        set.add(s);
    }
    // Blocked before any thread or child exists (children get an empty mask from std).
    sig::set_signal_mask(&set).map_err(io_err("block signals in", "the pod supervisor"))?;
    let n_init = st.init_container_statuses.len();
    let ctrs = (0..n_init).map(|i| (true, i)).chain((0..st.container_statuses.len()).map(|i| (false, i)));
    let mut list = Vec::new();
    for (init, idx) in ctrs {
        let (c, field) = if init {
            (&input.spec.init_containers.as_ref().expect("init containers")[idx], format!("spec.initContainers[{idx}]"))
        } else {
            (&input.spec.containers[idx], format!("spec.containers[{idx}]"))
        };
        let hooks = crate::hooks::Hooks::of(c, &field).map_err(|e| PodError::invalid(field.clone(), e.to_string()))?;
        list.push(Ctr { init, idx, child: None, logs: Vec::new(), backoff: Backoff::default(), next_start: Some(Instant::now()), done: false, restart: false, probes: None, hooks, field, creating: false, spawned_at: String::new(), exit: 0, ever_started: false });
    }
    let (probe_tx, probe_rx) = std::sync::mpsc::channel();
    let mut s = Sup { root, dir, input, st, ctrs: list, probe_tx, stop_at: None, ending: false };
    let me = sig::getpid();
    s.st.supervisor = Some((me, start_time(me).unwrap_or(0)));
    s.st.save(dir)?;
    if let Err(e) = s.run_loop(&set, &probe_rx) {
        // Nothing left running behind an error: every container stopped at once.
        tracing::error!("the pod's supervisor: {e}; stopping every container");
        s.st.stopping = true;
        s.stop_all(true);
        let end = Instant::now() + Duration::from_secs(30);
        while s.ctrs.iter().any(|c| c.child.is_some()) && Instant::now() < end {
            let _ = s.reap();
            std::thread::sleep(Duration::from_millis(20));
        }
        s.finish_phase();
        let _ = s.st.save(dir);
        return Err(e);
    }
    // The logs' last lines.
    let end = Instant::now() + Duration::from_secs(2);
    for c in &mut s.ctrs {
        for h in c.logs.drain(..) {
            while !h.is_finished() && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
    s.finish_phase();
    s.st.save(dir)?;
    Ok(if s.st.phase == "Succeeded" || s.st.stopping { 0 } else { 1 })
}

impl Sup<'_> {
    /// The supervision until the pod ends or a stop is done.
    fn run_loop(&mut self, set: &sig::SigSet, probe_rx: &std::sync::mpsc::Receiver<crate::probe::ProbeUpdate>) -> Result<(), PodError> {
        loop {
            while let Ok(u) = probe_rx.try_recv() {
                self.probe_update(u)?;
            }
            self.reap()?;
            self.check_running()?;
            if self.st.stopping || self.ending {
                if self.ctrs.iter().all(|c| c.child.is_none()) {
                    break;
                }
            } else if self.step()? {
                if self.ctrs.iter().all(|c| c.child.is_none()) {
                    break;
                }
                // Finished with sidecars running: they are stopped as at a pod stop
                // (preStop, SIGTERM, grace), and do not count for the pod's phase.
                self.ending = true;
                self.stop_all(false);
            }
            let wake = self.ctrs.iter().filter(|c| c.child.is_none() && !c.done).filter_map(|c| c.next_start).min();
            // Probe results come by channel: look again soon while any probe runs.
            let most = if self.ctrs.iter().any(|c| c.creating) {
                Duration::from_millis(10)
            } else if self.ctrs.iter().any(|c| c.probes.is_some()) {
                Duration::from_millis(100)
            } else {
                Duration::from_secs(1)
            };
            let timeout = wake.map_or(most, |w| w.saturating_duration_since(Instant::now()).min(most));
            match sig::wait_signal(set, Some(timeout)) {
                Ok(Some(x)) if x == sig::SIGINT || x == sig::SIGTERM => {
                    tracing::info!("stop requested: preStop hooks, then each container gets SIGTERM and its grace");
                    let again = self.st.stopping;
                    self.st.stopping = true;
                    self.st.save(self.dir)?;
                    self.stop_all(again);
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!("waiting for signals: {e}");
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
        Ok(())
    }

    pub(super) fn status(&mut self, i: usize) -> &mut CStatus {
        let (init, idx) = (self.ctrs[i].init, self.ctrs[i].idx);
        if init {
            &mut self.st.init_container_statuses[idx]
        } else {
            &mut self.st.container_statuses[idx]
        }
    }

    pub(super) fn spec(&self, i: usize) -> &Container {
        let c = &self.ctrs[i];
        if c.init {
            &self.input.spec.init_containers.as_ref().expect("init containers")[c.idx]
        } else {
            &self.input.spec.containers[c.idx]
        }
    }

    /// Starts what is due; true once the pod is finished.
    fn step(&mut self) -> Result<bool, PodError> {
        let n_init = self.st.init_container_statuses.len();
        match self.init_phase()? {
            super::sidecar::InitPhase::Waiting => return Ok(false),
            super::sidecar::InitPhase::Failed => {
                self.st.phase = "Failed".into();
                return Ok(true);
            }
            super::sidecar::InitPhase::Done => {}
        }
        for i in n_init..self.ctrs.len() {
            if !self.ctrs[i].done && self.ctrs[i].child.is_none() && self.ctrs[i].next_start.is_some_and(|t| t <= Instant::now()) {
                self.start(i)?;
            }
        }
        if self.st.phase == "Pending" && self.ctrs[n_init..].iter().any(|c| c.child.is_some()) {
            self.st.phase = "Running".into();
            self.st.save(self.dir)?;
        }
        Ok(self.ctrs[n_init..].iter().all(|c| c.done))
    }

    /// Succeeded when every container ended with 0, else Failed (kubelet's rule for a
    /// pod whose containers all terminated).
    fn finish_phase(&mut self) {
        if self.st.phase == "Failed" {
            return;
        }
        let all_ok = self.st.container_statuses.iter().all(|c| c.state.terminated.as_ref().is_some_and(|t| t.exit_code == 0));
        self.st.phase = if all_ok { "Succeeded" } else { "Failed" }.into();
    }

    pub(super) fn start(&mut self, i: usize) -> Result<(), PodError> {
        let name = self.spec(i).name.clone();
        if std::mem::take(&mut self.ctrs[i].restart) {
            self.status(i).restart_count += 1;
        }
        let restart = self.status(i).restart_count;
        if restart > 0 {
            self.ctrs[i].backoff.next(Instant::now());
        }
        let id = format!("{}_{}_{}_{restart}", self.st.namespace, self.st.name, name);
        hostproc_container::validate_id(&id)?;
        let logs_dir = self.dir.join("logs").join(&name);
        std::fs::create_dir_all(&logs_dir).map_err(io_err("create", &logs_dir))?;
        let bundle = bundle_dir(self.dir, &name);
        if restart > 0 {
            // A new container, as kubelet makes one: a fresh writable view of the image.
            let field = self.ctrs[i].field.clone();
            bundle::fresh_view(self.root, self.spec(i), self.input.base_dir.as_deref(), &field, &bundle)?;
        }
        {
            let s = self.status(i);
            s.hostproc.engine_ids.push(id.clone());
            if restart > 0 {
                s.hostproc.restart_times.push(now());
            }
        }
        self.st.save(self.dir)?;
        let spawned = Command::new("/proc/self/exe")
            .arg("--root")
            .arg(self.root)
            .arg("--log")
            .arg(bundle.join(format!("engine-{restart}.log")))
            .args(["run", "--bundle"])
            .arg(&bundle)
            .arg(&id)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Ctrl-C on a terminal reaches the supervisor only: it decides the stop.
            .process_group(0)
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => return Err(io_err("start container", &bundle)(e)),
        };
        let pid = child.id() as i32;
        let log = crate::logs::log_path(&self.dir.join("logs"), &name, restart);
        let c = &mut self.ctrs[i];
        c.logs = crate::logs::attach(child.stdout.take(), child.stderr.take(), &log, crate::logs::Rotation::default()).unwrap_or_else(|e| {
            tracing::warn!("container {name}: its log: {e}");
            Vec::new()
        });
        c.child = Some(child);
        c.next_start = None;
        let s = self.status(i);
        s.hostproc.runner = Some((pid, start_time(pid).unwrap_or(0)));
        // Running once the engine says so (`check_running`).
        let prev = std::mem::replace(&mut s.state, CState::waiting("ContainerCreating"));
        if prev.terminated.is_some() {
            s.last_state = CState { terminated: prev.terminated, ..Default::default() };
        }
        self.ctrs[i].creating = true;
        self.ctrs[i].spawned_at = now();
        self.st.save(self.dir)?;
        self.start_probes_and_hooks(i, &id, pid);
        Ok(())
    }

    /// Containers the engine now runs: `running`, ready without a readiness probe, started
    /// without a startup probe.
    fn check_running(&mut self) -> Result<(), PodError> {
        for i in 0..self.ctrs.len() {
            if !self.ctrs[i].creating || self.ctrs[i].child.is_none() {
                continue;
            }
            let Some(id) = self.status(i).hostproc.engine_ids.last().cloned() else { continue };
            let running = hostproc_container::load_state(self.root, &id).is_ok_and(|s| s.live_status() == hostproc_container::Status::Running);
            if !running {
                continue;
            }
            self.ctrs[i].creating = false;
            let (no_ready, no_startup) = (self.spec(i).readiness_probe.is_none(), self.spec(i).startup_probe.is_none());
            let s = self.status(i);
            s.state = CState { running: Some(Running { started_at: now() }), ..Default::default() };
            // A probe may have answered before the engine said "running": its result
            // stands (updates come only on a change).
            s.ready |= no_ready;
            s.started |= no_startup;
            self.st.save(self.dir)?;
        }
        Ok(())
    }

    /// Collects exited containers and decides their restarts.
    fn reap(&mut self) -> Result<(), PodError> {
        for i in 0..self.ctrs.len() {
            let Some(child) = self.ctrs[i].child.as_mut() else { continue };
            let Ok(Some(status)) = child.try_wait() else { continue };
            use std::os::unix::process::ExitStatusExt;
            let code = status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
            self.ctrs[i].child = None;
            self.ctrs[i].creating = false;
            self.ctrs[i].exit = code;
            // Ends the probe thread (at most one try's timeout).
            drop(self.ctrs[i].probes.take());
            let restart = self.status(i).restart_count;
            let engine_log = bundle_dir(self.dir, &self.spec(i).name).join(format!("engine-{restart}.log"));
            let oom = std::fs::read_to_string(&engine_log).is_ok_and(|l| l.contains("OOM killer"));
            let reason = if oom {
                "OOMKilled"
            } else if code == 0 {
                "Completed"
            } else {
                "Error"
            };
            let policy = restart_policy(self.input).to_string();
            let again = !self.st.stopping
                && !self.ending
                && if self.is_sidecar(i) {
                    true
                } else if self.ctrs[i].init {
                    code != 0 && policy != "Never"
                } else {
                    policy == "Always" || (policy == "OnFailure" && code != 0)
                };
            let spawned = self.ctrs[i].spawned_at.clone();
            let started_at = self.status(i).state.running.as_ref().map_or(spawned, |r| r.started_at.clone());
            let term = Terminated { exit_code: code, reason: reason.into(), started_at, finished_at: now() };
            {
                let s = self.status(i);
                s.ready = false;
                s.hostproc.runner = None;
                s.state = CState { terminated: Some(term.clone()), ..Default::default() };
            }
            if again {
                let c = &mut self.ctrs[i];
                let wait = c.backoff.wait(Instant::now());
                c.next_start = Some(Instant::now() + wait);
                if !wait.is_zero() {
                    let name = self.spec(i).name.clone();
                    let pod = self.st.name.clone();
                    let s = self.status(i);
                    s.last_state = CState { terminated: Some(term), ..Default::default() };
                    s.state = CState::waiting("CrashLoopBackOff");
                    s.state.waiting.as_mut().expect("waiting").message = format!("back-off {}s restarting failed container={name} pod={pod}", wait.as_secs());
                }
                self.ctrs[i].restart = true;
            } else {
                self.ctrs[i].done = true;
            }
            self.st.save(self.dir)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The waits of a container that keeps exiting at once: 0, 10, 20, 40 ... 300, 300;
    /// after a run of more than 10 min, 0 and 10 again.
    #[test]
    fn kubelets_back_off_sequence_and_reset() {
        let mut b = Backoff::default();
        let mut now = Instant::now();
        let mut waits = Vec::new();
        for _ in 0..8 {
            let w = b.wait(now);
            waits.push(w.as_secs());
            now += w;
            b.next(now);
        }
        assert_eq!(waits, [0, 10, 20, 40, 80, 160, 300, 300]);
        now += Duration::from_secs(601);
        assert_eq!(b.wait(now), Duration::ZERO);
        b.next(now);
        assert_eq!(b.wait(now + Duration::from_secs(5)), Duration::from_secs(10));
        // Ten minutes exactly still counts as in back-off.
        let mut c = Backoff::default();
        let t0 = Instant::now();
        c.next(t0);
        assert_eq!(c.wait(t0 + Duration::from_secs(600)), Duration::from_secs(10));
    }
}
