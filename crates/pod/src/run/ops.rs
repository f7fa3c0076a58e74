//! `pod ls`, `pod stop`, `pod rm`: on the pod's state, whether or not its supervisor
//! still lives.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hostproc_sys as sig;

use super::state::{alive, CState, PodState, Terminated};
use super::{now, pods_dir, volumes, PodError};

/// Every pod under the root, with its directory.
pub fn list(root: &Path) -> Result<Vec<(PathBuf, PodState)>, PodError> {
    let d = pods_dir(root);
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(&d) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(super::io_err("read", &d)(e)),
    };
    for e in rd.flatten() {
        let p = e.path();
        match PodState::load(&p) {
            Ok(st) => out.push((p, st)),
            Err(e) => tracing::warn!("{e}"),
        }
    }
    out.sort_by(|a, b| (&a.1.namespace, &a.1.name).cmp(&(&b.1.namespace, &b.1.name)));
    Ok(out)
}

/// A pod's directory from `NAME`, `NAMESPACE/NAME` or `NAMESPACE_NAME`.
pub fn find(root: &Path, pod: &str) -> Result<PathBuf, PodError> {
    let key = match pod.split_once('/') {
        Some((ns, n)) => format!("{ns}_{n}"),
        None if pod.contains('_') => pod.to_string(),
        None => format!("default_{pod}"),
    };
    if key.contains("..") || key.contains('/') {
        return Err(PodError::NotFound(pod.into()));
    }
    let d = pods_dir(root).join(&key);
    if d.join(super::state::STATE_FILE).exists() {
        return Ok(d);
    }
    // A bare name in another namespace, if only one has it.
    if !pod.contains('/') && !pod.contains('_') {
        let hits: Vec<PathBuf> = list(root)?.into_iter().filter(|(_, s)| s.name == pod).map(|(p, _)| p).collect();
        if hits.len() == 1 {
            return Ok(hits.into_iter().next().expect("one"));
        }
    }
    Err(PodError::NotFound(pod.into()))
}

