//! Helpers shared by the job crate's tests on cgroupfs-shaped temporary directories.

use std::fs;
use std::path::{Path, PathBuf};

/// Makes `dir` with these (empty) files, as a cgroup directory's interface files.
pub fn touch(dir: &Path, files: &[&str]) {
    fs::create_dir_all(dir).unwrap();
    for f in files {
        fs::write(dir.join(f), "").unwrap();
    }
}

/// A file's text; a missing file fails the test, naming it.
pub fn read(p: PathBuf) -> String {
    fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}
