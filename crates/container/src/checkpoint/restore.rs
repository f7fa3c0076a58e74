//! `restore`: the job, the storage and the identity made again from the bundle (as
//! `create` makes them), then CRIU restores each tree into them; a supervisor watches the
//! restored init as it watches a created one, so the job semantics hold again.

use std::fs;
use std::path::{Path, PathBuf};

use hostproc_job::{Layout, Part};
use hostproc_storage::Mode;
use hostproc_sys as sig;

use super::criu::Place;
use super::{common_flags, io, CheckpointError, Criu, Meta, RestoreOptions, DESCRIPTORS};
use crate::config::Config;
use crate::lifecycle::{self, Made};
use crate::state::{self, Status};
use crate::ContainerError;

/// Restores container `id` from `image_path`. Returns the exit code: 0 with `detach`,
/// else init's once it exits (the container is then deleted, as `run` does).
pub fn restore(o: &RestoreOptions, id: &str) -> Result<i32, ContainerError> {
    crate::validate_id(id)?;
    super::check_cgroups_mode(o.manage_cgroups_mode.as_deref())?;
    let criu = Criu::find(o.criu.as_deref())?;
    let Some(archive) = &o.from_archive else {
        let image = std::path::absolute(&o.image_path).map_err(crate::error::io_err("resolve --image-path", &o.image_path))?;
        let bundle = o.bundle.clone().unwrap_or_else(|| PathBuf::from("."));
        return restore_from(o, id, &criu, image, &bundle);
    };
    // Unpacked beside the state directories, under a name no id can have ('~').
    fs::create_dir_all(&o.root).map_err(crate::error::io_err("create the state root", &o.root))?;
    let dir = o.root.join(format!(".archive~{id}~{}", sig::getpid()));
    let res = super::archive::import(archive, &dir).map_err(ContainerError::from).and_then(|(image, spec_bundle)| {
        let bundle = o.bundle.clone().unwrap_or(spec_bundle);
        restore_from(o, id, &criu, image, &bundle)
    });
    // Ours (made by import under that name); the restored processes need no image.
    let _ = fs::remove_dir_all(&dir);
    res
}

