//! `hostproc pod validate FILE...`: each pod of the files checked as the API server checks
//! it; one line per finding on stdout, each prefixed `FILE: Kind/name: `:
//! - an error, as the API server writes it: `<path>: <Type>: <detail>`;
//! - `valid` when there is none;
//! - `Pod Security Standards: <level> ...` with the baseline policy's message;
//! - `not runnable by hostproc: ...` for a valid pod without HostProcess containers.
//! Exit 0 when every pod is valid for Kubernetes (runnable or not), 1 otherwise.

use std::path::PathBuf;

use hostproc_pod::{manifest, validate};

#[derive(clap::Args)]
pub struct Args {
    /// Model a kube-apiserver started with --allow-privileged=false (HostProcess and
    /// privileged containers refused)
    #[arg(long = "disallow-privileged")]
    disallow_privileged: bool,
    /// Manifests: YAML or JSON, several documents each
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

pub fn exec(a: &Args) -> crate::commands::Result {
    let m = manifest::load(&a.files).map_err(super::failed)?;
    for w in &m.warnings {
        eprintln!("warning: {w}");
    }
    let opts = validate::Options { allow_privileged: !a.disallow_privileged };
    let mut ok = true;
    for pod in &m.pods {
        let r = validate::validate(pod, &opts);
        let at = format!("{}: {}", pod.file.display(), pod.object());
        for e in &r.errors {
            println!("{at}: {e}");
        }
        if r.valid() {
            println!("{at}: valid");
        }
        ok &= r.valid();
        match r.baseline_message() {
            Some(msg) => println!("{at}: Pod Security Standards: needs \"{}\"; baseline and restricted refuse it: {msg}", r.pss_level()),
            None => println!("{at}: Pod Security Standards: needs \"{}\" (of baseline's controls, hostproc checks host namespaces, hostPath volumes, hostPorts, privileged and hostProcess)", r.pss_level()),
        }
        if let Some(why) = r.not_runnable() {
            println!("{at}: not runnable by hostproc: {why}");
        }
    }
    Ok(if ok { 0 } else { 1 })
}
