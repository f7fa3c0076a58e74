//! The writer: a pipe from the payload in, CRI lines out, the file rotated by size.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::SystemTime;

use super::{civil, rfc3339_nano, LogError, Stream, DEFAULT_MAX_FILES, DEFAULT_MAX_SIZE, MAX_LINE};

/// Size-based rotation: kubelet's containerLogMaxSize and containerLogMaxFiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate before a line would take the file past this many bytes (0: never).
    pub max_size: u64,
    /// Files kept, the current one included (at least 2, as kubelet requires).
    pub max_files: usize,
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation { max_size: DEFAULT_MAX_SIZE, max_files: DEFAULT_MAX_FILES }
    }
}

/// A container run's log file, shared by the writers of its stdout and stderr (clone it).
/// Each line goes in with one `write` on a file opened with `O_APPEND`, under a lock that
/// also orders rotation, so lines of the two streams never interleave.
#[derive(Debug, Clone)]
pub struct LogFile {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    file: File,
    size: u64,
    rotation: Rotation,
}

fn open_append(path: &Path) -> Result<(File, u64), LogError> {
    let file = OpenOptions::new().create(true).append(true).mode(0o640).custom_flags(rustix::fs::OFlags::CLOEXEC.bits() as i32).open(path).map_err(LogError::io(path))?;
    let size = file.metadata().map_err(LogError::io(path))?.len();
    Ok((file, size))
}

impl LogFile {
    /// Opens (appending) or creates the log at `path` (see [`super::log_path`]), making
    /// its directory.
    pub fn open(path: &Path, rotation: Rotation) -> Result<LogFile, LogError> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(LogError::io(dir))?;
        }
        let (file, size) = open_append(path)?;
        let rotation = Rotation { max_files: rotation.max_files.max(2), ..rotation };
        Ok(LogFile { inner: Arc::new(Mutex::new(Inner { path: path.to_path_buf(), file, size, rotation })) })
    }

    pub fn path(&self) -> PathBuf {
        self.lock().path.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes one CRI line: `partial` tags it `P`, else `F`. `content` must not hold a newline.
    pub fn write_line(&self, stream: Stream, partial: bool, content: &[u8]) -> Result<(), LogError> {
        let ts = rfc3339_nano(SystemTime::now());
        let mut line = Vec::with_capacity(ts.len() + content.len() + 12);
        line.extend_from_slice(ts.as_bytes());
        line.push(b' ');
        line.extend_from_slice(stream.as_str().as_bytes());
        line.extend_from_slice(if partial { b" P " } else { b" F " });
        line.extend_from_slice(content);
        line.push(b'\n');
        let mut g = self.lock();
        let max = g.rotation.max_size;
        if max > 0 && g.size > 0 && g.size + line.len() as u64 > max {
            g.rotate()?;
        }
        let Inner { file, path, .. } = &mut *g;
        file.write_all(&line).map_err(LogError::io(path))?;
        g.size += line.len() as u64;
        Ok(())
    }

    /// Rotates now (the file renamed to `<name>.<YYYYMMDD-HHMMSS>`, a new one opened).
    pub fn rotate(&self) -> Result<(), LogError> {
        self.lock().rotate()
    }
}

impl Inner {
    fn rotate(&mut self) -> Result<(), LogError> {
        let secs = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs();
        let (y, mo, d, h, mi, s) = civil(secs as i64);
        let stamp = format!("{y:04}{mo:02}{d:02}-{h:02}{mi:02}{s:02}");
        let base = self.path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        // Several rotations in one second: a counter after the stamp, above any left, so
        // names keep sorting oldest first ("<stamp>" < "<stamp>.001" < the next second's).
        let bare = format!("{base}.{stamp}");
        let n = rotated_files(&self.path)
            .iter()
            .filter_map(|p| {
                let name = p.file_name()?.to_str()?;
                let rest = name.strip_prefix(&bare)?;
                if rest.is_empty() { Some(0) } else { rest.strip_prefix('.')?.parse::<u32>().ok() }
            })
            .max();
        let rotated = match n {
            None => self.path.with_file_name(bare),
            Some(n) => self.path.with_file_name(format!("{bare}.{:03}", n + 1)),
        };
        fs::rename(&self.path, &rotated).map_err(LogError::io(&self.path))?;
        let (file, size) = open_append(&self.path)?;
        self.file = file;
        self.size = size;
        // Keep the newest max_files - 1 rotated files.
        let mut old = rotated_files(&self.path);
        let keep = self.rotation.max_files - 1;
        if old.len() > keep {
            let excess = old.len() - keep;
            for p in old.drain(..excess) {
                let _ = fs::remove_file(p);
            }
        }
        Ok(())
    }
}

