//! Replays every file under `fuzz/regressions/<target>/` through the same code the
//! cargo-fuzz target runs (`fuzz/targets.rs`), so that a fuzzing finding, once saved
//! there, is a regression test of the plain `cargo nextest run --workspace`.
//!
//! Add a finding: copy the crashing input from `fuzz/artifacts/<target>/` to
//! `fuzz/regressions/<target>/<short-name>` (run.sh does it for you). A failure names the
//! target and the file.

#[path = "../../../fuzz/targets.rs"]
mod targets;

use std::path::{Path, PathBuf};

fn regressions() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions")
}

fn replay(target: &str, run: fn(&[u8])) -> Vec<String> {
    let dir = regressions().join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    files.sort();
    let mut failures = Vec::new();
    for f in files {
        let data = std::fs::read(&f).unwrap();
        if let Err(e) = std::panic::catch_unwind(|| run(&data)) {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "(no message)".into());
            failures.push(format!("fuzz/regressions/{target}/{}: {msg}", f.file_name().unwrap().to_string_lossy()));
        }
    }
    failures
}

#[test]
fn every_target_has_a_regressions_dir() {
    for (name, _) in targets::TARGETS {
        assert!(regressions().join(name).is_dir(), "fuzz/regressions/{name}/ is missing");
    }
}

macro_rules! replay_test {
    ($name:ident) => {
        #[test]
        fn $name() {
            let failures = replay(stringify!($name), targets::$name);
            // The bundle directory the config target made for this process.
            if stringify!($name) == "config" {
                let _ = std::fs::remove_dir_all(targets::bundle_dir());
            }
            assert!(failures.is_empty(), "{} fuzz regression(s) fail:\n{}", failures.len(), failures.join("\n"));
        }
    };
}

replay_test!(config);
replay_test!(process);
replay_test!(state);
replay_test!(resources);
replay_test!(names);