fn restore_from(o: &RestoreOptions, id: &str, criu: &Criu, image: PathBuf, bundle: &Path) -> Result<i32, ContainerError> {
    let meta = Meta::load(&image)?;
    let refuse = |detail: String| ContainerError::from(CheckpointError::Restore { id: id.into(), detail });
    let mut cfg = Config::load(bundle, id, o.systemd_cgroup)?;
    if cfg.process.terminal {
        return Err(refuse("process.terminal is true: a container with a terminal cannot be restored (its pty is gone); set terminal to false".into()));
    }
    // CRIU's cgroup modes other than ignore put the processes back at the paths they were
    // dumped from: the job's own only under the same id.
    if o.manage_cgroups_mode.as_deref().is_some_and(|m| m != "ignore") && meta.state.id != id {
        return Err(refuse(format!(
            "--manage-cgroups-mode {} would put the processes into the cgroups of container {} (where they were dumped); restore under that id, or without the flag",
            o.manage_cgroups_mode.as_deref().unwrap_or_default(),
            meta.state.id
        )));
    }
    let was_bind = meta.state.hostproc.bind_mode;
    if was_bind != (cfg.storage.mode == Mode::Bind) {
        let m = |b: bool| if b { "bind" } else { "host" };
        return Err(refuse(format!("the checkpoint was taken in {} mode and the bundle asks for {} mode; use the same hostproc.io/mount-mode", m(was_bind), m(!was_bind))));
    }
    if was_bind && cfg.storage.location != meta.state.hostproc.sandbox {
        return Err(refuse(format!("the checkpoint's rootfs location was {} and the bundle's is {}; use the same", meta.state.hostproc.sandbox.display(), cfg.storage.location.display())));
    }
    // CRIU gives every process its pid again: a taken one is refused before anything is made.
    // A pid of a process just killed (the checkpoint without --leave-running) stays taken
    // until its parent reaps it: zombies are given a moment.
    let taken_now = || meta.pids.iter().copied().filter(|p| Path::new(&format!("/proc/{p}")).exists()).collect::<Vec<i32>>();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while taken_now().iter().all(|p| state::start_time(*p).is_some_and(|(_, zombie)| zombie)) && !taken_now().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let taken: Vec<String> = taken_now().into_iter().map(|p| format!("{p} ({})", super::comm(p))).collect();
    if !taken.is_empty() {
        return Err(refuse(format!(
            "pids {} of the checkpoint are taken on this host, and CRIU restores every process with its pid; stop them (the checkpointed container itself, if it was left running) and try again",
            taken.join(", ")
        )));
    }
    // The identity: an ephemeral user comes back with its uid, or not at all.
    let ephemeral = meta.state.hostproc.ephemeral.clone();
    let group = cfg.ephemeral_group.take();
    match (&ephemeral, &group) {
        (Some(u), None) => return Err(refuse(format!("the checkpoint ran as ephemeral user {} (uid {}) and the bundle's user is not an ephemeral group; restore with the same runAsUserName", u.name, u.uid))),
        (None, Some((g, _))) => return Err(refuse(format!("the bundle asks for an ephemeral user in group {g} and the checkpoint ran as uid {}", meta.state.hostproc.identity.uid))),
        _ => {}
    }
    if ephemeral.is_none() && cfg.identity.uid != meta.state.hostproc.identity.uid {
        return Err(refuse(format!("the checkpoint ran as uid {} and the bundle says uid {}; restore with the same user", meta.state.hostproc.identity.uid, cfg.identity.uid)));
    }
    let layout = Layout::detect(&Default::default())?;
    let mut st = lifecycle::initial_state(&cfg, &layout)?;
    let (_, guard) = state::create_dir(&o.root, id)?;
    let guard = lifecycle::Lock::made(guard);
    let mut made = Made::new(st.hostproc.storage.clone());
    let res = (|| -> Result<i32, ContainerError> {
        if let (Some(u), Some((g, gid))) = (&ephemeral, &group) {
            let eph = hostproc_identity::allocate_exact(id, u.uid, *gid, |user| {
                made.user = Some(user.clone());
                st.hostproc.ephemeral = Some(user.clone());
                st.save(&o.root).map_err(|e| e.to_string())
            })
            .map_err(|e| refuse(format!("runAsUserName (group {g}): {e}")))?;
            cfg.identity.uid = eph.user.uid;
            cfg.identity.name = Some(eph.user.name.clone());
            st.hostproc.identity = cfg.identity.clone();
            made.user_lock = Some(eph);
        }
        lifecycle::setup(&mut cfg, &mut made, &mut st, &o.root)?;
        let job = made.job.clone().expect("job made");
        if job.dirs.iter().any(|d| d.unified) {
            job.make(&cfg.resources, Part::V1)?;
        }
        let entry = job.entry()?;
        let work = match &o.work_path {
            Some(w) => {
                fs::create_dir_all(w).map_err(io("create the work directory", w))?;
                std::path::absolute(w).map_err(io("resolve the work directory", w))?
            }
            None => image.clone(),
        };
        let inherit = inherit_stdio(&image);
        let external = reopen_external(&image, &meta);
        let mut init = 0;
        for (i, (root, rel)) in meta.trees.iter().enumerate() {
            let log = if i == 0 { "restore.log".to_owned() } else { format!("restore-{i}.log") };
            let pidfile = work.join(format!("restore-{i}.pid"));
            let _ = fs::remove_file(&pidfile);
            let mut args: Vec<String> = vec![
                "restore".into(),
                "-D".into(),
                image.join(rel).display().to_string(),
                "-W".into(),
                work.display().to_string(),
                "-o".into(),
                log.clone(),
                "-v4".into(),
                "--restore-detached".into(),
                // Restored as hostproc's children (CLONE_PARENT), as create's init is.
                "--restore-sibling".into(),
                "--pidfile".into(),
                pidfile.display().to_string(),
                // The job made above is where CRIU runs: its processes stay there.
                format!("--manage-cgroups={}", o.manage_cgroups_mode.as_deref().unwrap_or("ignore")),
            ];
            args.extend(common_flags(o.tcp_established, o.ext_unix_sk, o.shell_job, o.file_locks));
            if i == 0 {
                args.extend(inherit.iter().cloned());
            }
            for (n, key) in &meta.external_stdio {
                args.push("--inherit-fd".into());
                let at = external.iter().find(|(k, _, _)| k == n).map(|(_, at, _)| *at).unwrap_or(*n);
                args.push(format!("fd[{at}]:{key}"));
            }
            let place = match (cfg.storage.mode, i) {
                (Mode::Host, _) => Place::Host,
                (Mode::Bind, 0) => Place::NewMountNs(&cfg.storage),
                (Mode::Bind, _) => Place::MountNsOf(init),
            };
            let pass: Vec<(i32, i32)> = external.iter().map(|(_, at, f)| (std::os::fd::AsRawFd::as_raw_fd(f), *at)).collect();
            criu.run("restore", &args, place, Some(&entry), &pass, &work.join(&log))?;
            let pid: i32 = fs::read_to_string(&pidfile).ok().and_then(|s| s.trim().parse().ok()).ok_or_else(|| refuse(format!("criu restore wrote no pid to {}", pidfile.display())))?;
            let _ = fs::remove_file(&pidfile);
            if pid != *root {
                tracing::warn!("tree {i} restored as pid {pid}, dumped as {root}");
            }
            if i == 0 {
                init = pid;
                st.pid = pid;
                st.hostproc.init_start = state::start_time(pid).map(|t| t.0).unwrap_or(0);
                st.save(&o.root)?;
            }
        }
        let pidfd = sig::pidfd_open(init).map_err(crate::error::io_err("watch", format!("/proc/{init}")))?;
        let sup = lifecycle::spawn_supervisor(&o.root, id, pidfd, &cfg, &job, made.points.take(), (&made.record, &made.dirs), None, &guard)?;
        st.hostproc.supervisor = Some((sup, state::start_time(sup).map(|t| t.0).unwrap_or(0)));
        st.status = Status::Running;
        st.save(&o.root)?;
        if let Some(p) = &o.pid_file {
            lifecycle::write_pid_file(p, init)?;
        }
        Ok(init)
    })();
    let init = match res {
        Ok(pid) => {
            drop(guard);
            drop(made.user_lock.take());
            pid
        }
        Err(e) => {
            made.undo(&o.root, id);
            drop(guard);
            return Err(e);
        }
    };
    if o.detach {
        return Ok(0);
    }
    // In the foreground, as `run`: init is our child; its exit ends the container.
    if !o.no_subreaper {
        let _ = sig::set_child_subreaper();
    }
    let code = sig::wait(init).map(|s| s.code()).unwrap_or(1);
    lifecycle::delete(&o.root, id, true)?;
    Ok(code)
}

