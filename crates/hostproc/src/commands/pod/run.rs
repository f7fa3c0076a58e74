use std::path::PathBuf;

use hostproc_pod::run as pod;

#[derive(clap::Args)]
pub struct Args {
    /// The manifest (YAML or JSON): a Pod or a workload with a pod template, with the
    /// ConfigMaps and Secrets it uses
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Keep the pod going in a background supervisor and return
    #[arg(short, long)]
    detach: bool,
    /// The node name the pod sees (spec.nodeName); the host's name by default
    #[arg(long = "node-name")]
    node_name: Option<String>,
    /// Remove the pod once it ends (foreground only)
    #[arg(long)]
    rm: bool,
    #[command(flatten)]
    pull: crate::commands::image::pull::PullFlags,
}

#[derive(clap::Args)]
pub struct SuperviseArgs {
    key: String,
}

pub fn exec(g: &crate::Global, a: &Args) -> super::super::Result {
    let pods = pod::load_files(&a.files).map_err(super::err)?;
    let input = match <[_; 1]>::try_from(pods) {
        Ok([p]) => p,
        Err(v) => {
            return Err(hostproc_container::ContainerError::invalid(
                "pod run",
                format!("the files hold {} pods; give exactly one (ConfigMaps and Secrets may come along)", v.len()),
            ))
        }
    };
    let opts = pod::RunOptions { root: g.root.clone(), node_name: a.node_name.clone(), detach: a.detach, remove: a.rm && !a.detach, pull: a.pull.options(&g.root, None).map_err(super::failed)? };
    let code = pod::run(&opts, input).map_err(super::err)?;
    Ok(code as u8)
}

pub fn supervise(g: &crate::Global, a: &SuperviseArgs) -> super::super::Result {
    Ok(pod::supervise_detached(&g.root, &a.key).map_err(super::err)? as u8)
}
