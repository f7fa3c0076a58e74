//! runc's lifecycle on Windows, each step a separate command as containerd runs them:
//! `create` makes the job, the sandbox and the payload (suspended, already in the job),
//! starts a detached supervisor that holds the job (so it outlives `create`; if the
//! supervisor dies, KILL_ON_JOB_CLOSE ends the payload) and writes the state; `start`
//! resumes the payload; `kill` sends the console control event, waits the grace period and
//! terminates; `delete` terminates what is left, releases the sandbox and removes the state.
//! Everything goes through the job crate's interface; no Win32 call here.

use std::io::{BufRead, BufReader, Write};
use std::os::windows::io::AsHandle;
use std::os::windows::process::CommandExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use hostproc_job::windows::{run, sandbox, Job, Process, DETACHED_FLAGS};

use super::state::{self, Internal, State, Status, OCI_VERSION};
use super::Error;

/// `create`: on any failure nothing is left (job, sandbox, state directory).
pub fn create(root: &Path, bundle: &Path, id: &str, pid_file: Option<&Path>, grace: Duration) -> Result<(), Error> {
    state::validate_id(id)?;
    let bundle = std::path::absolute(bundle).map_err(|source| Error::Io { what: "resolve the bundle path", path: bundle.to_path_buf(), source })?;
    let plan = run::plan(&bundle)?;
    state::create_dir(root, id)?;
    let made = (|| {
        let (job, sb) = plan.prepare(id)?;
        let r = (|| {
            let (i, o, e) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
            let init = job.spawn_suspended(&plan.command(&sb.path, [i.as_handle(), o.as_handle(), e.as_handle()]))?;
            let created = Process::open(init.pid, None)?.ok_or(Error::Supervisor { id: id.to_owned(), detail: "the payload vanished before it ran".into() })?.created;
            let mut st = State {
                oci_version: OCI_VERSION.into(),
                id: id.to_owned(),
                pid: init.pid,
                status: Status::Created,
                bundle: bundle.clone(),
                rootfs: plan.rootfs.clone(),
                created: state::now_rfc3339(),
                owner: String::new(),
                annotations: plan.annotations.clone(),
                hostproc: Internal {
                    job: job.clone(),
                    sandbox: sb.clone(),
                    init_start: created,
                    init_thread: init.thread_id,
                    supervisor: None,
                    grace_ms: grace.as_millis() as u64,
                },
            };
            st.save(root)?;
            st.hostproc.supervisor = Some(supervisor(root, id)?);
            st.save(root)?;
            if let Some(f) = pid_file {
                std::fs::write(f, init.pid.to_string()).map_err(|source| Error::Io { what: "write the pid file", path: f.to_path_buf(), source })?;
            }
            Ok(())
        })();
        if r.is_err() {
            let _ = job.destroy();
            let _ = sandbox::release(&sb);
        }
        r
    })();
    if made.is_err() {
        let _ = state::remove(root, id);
    }
    made
}

/// Starts `hostproc supervise ID` detached and waits for it to hold the job; (pid,
/// creation time).
fn supervisor(root: &Path, id: &str) -> Result<(u32, u64), Error> {
    let fail = |detail: String| Error::Supervisor { id: id.to_owned(), detail };
    let exe = std::env::current_exe().map_err(|e| fail(format!("cannot find hostproc's own executable: {e}")))?;
    let mut child = std::process::Command::new(exe)
        .arg("--root")
        .arg(root)
        .args(["supervise", id])
        .creation_flags(DETACHED_FLAGS)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        // Null, not a pipe: nobody reads it once create has returned (its failures before
        // "ready" come on stdout).
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    let mut line = String::new();
    let _ = BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line);
    if line.trim() != "ready" {
        let _ = child.kill();
        let _ = child.wait();
        return Err(fail(if line.trim().is_empty() { "it exited without a word".into() } else { line.trim().to_owned() }));
    }
    let p = Process::open(child.id(), None)?.ok_or_else(|| fail("it exited at once".into()))?;
    Ok((p.pid, p.created))
}

/// The hidden `supervise` command: holds the job while init lives, then stops what init
/// left behind (the console control event, the grace period, terminate) and exits, which
/// closes the job.
pub fn supervise(root: &Path, id: &str) -> Result<(), Error> {
    let held = (|| {
        let st = state::load(root, id)?;
        let job = Job::open(id, st.hostproc.job.limits.clone())?;
        let init = Process::open(st.pid, Some(st.hostproc.init_start))?
            .ok_or(Error::Supervisor { id: id.to_owned(), detail: format!("init (pid {}) is gone", st.pid) })?;
        Ok::<_, Error>((st, job, init))
    })();
    let mut out = std::io::stdout().lock();
    let (st, job, init) = match held {
        Ok(h) => {
            let _ = writeln!(out, "ready");
            let _ = out.flush();
            h
        }
        Err(e) => {
            let _ = writeln!(out, "{e}");
            let _ = out.flush();
            return Err(e);
        }
    };
    drop(out);
    init.wait(None)?;
    job.stop(Duration::from_millis(st.hostproc.grace_ms))?;
    Ok(())
}

