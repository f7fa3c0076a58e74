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
/// PATH with the sandbox's copy of each of its directories appended (the host's first, as
/// HostProcess searches), and HOME if the spec sets none.
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
    let path = match path {
        Some(p) if !p.is_empty() => p,
        _ => DEFAULT_PATH.to_owned(),
    };
    out.push(format!("PATH={}", with_sandbox(&path, sb.trim_end_matches('/'))));
    out.push(format!("{SANDBOX_VAR}={sb}"));
    if !has_home {
        out.push(format!("HOME={}", home().map(|h| h.display().to_string()).unwrap_or_else(|| "/".into())));
    }
    out
}

/// `path` followed by `<base><dir>` for each of its absolute directories that is not
/// already under the sandbox (an image's entrypoint in `/usr/local/bin` is found by name).
fn with_sandbox(path: &str, base: &str) -> String {
    let under_sandbox = |d: &str| d == base || d.strip_prefix(base).is_some_and(|r| r.starts_with('/'));
    let mut out = path.to_owned();
    for dir in path.split(':').filter(|d| d.starts_with('/') && !under_sandbox(d)) {
        let inside = format!("{base}{}", dir.trim_end_matches('/'));
        if !out.split(':').any(|d| d == inside) {
            out.push(':');
            out.push_str(&inside);
        }
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
        assert!(env.contains(&"PATH=/bin:/hpc/bin".to_string()));
        let env = build(&[], Path::new("/hpc"), || None);
        assert!(env.contains(&format!("PATH={DEFAULT_PATH}:/hpc/usr/local/sbin:/hpc/usr/local/bin:/hpc/usr/sbin:/hpc/usr/bin:/hpc/sbin:/hpc/bin")));
        assert!(env.contains(&"CONTAINER_SANDBOX_MOUNT_POINT=/hpc".to_string()));
        assert!(env.contains(&"HOME=/".to_string()));
    }
    #[test]
    fn sandbox_path() {
        // Relative entries, the sandbox's own and repeated ones are not doubled.
        assert_eq!(with_sandbox("/opt/x/bin:.:/hpc/bin:/bin:/bin/", "/hpc"), "/opt/x/bin:.:/hpc/bin:/bin:/bin/:/hpc/opt/x/bin");
        assert_eq!(with_sandbox("/hpcx/bin", "/hpc"), "/hpcx/bin:/hpc/hpcx/bin");
    }
}
