use std::io::Write;

use hostproc_container::ContainerError;
use hostproc_pod::logs::{self, ReadOptions};
use hostproc_pod::run::state::PodState;

#[derive(clap::Args)]
pub struct Args {
    /// The pod: NAME, NAMESPACE/NAME
    pod: String,
    /// The container (default: the pod's first container)
    #[arg(short = 'c', long)]
    container: Option<String>,
    /// Follow the log while the container runs
    #[arg(short, long)]
    follow: bool,
    /// The previous run of the container (before its last restart)
    #[arg(short, long)]
    previous: bool,
    /// Prefix each line with its RFC3339Nano timestamp
    #[arg(long)]
    timestamps: bool,
    /// Only the last N lines (-1: all)
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    tail: i64,
}

pub fn exec(g: &crate::Global, a: &Args) -> super::super::Result {
    let dir = hostproc_pod::run::ops::find(&g.root, &a.pod).map_err(super::err)?;
    let st = PodState::load(&dir).map_err(super::err)?;
    let name = match &a.container {
        Some(c) => {
            if !st.all().any(|s| &s.name == c) {
                return Err(ContainerError::invalid("-c", format!("container {c} is not valid for pod {}; {}", st.name, choose_one_of(&st))));
            }
            c.clone()
        }
        None => {
            let first = st.container_statuses.first().ok_or_else(|| ContainerError::invalid("POD", format!("pod {} has no containers", st.name)))?;
            if st.all().count() > 1 {
                // kubectl's note when it picks the container itself.
                let mut names: Vec<String> = st.container_statuses.iter().map(|s| s.name.clone()).collect();
                names.extend(st.init_container_statuses.iter().map(|s| format!("{} (init)", s.name)));
                eprintln!("Defaulted container {:?} out of: {}", first.name, names.join(", "));
            }
            first.name.clone()
        }
    };
    let path = logs::select(&dir.join("logs"), &name, a.previous).map_err(|e| ContainerError::Start(e.to_string()))?;
    let opts = ReadOptions { timestamps: a.timestamps, tail: usize::try_from(a.tail).ok(), follow: a.follow && !a.previous, poll: None };
    // Following ends with the run: the container no longer running, restarted, or its
    // supervisor gone.
    let restarts = st.all().find(|s| s.name == name).map(|s| s.restart_count);
    let running = || {
        PodState::load(&dir).is_ok_and(|st| st.supervisor_alive() && st.all().any(|s| s.name == name && s.state.running.is_some() && Some(s.restart_count) == restarts))
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    logs::read(&path, &opts, &mut out, &running).map_err(|e| ContainerError::Start(e.to_string()))?;
    let _ = out.flush();
    Ok(0)
}

/// The API server's list of a pod's containers: `choose one of: [a b]`, then `or one of
/// the init containers: [i]` when it has some.
fn choose_one_of(st: &PodState) -> String {
    let names = |v: &[hostproc_pod::run::state::CStatus]| v.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(" ");
    let mut m = format!("choose one of: [{}]", names(&st.container_statuses));
    if !st.init_container_statuses.is_empty() {
        m += &format!(" or one of the init containers: [{}]", names(&st.init_container_statuses));
    }
    m
}
