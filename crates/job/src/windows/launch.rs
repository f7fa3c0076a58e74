//! Starting a payload process in the job, as hcsshim's job containers do: an environment
//! of the user's defaults plus the spec's and CONTAINER_SANDBOX_MOUNT_POINT, the sandbox
//! variable expanded in the command line, working directory and env values, the
//! executable resolved over the working directory, PATH and the system directories (no
//! `cmd /c` wrapper, so a missing executable is an error here, not a failing shell), and
//! only the stdio handles inherited.

use std::os::windows::io::{AsHandle, BorrowedHandle, OwnedHandle};
use std::path::{Path, PathBuf};
use std::time::Duration;

use hostproc_winsys as win;

use super::JobError;

const SANDBOX_VAR: &str = "CONTAINER_SANDBOX_MOUNT_POINT";

/// What to start: the OCI process of a Windows container.
pub struct Command<'a> {
    /// process.args (quoted here), unless `command_line` is given.
    pub args: &'a [String],
    /// process.commandLine: used as it is, after expansion.
    pub command_line: Option<&'a str>,
    /// process.cwd: with the sandbox variable, as expanded; otherwise relative to the
    /// sandbox (its drive letter dropped), as in hcsshim's fallback storage; empty: the sandbox.
    pub cwd: &'a str,
    /// process.env, `NAME=value`.
    pub env: &'a [String],
    /// Where the container's files are (CONTAINER_SANDBOX_MOUNT_POINT).
    pub sandbox: &'a Path,
    pub stdio: [BorrowedHandle<'a>; 3],
}

/// A process started in the job.
#[derive(Debug)]
pub struct Child {
    pub pid: u32,
    /// Its first thread (resumed by [`super::Job::resume`] after `spawn_suspended`).
    pub thread_id: u32,
    /// The executable that was resolved and started.
    pub path: PathBuf,
    process: OwnedHandle,
}

impl Child {
    /// Waits up to `timeout` (None: forever); the exit code once it has exited.
    pub fn wait(&self, timeout: Option<Duration>) -> std::io::Result<Option<u32>> {
        win::wait_process(self.process.as_handle(), timeout)
    }
}

fn sandbox_text(sandbox: &Path) -> String {
    let s = sandbox.to_string_lossy();
    s.trim_end_matches('\\').to_string()
}

