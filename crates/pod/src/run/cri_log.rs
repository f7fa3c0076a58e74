//! Each container's stdout and stderr into `<pod dir>/logs/<container>/<restart>.log` in
//! the CRI format (`<RFC3339Nano> stdout|stderr F|P <line>`). The one place helper C2's
//! log writer (with rotation) replaces.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// A line longer than this is split into partial (`P`) records, as containerd does.
const MAX_LINE: usize = 16 * 1024;

pub fn attach(stdout: Option<impl Read + Send + 'static>, stderr: Option<impl Read + Send + 'static>, path: &Path) -> Vec<JoinHandle<()>> {
    let file = match std::fs::OpenOptions::new().create(true).append(true).open(path) {
        Ok(f) => Arc::new(Mutex::new(f)),
        Err(e) => {
            tracing::warn!("container log {}: {e}", path.display());
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    if let Some(s) = stdout {
        out.push(copy(Box::new(s), "stdout", file.clone()));
    }
    if let Some(s) = stderr {
        out.push(copy(Box::new(s), "stderr", file));
    }
    out
}

fn copy(r: Box<dyn Read + Send>, stream: &'static str, file: Arc<Mutex<std::fs::File>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut r = BufReader::new(r);
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = match r.by_ref().take(MAX_LINE as u64).read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let full = line.last() == Some(&b'\n');
            let body = if full { &line[..n - 1] } else { &line[..] };
            // A line cut by the limit is partial; the last bytes before EOF are a full line.
            let tag = if full || n < MAX_LINE { "F" } else { "P" };
            let mut rec = format!("{} {stream} {tag} ", super::now()).into_bytes();
            rec.extend_from_slice(body);
            rec.push(b'\n');
            if let Ok(mut f) = file.lock() {
                let _ = f.write_all(&rec);
            }
        }
    })
}
