//! The payload's environment: the spec's, never the host's, plus the sandbox.

use std::path::Path;

pub const SANDBOX_VAR: &str = "CONTAINER_SANDBOX_MOUNT_POINT";
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Replaces `$CONTAINER_SANDBOX_MOUNT_POINT` and `${CONTAINER_SANDBOX_MOUNT_POINT}` (and
/// nothing that merely starts with the name) by the sandbox path.
pub fn expand(s: &str, sandbox: &str) -> String {
    if !s.contains(SANDBOX_VAR) {
        return s.to_owned();
    }
    let braced = format!("${{{SANDBOX_VAR}}}");
    let plain = format!("${SANDBOX_VAR}");
    let s = s.replace(&braced, sandbox);
    let mut out = String::with_capacity(s.len());
    let mut rest = s.as_str();
    while let Some(i) = rest.find(&plain) {
        let after = &rest[i + plain.len()..];
        let continues = after.chars().next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        out.push_str(&rest[..i]);
        out.push_str(if continues { &plain } else { sandbox });
        rest = after;
    }
    out.push_str(rest);
    out
}

/// The final environment: the spec's entries with expansions, the sandbox variable,
/// PATH with the sandbox's bin directories appended, and HOME if the spec sets none.
pub fn build(spec_env: &[String], sandbox: &Path, home: impl FnOnce() -> Option<std::path::PathBuf>) -> Vec<String> {
    let sb = sandbox.to_string_lossy();
    let mut out: Vec<String> = Vec::with_capacity(spec_env.len() + 3);
    let mut path = None;
    let mut has_home = false;
    for e in spec_env {
        let (k, v) = e.split_once('=').unwrap_or((e.as_str(), ""));
        if k == SANDBOX_VAR {
            continue;
        }
        let v = expand(v, &sb);
        match k {
            "PATH" => path = Some(v),
            _ => {
                has_home |= k == "HOME";
                out.retain(|x: &String| x.split_once('=').map_or(x.as_str(), |p| p.0) != k);
                out.push(format!("{k}={v}"));
            }
        }
    }
    let base = sb.trim_end_matches('/');
    let extra = format!("{base}/bin:{base}/usr/bin:{base}/sbin:{base}/usr/sbin");
    let path = match path {
        Some(p) if !p.is_empty() => format!("{p}:{extra}"),
        _ => format!("{DEFAULT_PATH}:{extra}"),
    };
    out.push(format!("PATH={path}"));
    out.push(format!("{SANDBOX_VAR}={sb}"));
    if !has_home {
        out.push(format!("HOME={}", home().map(|h| h.display().to_string()).unwrap_or_else(|| "/".into())));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn expansion() {
        assert_eq!(expand("$CONTAINER_SANDBOX_MOUNT_POINT/x", "/hpc"), "/hpc/x");
        assert_eq!(expand("${CONTAINER_SANDBOX_MOUNT_POINT}x", "/hpc"), "/hpcx");
        assert_eq!(expand("$CONTAINER_SANDBOX_MOUNT_POINTS", "/hpc"), "$CONTAINER_SANDBOX_MOUNT_POINTS");
        assert_eq!(expand("a $CONTAINER_SANDBOX_MOUNT_POINT b $CONTAINER_SANDBOX_MOUNT_POINT", "/s"), "a /s b /s");
        assert_eq!(expand("plain", "/s"), "plain");
    }
    #[test]
    fn environment() {
        let env = build(&["A=$CONTAINER_SANDBOX_MOUNT_POINT/a".into(), "PATH=/bin".into()], Path::new("/hpc"), || None);
        assert!(env.contains(&"A=/hpc/a".to_string()));
        assert!(env.contains(&"PATH=/bin:/hpc/bin:/hpc/usr/bin:/hpc/sbin:/hpc/usr/sbin".to_string()));
        assert!(env.contains(&"CONTAINER_SANDBOX_MOUNT_POINT=/hpc".to_string()));
        assert!(env.contains(&"HOME=/".to_string()));
    }
}