/// Replaces `%CONTAINER_SANDBOX_MOUNT_POINT%` and `$env:CONTAINER_SANDBOX_MOUNT_POINT`
/// (names case-insensitive, as cmd and PowerShell read them) by the sandbox path; whether
/// anything was replaced.
pub fn expand_sandbox(s: &str, sandbox: &Path) -> (String, bool) {
    let with = sandbox_text(sandbox);
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    let mut changed = false;
    let patterns = [format!("%{SANDBOX_VAR}%"), format!("$env:{SANDBOX_VAR}")];
    'outer: while !rest.is_empty() {
        for p in &patterns {
            if rest.len() >= p.len() && rest.is_char_boundary(p.len()) && rest[..p.len()].eq_ignore_ascii_case(p) {
                out.push_str(&with);
                rest = &rest[p.len()..];
                changed = true;
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or_default();
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    (out, changed)
}

/// Quotes one argument so that the MSVC runtime's (and Rust's) command-line parser gives
/// it back unchanged: quoted when empty or holding a space or tab; backslashes doubled
/// before a quote, a quote escaped by a backslash.
pub fn quote_arg(arg: &str, out: &mut String) {
    let quote = arg.is_empty() || arg.contains([' ', '\t', '\n', '\x0b']);
    if quote {
        out.push('"');
    }
    let mut backslashes = 0;
    for c in arg.chars() {
        if c == '\\' {
            backslashes += 1;
        } else {
            if c == '"' {
                out.extend(std::iter::repeat_n('\\', backslashes + 1));
            }
            backslashes = 0;
        }
        out.push(c);
    }
    if quote {
        out.extend(std::iter::repeat_n('\\', backslashes));
        out.push('"');
    }
}

/// The command line of `args`. argv[0] follows its own rule (everything up to the first
/// space, or between quotes, with no escapes), so it cannot hold a quote.
pub fn make_command_line(args: &[String]) -> Result<String, JobError> {
    let (first, rest) = args.split_first().ok_or(JobError::EmptyCommand)?;
    if first.is_empty() {
        return Err(JobError::EmptyCommand);
    }
    if first.contains('"') {
        return Err(JobError::Unterminated(first.clone()));
    }
    let mut line = String::new();
    if first.contains([' ', '\t']) {
        line.push('"');
        line.push_str(first);
        line.push('"');
    } else {
        line.push_str(first);
    }
    for a in rest {
        line.push(' ');
        quote_arg(a, &mut line);
    }
    Ok(line)
}

/// The program name at the start of a command line (argv[0]'s rule).
fn first_token(line: &str) -> Result<String, JobError> {
    let line = line.trim_start();
    if let Some(rest) = line.strip_prefix('"') {
        let end = rest.find('"').ok_or_else(|| JobError::Unterminated(line.to_string()))?;
        return Ok(rest[..end].to_string());
    }
    let end = line.find([' ', '\t']).unwrap_or(line.len());
    if end == 0 {
        return Err(JobError::EmptyCommand);
    }
    Ok(line[..end].to_string())
}

/// The executable of a whole command line (process.commandLine) and the line to run. A
/// quoted program name is taken as it is. An unquoted one may hold spaces (`C:\Program
/// Files\x.exe -a`): as CreateProcess and hcsshim do, the words are tried one more at a
/// time (`C:\Program`, then `C:\Program Files\x.exe`), and the name found is quoted in
/// the returned line.
pub fn resolve_command_line(line: &str, cwd: &Path, path_env: &str) -> Result<(String, PathBuf), JobError> {
    let line = line.trim_start();
    if line.starts_with('"') {
        let program = first_token(line)?;
        return Ok((line.to_string(), resolve_executable(&program, cwd, path_env)?));
    }
    let words: Vec<&str> = line.split([' ', '\t']).filter(|w| !w.is_empty()).collect();
    if words.is_empty() {
        return Err(JobError::EmptyCommand);
    }
    let mut first_error = None;
    for n in 1..=words.len() {
        let name = words[..n].join(" ");
        match resolve_executable(&name, cwd, path_env) {
            Ok(path) if n == 1 => return Ok((line.to_string(), path)),
            Ok(path) => {
                let mut quoted = format!("\"{name}\"");
                for w in &words[n..] {
                    quoted.push(' ');
                    quoted.push_str(w);
                }
                return Ok((quoted, path));
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or(JobError::EmptyCommand))
}

/// Finds the executable `name` as CreateProcess would for a container: a path with a
/// directory is taken as it is (relative to `cwd`), a bare name is searched in `cwd`,
/// then PATH, then the system directories; `.exe` is added where the name has no
/// extension. The error names every place searched.
pub fn resolve_executable(name: &str, cwd: &Path, path_env: &str) -> Result<PathBuf, JobError> {
    let has_dir = name.contains(['\\', '/', ':']);
    let mut dirs: Vec<String> = Vec::new();
    if has_dir {
        let p = Path::new(name);
        let full = if p.is_absolute() { p.to_path_buf() } else { cwd.join(p) };
        let parent = full.parent().map(|d| d.to_string_lossy().into_owned()).unwrap_or_default();
        let file = full.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        dirs.push(parent);
        return search(&file, &dirs, name);
    }
    dirs.push(cwd.to_string_lossy().into_owned());
    dirs.extend(path_env.split(';').filter(|d| !d.is_empty()).map(str::to_string));
    if let Ok((system32, windows)) = win::system_directories() {
        dirs.push(system32.to_string_lossy().into_owned());
        dirs.push(windows.join("System").to_string_lossy().into_owned());
        dirs.push(windows.to_string_lossy().into_owned());
    }
    search(name, &dirs, name)
}

fn search(file: &str, dirs: &[String], name: &str) -> Result<PathBuf, JobError> {
    let joined = dirs.join(";");
    let not_found = || JobError::NotFound { name: name.to_string(), searched: format!("{joined} (with .exe added to a name without extension)") };
    let found = win::search_path(&joined, file).map_err(|_| not_found())?.ok_or_else(not_found)?;
    if found.is_dir() {
        return Err(JobError::IsDirectory(found));
    }
    Ok(found)
}

/// The payload's environment: `defaults` (the user's), then the spec's `env` (expanded)
/// replacing any of the same name (case-insensitive, as Windows compares them), then
/// CONTAINER_SANDBOX_MOUNT_POINT; the sandbox is appended to PATH.
pub fn environment(defaults: &[String], env: &[String], sandbox: &Path) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut put = |entry: String| {
        let name = entry.split('=').next().unwrap_or("").to_string();
        out.retain(|e| !e.split('=').next().unwrap_or("").eq_ignore_ascii_case(&name));
        out.push(entry);
    };
    for e in defaults {
        put(e.clone());
    }
    for e in env {
        put(expand_sandbox(e, sandbox).0);
    }
    let sb = sandbox_text(sandbox);
    put(format!("{SANDBOX_VAR}={sb}"));
    match out.iter_mut().find(|e| e.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("PATH="))) {
        Some(path) => {
            if !path.ends_with(';') {
                path.push(';');
            }
            path.push_str(&sb);
        }
        None => out.push(format!("PATH={sb}")),
    }
    out
}

fn working_directory(cwd: &str, sandbox: &Path) -> PathBuf {
    if cwd.is_empty() {
        return sandbox.to_path_buf();
    }
    let (expanded, changed) = expand_sandbox(cwd, sandbox);
    if changed {
        return PathBuf::from(expanded);
    }
    // Fallback storage: a container path is under the sandbox (C:\work -> <sandbox>\work).
    let rel = expanded.get(1..2).filter(|c| *c == ":").map_or(expanded.as_str(), |_| &expanded[2..]);
    sandbox.join(rel.trim_start_matches(['\\', '/']))
}

pub(super) fn spawn(job: BorrowedHandle<'_>, job_name: &str, cmd: &Command<'_>, suspended: bool) -> Result<Child, JobError> {
    let defaults = win::default_environment().map_err(JobError::Environment)?;
    let env = environment(&defaults, cmd.env, cmd.sandbox);
    let cwd = working_directory(cmd.cwd, cmd.sandbox);
    if !cwd.is_dir() {
        return Err(JobError::Cwd { path: cwd });
    }
    let path_env = env.iter().find_map(|e| e.get(..5).filter(|p| p.eq_ignore_ascii_case("PATH=")).map(|_| &e[5..])).unwrap_or("");
    let (line, path) = match cmd.command_line {
        Some(line) => resolve_command_line(&expand_sandbox(line, cmd.sandbox).0, &cwd, path_env)?,
        None => {
            let args: Vec<String> = cmd.args.iter().map(|a| expand_sandbox(a, cmd.sandbox).0).collect();
            let line = make_command_line(&args)?;
            let path = resolve_executable(&args[0], &cwd, path_env)?;
            (line, path)
        }
    };
    let spawn = win::Spawn { application: &path, command_line: &line, cwd: &cwd, env: &env, stdio: cmd.stdio, job, suspended };
    let child = win::spawn_in_job(&spawn).map_err(|source| JobError::Spawn { path: path.clone(), name: job_name.to_string(), source })?;
    Ok(Child { pid: child.pid, thread_id: child.thread_id, path, process: child.process })
}