pub fn start(root: &Path, id: &str) -> Result<(), Error> {
    let mut st = state::load(root, id)?;
    let status = st.live_status();
    if status != Status::Created {
        return Err(Error::WrongStatus { id: id.to_owned(), status, hint: "only a created container can be started" });
    }
    st.hostproc.job.resume(st.pid, st.hostproc.init_thread)?;
    st.status = Status::Running;
    st.save(root)
}

pub fn state_json(root: &Path, id: &str) -> Result<String, Error> {
    let st = state::load(root, id)?;
    Ok(serde_json::to_string_pretty(&st.public()).expect("state serializes"))
}

/// runc's signal names and numbers, as far as Windows has them.
pub fn parse_signal(s: &str) -> Result<i32, Error> {
    let up = s.to_ascii_uppercase();
    match up.strip_prefix("SIG").unwrap_or(&up) {
        "TERM" | "15" => Ok(15),
        "INT" | "2" => Ok(2),
        "QUIT" | "3" => Ok(3),
        "KILL" | "9" => Ok(9),
        _ => Err(Error::Signal(s.to_owned())),
    }
}

/// `kill`: SIGKILL terminates the job; SIGTERM/SIGINT send CTRL_SHUTDOWN/CTRL_C to every
/// process of the job, wait up to the grace period and terminate what is left (a Windows
/// process has no other way to be asked to stop, and hcsshim stops job containers so);
/// SIGQUIT sends CTRL_BREAK. A created container (nothing ran yet) is terminated.
/// The event reaches every process with or without `--all` (runc's init-only signal has
/// no Windows counterpart); `--all` on a stopped container is no error, as in runc.
pub fn kill(root: &Path, id: &str, signal: &str, all: bool) -> Result<(), Error> {
    let sig = parse_signal(signal)?;
    let st = state::load(root, id)?;
    let status = st.live_status();
    if status == Status::Stopped {
        return if all { Ok(()) } else { Err(Error::WrongStatus { id: id.to_owned(), status, hint: "kill only a created or running container" }) };
    }
    let job = &st.hostproc.job;
    match sig {
        3 if status == Status::Running => job.signal_all(3)?,
        15 | 2 if status == Status::Running => {
            job.signal_all(sig)?;
            if !job.wait_empty(Duration::from_millis(st.hostproc.grace_ms))? {
                job.kill_all()?;
                job.wait_empty(Duration::from_secs(10))?;
            }
        }
        _ => {
            job.kill_all()?;
            job.wait_empty(Duration::from_secs(10))?;
        }
    }
    Ok(())
}

/// `delete`: a running container only with `--force`. Works without the supervisor (the
/// job is found by name, or is gone with its processes) and, forced, with a missing or
/// unreadable state (the job is still looked up by its name). Not recoverable that way: a
/// fallback-layout sandbox link made by a create that crashed before writing its state.
pub fn delete(root: &Path, id: &str, force: bool) -> Result<(), Error> {
    let st = match state::load(root, id) {
        Ok(st) => st,
        // A create that crashed before its state was written leaves the directory (and a
        // job, if something still holds it): both go; a missing one is fine.
        Err(Error::NotExist { .. } | Error::BadState { .. }) if force => {
            if let Ok(job) = Job::open(id, Default::default()) {
                job.destroy()?;
            }
            return state::remove(root, id);
        }
        Err(e) => return Err(e),
    };
    let status = st.live_status();
    if status == Status::Running && !force {
        return Err(Error::WrongStatus { id: id.to_owned(), status, hint: "stop it first (hostproc kill), or use delete --force" });
    }
    let Internal { job, sandbox: sb, supervisor, .. } = st.hostproc;
    job.destroy()?;
    drop(job); // its handle, opened by destroy: the name must be free below
    // The supervisor ends once init has; its handle keeps the job's name taken until
    // then, so a new container of this id could not be created right after.
    if let Some((pid, created)) = supervisor {
        if let Ok(Some(p)) = Process::open(pid, Some(created)) {
            let _ = p.wait(Some(Duration::from_secs(10)));
        }
    }
    // The name goes with the last handle; Wine lets it go a moment after the holders have
    // exited (wineserver notices an exit late): the id is free for a new container once
    // the name is gone. On Windows the first look finds it gone.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while Job::open(id, Default::default()).is_ok() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    sandbox::release(&sb)?;
    state::remove(root, id)
}
