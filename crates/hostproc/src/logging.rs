//! Logging as runc does it: text to stderr, or to `--log`; with `--log-format json` one
//! object a line with `level`, `msg` and `time` (RFC 3339), which containerd reads to
//! report the last error.

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

struct Json {
    out: Mutex<Box<dyn Write + Send>>,
    max: Level,
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

impl<S: Subscriber> Layer<S> for Json {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        if *event.metadata().level() > self.max {
            return;
        }
        let mut m = Msg(String::new());
        event.record(&mut m);
        let line = serde_json::json!({
            "level": event.metadata().level().as_str().to_ascii_lowercase(),
            "msg": m.0,
            "time": hostproc_container::now_rfc3339(),
        });
        if let Ok(mut o) = self.out.lock() {
            let _ = writeln!(o, "{line}");
        }
    }
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
    if format == "json" {
        tracing_subscriber::registry().with(Json { out: Mutex::new(out), max }).init();
    } else {
        let filter = tracing_subscriber::filter::LevelFilter::from_level(max);
        tracing_subscriber::fmt().with_writer(Mutex::new(out)).with_max_level(filter).with_target(false).without_time().init();
    }
    Ok(())
}

/// When the log goes to a file, the error is printed on stderr as well, so a person at
/// a terminal sees it.
pub fn report(log: &Option<std::path::PathBuf>, msg: &str) {
    if log.is_some() {
        eprintln!("hostproc: {msg}");
    }
}
