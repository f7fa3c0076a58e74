//! Containers' stdout and stderr in the CRI log format, as containerd writes them and
//! kubelet reads them: one file per container run, shared by both streams, each line
//!
//! ```text
//! <RFC3339Nano timestamp> stdout|stderr F|P <content>
//! ```
//!
//! `F` ends a line of the payload's output; `P` is a part of a longer line cut at
//! [`MAX_LINE`] bytes (or the last line when the stream ends without a newline), the
//! rest follows in the next lines of the same stream. Files are named as kubelet names
//! them, `<dir>/<container>/<restartCount>.log`, rotated by size to
//! `<restartCount>.log.<YYYYMMDD-HHMMSS>` (kubelet's containerLogMaxSize and
//! containerLogMaxFiles), so tools that read `/var/log/pods` read these too.
//!
//! * [`LogFile`] and [`copy`] / [`spawn_copier`]: the writer side (a thread per stream in
//!   the pod's supervisor, see docs/pod.md "Logs").
//! * [`read`]: `pod logs`' side: parses the lines back, joins the parts, follows.

mod reader;
mod writer;

use std::path::{Path, PathBuf};

pub use reader::{latest_restart, parse_line, read, select, LogLine, ReadOptions};
pub use writer::{attach, copy, pipe, spawn_copier, LogFile, Rotation};

/// containerd's `max_container_log_line_size` default: longer lines are cut into parts.
pub const MAX_LINE: usize = 16 * 1024;
/// kubelet's containerLogMaxSize default (10Mi).
pub const DEFAULT_MAX_SIZE: u64 = 10 * 1024 * 1024;
/// kubelet's containerLogMaxFiles default (the current file included).
pub const DEFAULT_MAX_FILES: usize = 5;

/// An error of the log writer or reader, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("container log {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("container log {path}: line {line} is not in the CRI log format (<timestamp> stdout|stderr F|P <content>): {detail}")]
    Format { path: PathBuf, line: usize, detail: &'static str },
    #[error("reading the container's {stream}: {source}")]
    Stream { stream: Stream, source: std::io::Error },
    #[error("no log of container {container:?}{which} in {dir}")]
    NoLog { dir: PathBuf, container: String, which: &'static str },
}

impl LogError {
    pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LogError + '_ {
        move |source| LogError::Io { path: path.to_path_buf(), source }
    }
}

/// The stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

impl std::fmt::Display for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `<dir>/<container>/<restart>.log`: kubelet's name for a container run's log
/// (`dir` is the pod's log directory, kubelet's `/var/log/pods/<ns>_<name>_<uid>`).
pub fn log_path(dir: &Path, container: &str, restart: u32) -> PathBuf {
    dir.join(container).join(format!("{restart}.log"))
}

pub(crate) use hostproc_container::civil;

/// Go's `time.RFC3339Nano` of a UTC time (trailing zeros of the fraction dropped), as
/// containerd stamps each line.
pub fn rfc3339_nano(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let (y, mo, da, h, mi, s) = civil(d.as_secs() as i64);
    let mut out = format!("{y:04}-{mo:02}-{da:02}T{h:02}:{mi:02}:{s:02}");
    let n = d.subsec_nanos();
    if n != 0 {
        let frac = format!("{n:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

#[cfg(test)]
mod tests;
