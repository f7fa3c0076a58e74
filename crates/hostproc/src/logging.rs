//! Logging as runc does it: text to stderr, or to `--log`; with `--log-format json` one
//! object a line with `level`, `msg` and `time` (RFC 3339), which containerd reads to
//! report the last error.
//!
//! A small `tracing::Subscriber` of our own rather than tracing-subscriber's: hostproc logs
//! plain events (no spans), and every command pays the logger's start-up cost.

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

struct Logger {
    out: Mutex<Box<dyn Write + Send>>,
    max: Level,
    json: bool,
}

struct Msg(String);

impl Visit for Msg {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

impl Subscriber for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= self.max
    }
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::from_level(self.max))
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut m = Msg(String::new());
        event.record(&mut m);
        let level = event.metadata().level();
        let mut line = if self.json {
            serde_json::json!({
                "level": level.as_str().to_ascii_lowercase(),
                "msg": m.0,
                "time": hostproc_container::now_rfc3339(),
            })
            .to_string()
        } else {
            format!("{:>5} {}", level.as_str(), m.0)
        };
        // One write(2) per line: the log may be shared by concurrent hostproc processes
        // (O_APPEND), and `writeln!` on an unbuffered writer writes the newline apart.
        line.push('\n');
        if let Ok(mut o) = self.out.lock() {
            let _ = o.write_all(line.as_bytes());
        }
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// Sets up the log. Errors are always printed on stderr too (see `report`).
pub fn init(log: Option<&Path>, format: &str, debug: bool) -> Result<(), String> {
    let max = if debug { Level::DEBUG } else { Level::WARN };
    let out: Box<dyn Write + Send> = match log {
        Some(p) => Box::new(
            OpenOptions::new().create(true).append(true).open(p).map_err(|e| format!("cannot open the log file {}: {e}", p.display()))?,
        ),
        None => Box::new(std::io::stderr()),
    };
    let logger = Logger { out: Mutex::new(out), max, json: format == "json" };
    tracing::subscriber::set_global_default(logger).map_err(|e| e.to_string())
}

/// When the log goes to a file, the error is printed on stderr as well, so a person at
/// a terminal sees it.
pub fn report(log: &Option<std::path::PathBuf>, msg: &str) {
    if log.is_some() {
        eprintln!("hostproc: {msg}");
    }
}
