//! The reader: `pod logs`' view of a container's CRI log, parts joined, optionally followed
//! across rotation.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use super::{LogError, Stream};

/// One parsed line of a CRI log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine<'a> {
    pub timestamp: &'a str,
    pub stream: Stream,
    /// `P`: the line continues in the stream's next line.
    pub partial: bool,
    pub content: &'a [u8],
}

/// Parses one line (without its newline) as kubelet's `parseCRILog` does: the tag may
/// carry more `:`-separated flags after `F` or `P`.
pub fn parse_line(line: &[u8]) -> Result<LogLine<'_>, &'static str> {
    let mut it = line.splitn(4, |&b| b == b' ');
    let ts = it.next().filter(|t| !t.is_empty()).ok_or("no timestamp")?;
    let timestamp = std::str::from_utf8(ts).map_err(|_| "the timestamp is not text")?;
    let stream = match it.next().ok_or("no stream")? {
        b"stdout" => Stream::Stdout,
        b"stderr" => Stream::Stderr,
        _ => return Err("the stream is neither stdout nor stderr"),
    };
    let tag = it.next().ok_or("no tag")?;
    let partial = match tag.split(|&b| b == b':').next() {
        Some(b"P") => true,
        Some(b"F") => false,
        _ => return Err("the tag is neither F nor P"),
    };
    Ok(LogLine { timestamp, stream, partial, content: it.next().unwrap_or(b"") })
}

/// What `pod logs` asks for.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Prefix each line with its timestamp (the first part's, for a joined line).
    pub timestamps: bool,
    /// Only the last N lines (joined lines, counted from the current file).
    pub tail: Option<usize>,
    /// Keep reading as lines come, across rotation, while the `running` callback says so.
    pub follow: bool,
    /// How often a follower looks for more (default 100 ms).
    pub poll: Option<Duration>,
}

/// The highest `<n>` of the `<dir>/<container>/<n>.log` files: the current run's log.
pub fn latest_restart(dir: &Path, container: &str) -> Option<u32> {
    fs::read_dir(dir.join(container))
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".log")?.parse::<u32>().ok())
        .max()
}

/// Output state: per-stream parts waiting for their `F`, and the lines kept for `--tail`.
struct Out<'w> {
    w: &'w mut dyn Write,
    timestamps: bool,
    pending: HashMap<Stream, (String, Vec<u8>)>,
    /// `Some` while collecting for `--tail` (complete lines, newest last).
    tail: Option<(usize, std::collections::VecDeque<Vec<u8>>)>,
}

impl Out<'_> {
    fn line(&mut self, l: LogLine<'_>) -> std::io::Result<()> {
        let (ts, mut buf) = self.pending.remove(&l.stream).unwrap_or_else(|| (l.timestamp.to_string(), Vec::new()));
        buf.extend_from_slice(l.content);
        if l.partial {
            self.pending.insert(l.stream, (ts, buf));
            return Ok(());
        }
        buf.push(b'\n');
        self.emit(&ts, buf)
    }

    fn emit(&mut self, ts: &str, content: Vec<u8>) -> std::io::Result<()> {
        let mut text = Vec::with_capacity(content.len() + ts.len() + 1);
        if self.timestamps {
            text.extend_from_slice(ts.as_bytes());
            text.push(b' ');
        }
        text.extend_from_slice(&content);
        match &mut self.tail {
            Some((n, q)) => {
                if *n > 0 {
                    if q.len() == *n {
                        q.pop_front();
                    }
                    q.push_back(text);
                }
                Ok(())
            }
            None => self.w.write_all(&text),
        }
    }

    fn end_tail(&mut self) -> std::io::Result<()> {
        if let Some((_, q)) = self.tail.take() {
            for t in q {
                self.w.write_all(&t)?;
            }
        }
        Ok(())
    }

    /// Parts left without their `F` (the payload's last output had no newline).
    fn flush_pending(&mut self) -> std::io::Result<()> {
        let mut left: Vec<_> = self.pending.drain().collect();
        left.sort_by(|a, b| a.1 .0.cmp(&b.1 .0));
        for (_, (ts, buf)) in left {
            self.emit(&ts, buf)?;
        }
        Ok(())
    }
}

/// Writes the log at `path` to `w` as `pod logs` shows it. With `follow`, keeps reading
/// (the file reopened when rotation replaces it) until `running()` is false and the file
/// has been read to its end.
pub fn read(path: &Path, o: &ReadOptions, w: &mut dyn Write, running: &dyn Fn() -> bool) -> Result<(), LogError> {
    let werr = |source| LogError::Io { path: "(output)".into(), source };
    let mut file = File::open(path).map_err(LogError::io(path))?;
    let mut ino = file.metadata().map_err(LogError::io(path))?.ino();
    let mut out = Out { w, timestamps: o.timestamps, pending: HashMap::new(), tail: o.tail.map(|n| (n, Default::default())) };
    let mut raw: Vec<u8> = Vec::new();
    let mut lineno = 0usize;
    let poll = o.poll.unwrap_or(Duration::from_millis(100));
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut chunk).map_err(LogError::io(path))?;
        if n > 0 {
            raw.extend_from_slice(&chunk[..n]);
            let mut start = 0;
            while let Some(i) = raw[start..].iter().position(|&b| b == b'\n') {
                lineno += 1;
                let l = &raw[start..start + i];
                let parsed = parse_line(l).map_err(|detail| LogError::Format { path: path.to_path_buf(), line: lineno, detail })?;
                out.line(parsed).map_err(werr)?;
                start += i + 1;
            }
            raw.drain(..start);
            continue;
        }
        // At the end of what is written.
        if !o.follow {
            break;
        }
        out.end_tail().map_err(werr)?;
        out.w.flush().map_err(werr)?;
        // Rotated: the path names a new file; this one was read to its end.
        match fs::metadata(path) {
            Ok(m) if m.ino() != ino => {
                file = File::open(path).map_err(LogError::io(path))?;
                ino = m.ino();
                raw.clear();
                continue;
            }
            _ => {}
        }
        if !running() {
            // One last look: lines written just before the container ended.
            let pos = file.stream_position().map_err(LogError::io(path))?;
            let len = file.metadata().map_err(LogError::io(path))?.len();
            if len > pos {
                file.seek(SeekFrom::Start(pos)).map_err(LogError::io(path))?;
                continue;
            }
            break;
        }
        std::thread::sleep(poll);
    }
    out.flush_pending().map_err(werr)?;
    out.end_tail().map_err(werr)?;
    out.w.flush().map_err(werr)
}

/// The log `pod logs` reads in the pod's log directory `dir`: container `name`'s current
/// run (its highest `<n>.log`) or, with `previous`, the run before it (kubectl's
/// `--previous`).
pub fn select(dir: &Path, name: &str, previous: bool) -> Result<std::path::PathBuf, LogError> {
    let none = |which| LogError::NoLog { dir: dir.to_path_buf(), container: name.to_string(), which };
    let runs: Vec<u32> = {
        let mut v: Vec<u32> = fs::read_dir(dir.join(name))
            .map_err(|_| none(""))?
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".log")?.parse::<u32>().ok())
            .collect();
        v.sort_unstable();
        v
    };
    let pick = if previous { runs.len().checked_sub(2).map(|i| runs[i]) } else { runs.last().copied() };
    let n = pick.ok_or_else(|| none(if previous { " (a previous terminated run)" } else { "" }))?;
    Ok(super::log_path(dir, name, n))
}