/// The rotated files of the log at `path`, oldest first.
pub(crate) fn rotated_files(path: &Path) -> Vec<PathBuf> {
    let Some(dir) = path.parent() else { return Vec::new() };
    let prefix = format!("{}.", path.file_name().unwrap_or_default().to_string_lossy());
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.starts_with(&prefix) && !n.ends_with(".tmp")))
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

/// Copies a stream into the log until its end: lines of at most [`MAX_LINE`] bytes
/// (`\n` or `\r\n` dropped) tagged `F`, longer lines cut into `P` parts, and what is left
/// without a newline at the end written as a `P` line, as containerd does. A line that
/// cannot be written (disk full, ...) is lost but the stream is still read to its end, so
/// the payload is never held on a full pipe; the first such error is returned at the end.
pub fn copy(reader: impl Read, stream: Stream, log: &LogFile) -> Result<(), LogError> {
    let mut r = BufReader::with_capacity(64 * 1024, reader);
    let mut line: Vec<u8> = Vec::with_capacity(256);
    let mut failed: Option<LogError> = None;
    let mut emit = |partial: bool, line: &[u8]| {
        if let Err(e) = log.write_line(stream, partial, line) {
            failed.get_or_insert(e);
        }
    };
    let end = loop {
        let avail = match r.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(source) => break Err(LogError::Stream { stream, source }),
        };
        if avail.is_empty() {
            break Ok(());
        }
        let room = MAX_LINE - line.len();
        // A newline within room + 1 bytes ends a line that fits.
        let look = &avail[..avail.len().min(room + 1)];
        if let Some(i) = look.iter().position(|&b| b == b'\n') {
            line.extend_from_slice(&avail[..i]);
            r.consume(i + 1);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            emit(false, &line);
            line.clear();
        } else if avail.len() > room {
            line.extend_from_slice(&avail[..room]);
            r.consume(room);
            emit(true, &line);
            line.clear();
        } else {
            let n = avail.len();
            line.extend_from_slice(avail);
            r.consume(n);
        }
    };
    if !line.is_empty() {
        emit(true, &line);
    }
    end?;
    failed.map_or(Ok(()), Err)
}

/// A pipe for one of the payload's streams: (read end for [`spawn_copier`], write end to
/// give the payload as its stdout or stderr). Both ends close on exec.
pub fn pipe() -> Result<(OwnedFd, OwnedFd), std::io::Error> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(Into::into)
}

/// Starts a thread copying `reader` (a pipe's read end) into `log`; the thread ends when
/// every write end is closed (the payload and its children gone) and the last line is in.
/// The pipe's buffer is raised to 1 MiB where the host allows it (best effort), so that a
/// slow disk holds the payload back only after that much unwritten output.
pub fn spawn_copier(reader: impl Into<OwnedFd>, stream: Stream, log: LogFile) -> std::io::Result<JoinHandle<Result<(), LogError>>> {
    let reader: OwnedFd = reader.into();
    let _ = rustix::pipe::fcntl_setpipe_size(&reader, 1024 * 1024);
    std::thread::Builder::new().name(format!("log-{stream}")).spawn(move || copy(File::from(reader), stream, &log))
}

/// Both streams of a container run into the log at `path` (opened or created, rotated by
/// `rotation`): a copier thread each. For the supervisor's `Command` with piped stdout and
/// stderr: `attach(child.stdout.take(), child.stderr.take(), &path, Rotation::default())`.
pub fn attach(stdout: Option<impl Into<OwnedFd>>, stderr: Option<impl Into<OwnedFd>>, path: &Path, rotation: Rotation) -> Result<Vec<JoinHandle<Result<(), LogError>>>, LogError> {
    let log = LogFile::open(path, rotation)?;
    let mut out = Vec::new();
    for (s, stream) in [(stdout.map(Into::into), Stream::Stdout), (stderr.map(Into::into), Stream::Stderr)] {
        if let Some(fd) = s {
            out.push(spawn_copier(fd, stream, log.clone()).map_err(LogError::io(path))?);
        }
    }
    Ok(out)
}
