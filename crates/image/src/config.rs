//! What an image says about running it: Entrypoint, Cmd, Env, WorkingDir, User, and how
//! a Kubernetes container's command and args combine with them.

use serde::{Deserialize, Serialize};

/// The run settings of an image config (`config` of the OCI image configuration).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

impl ImageConfig {
    pub(crate) fn from_oci(c: &oci_spec::image::ImageConfiguration) -> ImageConfig {
        let Some(cfg) = c.config() else { return ImageConfig::default() };
        ImageConfig {
            entrypoint: cfg.entrypoint().clone(),
            cmd: cfg.cmd().clone(),
            env: cfg.env().clone().unwrap_or_default(),
            working_dir: cfg.working_dir().clone().filter(|w| !w.is_empty()),
            user: cfg.user().clone().filter(|u| !u.is_empty()),
        }
    }

    /// The process's argv as the kubelet makes it: `command` replaces the Entrypoint (and
    /// then the image's Cmd is not used), `args` replaces the Cmd.
    pub fn argv(&self, command: Option<&[String]>, args: Option<&[String]>) -> Vec<String> {
        let command = command.filter(|c| !c.is_empty());
        let args = args.filter(|a| !a.is_empty());
        match (command, args) {
            (Some(c), Some(a)) => c.iter().chain(a).cloned().collect(),
            (Some(c), None) => c.to_vec(),
            (None, Some(a)) => self.entrypoint.iter().flatten().chain(a).cloned().collect(),
            (None, None) => self.entrypoint.iter().flatten().chain(self.cmd.iter().flatten()).cloned().collect(),
        }
    }

    /// The image's Env with the container's variables over it (same name: the
    /// container's wins, in the image's place), as containerd's CRI merges them.
    pub fn merged_env(&self, container: &[(String, String)]) -> Vec<String> {
        let mut out: Vec<String> = Vec::with_capacity(self.env.len() + container.len());
        let mut push = |k: &str, v: &str| {
            let entry = format!("{k}={v}");
            match out.iter_mut().find(|e| e.split_once('=').map_or(e.as_str(), |(n, _)| n) == k) {
                Some(e) => *e = entry,
                None => out.push(entry),
            }
        };
        for e in &self.env {
            let (k, v) = e.split_once('=').unwrap_or((e, ""));
            push(k, v);
        }
        for (k, v) in container {
            push(k, v);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn command_and_args_combine_as_the_kubelet_does() {
        let c = ImageConfig { entrypoint: Some(v(&["/ep"])), cmd: Some(v(&["c1", "c2"])), ..Default::default() };
        assert_eq!(c.argv(None, None), v(&["/ep", "c1", "c2"]));
        assert_eq!(c.argv(Some(&v(&["/x"])), None), v(&["/x"]));
        assert_eq!(c.argv(None, Some(&v(&["a"]))), v(&["/ep", "a"]));
        assert_eq!(c.argv(Some(&v(&["/x"])), Some(&v(&["a"]))), v(&["/x", "a"]));
        let no_ep = ImageConfig { cmd: Some(v(&["/bin/sh"])), ..Default::default() };
        assert_eq!(no_ep.argv(None, None), v(&["/bin/sh"]));
        assert_eq!(no_ep.argv(None, Some(&v(&["/y"]))), v(&["/y"]));
    }

    #[test]
    fn container_env_overrides_the_images_in_place() {
        let c = ImageConfig { env: v(&["PATH=/bin", "A=1", "B"]), ..Default::default() };
        let got = c.merged_env(&[("A".into(), "2".into()), ("C".into(), "3".into())]);
        assert_eq!(got, v(&["PATH=/bin", "A=2", "B=", "C=3"]));
    }
}