/// init's stdio files that were dumped as external (bind mode: opened on the host before
/// init made its namespace), opened again at their paths (descriptors.json), each with
/// the descriptor number criu gets it at: (init's descriptor, number, file). A path that
/// cannot be opened leaves the restoring process's own descriptor in its place.
fn reopen_external(image: &Path, meta: &Meta) -> Vec<(i32, i32, fs::File)> {
    let old: Vec<String> = fs::read(image.join(DESCRIPTORS)).ok().and_then(|t| serde_json::from_slice(&t).ok()).unwrap_or_default();
    let mut out = Vec::new();
    for (n, _) in &meta.external_stdio {
        let Some(path) = old.get(*n as usize).filter(|p| p.starts_with('/')) else { continue };
        let open = |w: bool, r: bool| fs::OpenOptions::new().write(w).read(r).open(path);
        if let Ok(f) = open(true, true).or_else(|_| open(true, false)).or_else(|_| open(false, true)) {
            out.push((*n, 200 + n, f));
        }
    }
    out
}

/// runc's `--inherit-fd` for init's stdio: a pipe or socket init had on 0-2 (as
/// descriptors.json records) is replaced by what this process has there (the new
/// shim's pipes), when that is a pipe or socket too.
fn inherit_stdio(image: &Path) -> Vec<String> {
    let Ok(text) = fs::read(image.join(DESCRIPTORS)) else { return Vec::new() };
    let Ok(old): Result<Vec<String>, _> = serde_json::from_slice(&text) else { return Vec::new() };
    let mut args = Vec::new();
    for (n, was) in old.iter().enumerate().take(3) {
        let ours = fs::read_link(format!("/proc/self/fd/{n}")).map(|p| p.display().to_string()).unwrap_or_default();
        let kind = |s: &str| s.starts_with("pipe:") || s.starts_with("socket:");
        if kind(was) && kind(&ours) {
            args.push("--inherit-fd".into());
            args.push(format!("fd[{n}]:{was}"));
        }
    }
    args
}