fn wait_gone(pid: i32, start: u64, timeout: Duration) -> bool {
    let end = Instant::now() + timeout;
    while alive(pid, start) {
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Stops the pod: its supervisor stops each container (SIGTERM, grace, kill) and
/// records the outcome; without a supervisor, each container's runner is told here.
pub fn stop(root: &Path, pod: &str) -> Result<(), PodError> {
    let dir = find(root, pod)?;
    let st = PodState::load(&dir)?;
    let grace = grace_of(&dir);
    if let Some((pid, start)) = st.supervisor.filter(|&(p, s)| alive(p, s)) {
        let _ = sig::kill(pid, sig::SIGTERM);
        if !wait_gone(pid, start, grace + Duration::from_secs(30)) {
            return Err(PodError::invalid("pod stop", format!("the supervisor (pid {pid}) did not end within the grace + 30 s; use hostproc pod rm --force")));
        }
        return Ok(());
    }
    stop_without_supervisor(root, &dir, st, grace, false)
}

/// The pod's grace (terminationGracePeriodSeconds), for waiting.
fn grace_of(dir: &Path) -> Duration {
    let input = std::fs::read(dir.join(super::state::INPUT_FILE)).ok().and_then(|b| serde_json::from_slice::<super::PodInput>(&b).ok());
    Duration::from_secs(input.and_then(|i| i.spec.termination_grace_period_seconds).unwrap_or(30).clamp(0, 86_400) as u64)
}

/// The supervisor is gone: SIGTERM (or with `kill`, SIGKILL to the job) each container's
/// runner, wait, remove what is left of each engine container, record the end.
fn stop_without_supervisor(root: &Path, dir: &Path, mut st: PodState, grace: Duration, kill: bool) -> Result<(), PodError> {
    st.stopping = true;
    let runners: Vec<(i32, u64)> = st.all().filter_map(|c| c.hostproc.runner).filter(|&(p, s)| alive(p, s)).collect();
    if kill {
        // The engine's delete --force kills the job; the runner then undoes the rest.
        for c in st.all() {
            if let Some(id) = c.hostproc.engine_ids.last() {
                let _ = hostproc_container::delete(root, id, true);
            }
        }
    } else {
        for &(p, _) in &runners {
            let _ = sig::kill(p, sig::SIGTERM);
        }
    }
    for &(p, s) in &runners {
        if !wait_gone(p, s, grace + Duration::from_secs(15)) {
            let _ = sig::kill(p, sig::SIGKILL);
        }
    }
    let mut errs = Vec::new();
    for c in st.init_container_statuses.iter_mut().chain(st.container_statuses.iter_mut()) {
        for id in &c.hostproc.engine_ids {
            if let Err(e) = hostproc_container::delete(root, id, true) {
                errs.push(format!("{id}: {e}"));
            }
        }
        c.hostproc.runner = None;
        c.ready = false;
        if c.state.running.is_some() || c.state.waiting.is_some() {
            let started = c.state.running.as_ref().map(|r| r.started_at.clone()).unwrap_or_default();
            // kubelet's word for a container whose end it did not see.
            c.state = CState { terminated: Some(Terminated { exit_code: 137, reason: "ContainerStatusUnknown".into(), started_at: started, finished_at: now() }), ..Default::default() };
        }
    }
    if matches!(st.phase.as_str(), "Pending" | "Running") {
        st.phase = "Failed".into();
    }
    st.save(dir)?;
    if errs.is_empty() {
        Ok(())
    } else {
        Err(PodError::invalid("pod containers", errs.join("; ")))
    }
}

/// `pod rm`: a finished or stopped pod; with `force`, any pod (its supervisor killed,
/// every container, mount, emptyDir and ephemeral user removed).
pub fn remove(root: &Path, pod: &str, force: bool) -> Result<(), PodError> {
    let dir = match find(root, pod) {
        Ok(d) => d,
        Err(e @ PodError::NotFound(_)) => {
            // A directory with no readable state (a crash while it was made).
            let key = pod.replace('/', "_");
            let d = pods_dir(root).join(if key.contains('_') { key } else { format!("default_{key}") });
            if force && d.is_dir() && !pod.contains("..") {
                d
            } else if force {
                return Ok(());
            } else {
                return Err(e);
            }
        }
        Err(e) => return Err(e),
    };
    remove_dir(root, &dir, force)
}

pub fn remove_dir(root: &Path, dir: &Path, force: bool) -> Result<(), PodError> {
    let st = PodState::load(dir).ok();
    if let Some(st) = st {
        let name = format!("{}/{}", st.namespace, st.name);
        if let Some((pid, start)) = st.supervisor.filter(|&(p, s)| alive(p, s) && p != sig::getpid()) {
            if !force {
                return Err(PodError::Running(name, pid));
            }
            let _ = sig::kill(pid, sig::SIGKILL);
            wait_gone(pid, start, Duration::from_secs(5));
        }
        let live = st.all().filter_map(|c| c.hostproc.runner).any(|(p, s)| alive(p, s));
        if live && !force {
            return Err(PodError::invalid("pod rm", format!("pod {name}: containers still run without a supervisor; stop it first (hostproc pod stop) or use --force")));
        }
        let st = PodState::load(dir)?;
        let tmpfs = st.tmpfs.clone();
        stop_without_supervisor(root, dir, st, Duration::ZERO, true)?;
        volumes::remove_all(dir, &tmpfs);
    }
    release_views(dir);
    // Never a recursive removal through a mount (an image view, a tmpfs) still there.
    if let Some(m) = mounts_under(dir).first() {
        return Err(PodError::invalid("pod rm", format!("{m} is still mounted (busy?); end what uses it and run pod rm --force again")));
    }
    std::fs::remove_dir_all(dir).or_else(|e| if e.kind() == std::io::ErrorKind::NotFound { Ok(()) } else { Err(e) }).map_err(super::io_err("remove", dir))
}

/// Mount points at or under `dir` (this process's mount namespace).
fn mounts_under(dir: &Path) -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines().filter_map(|l| l.split(' ').nth(4)).filter(|m| Path::new(m).starts_with(dir)).map(str::to_string).collect()
}

/// Releases every container's image view (overlayfs or copy) under the pod's directory.
pub fn release_views(pod_dir: &Path) {
    let Ok(rd) = std::fs::read_dir(pod_dir.join("containers")) else { return };
    for e in rd.flatten() {
        super::bundle::release_view(&e.path());
    }
}

/// `pod ls`'s columns: NAME, PHASE, READY, RESTARTS, AGE (a lost supervisor said in the
/// phase column).
pub fn table(pods: &[(PathBuf, PodState)]) -> String {
    let mut rows = vec![["NAMESPACE".to_string(), "NAME".into(), "PHASE".into(), "READY".into(), "RESTARTS".into(), "AGE".into()]];
    for (_, s) in pods {
        let ready = s.container_statuses.iter().filter(|c| c.ready).count();
        let restarts: u32 = s.all().map(|c| c.restart_count).sum();
        let phase = if s.supervisor_lost() { format!("{} (supervisor lost)", s.phase) } else { s.phase.clone() };
        rows.push([s.namespace.clone(), s.name.clone(), phase, format!("{ready}/{}", s.container_statuses.len()), restarts.to_string(), age(&s.start_time)]);
    }
    let w: Vec<usize> = (0..6).map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0)).collect();
    rows.iter().map(|r| r.iter().zip(&w).map(|(c, w)| format!("{c:<w$}")).collect::<Vec<_>>().join("   ").trim_end().to_string() + "\n").collect()
}

fn age(start: &str) -> String {
    let Ok(t) = start.parse::<k8s_openapi::jiff::Timestamp>() else { return "?".into() };
    let s = (super::now_ts().as_second() - t.as_second()).max(0);
    match s {
        0..120 => format!("{s}s"),
        120..7200 => format!("{}m", s / 60),
        7200..172_800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}
