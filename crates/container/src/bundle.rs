//! Loading config.json with oci-spec, leniently where runc is lenient.

use std::path::Path;

use oci_spec::runtime::{Capability, Spec};
use serde_json::Value;

use crate::ContainerError;

/// Reads `<bundle>/config.json`. Capability names this build does not know are dropped
/// with a warning (as runc does), so a spec written for a newer kernel still runs.
pub fn load_spec(bundle: &Path) -> Result<Spec, ContainerError> {
    let path = bundle.join("config.json");
    let text = std::fs::read(&path).map_err(|source| ContainerError::ReadBundle { path: path.clone(), source })?;
    parse_spec(&text, &path)
}

/// Parses config.json's bytes (`path` names it in errors).
pub fn parse_spec(text: &[u8], path: &Path) -> Result<Spec, ContainerError> {
    let bad = |detail: String| ContainerError::BadConfig { path: path.to_path_buf(), detail };
    let mut v: Value = serde_json::from_slice(text).map_err(|e| bad(e.to_string()))?;
    let version = match v.get("ociVersion") {
        Some(Value::String(s)) => s.as_str(),
        Some(other) => return Err(bad(format!("ociVersion must be a string such as \"1.3.0\", not {other}"))),
        None => return Err(bad("ociVersion is missing; add \"ociVersion\": \"1.3.0\"".into())),
    };
    check_version(version)?;
    if let Some(caps) = v.pointer_mut("/process/capabilities").and_then(Value::as_object_mut) {
        for (set, list) in caps.iter_mut() {
            let Some(arr) = list.as_array_mut() else { continue };
            arr.retain(|c| {
                let known = serde_json::from_value::<Capability>(c.clone()).is_ok();
                if !known {
                    tracing::warn!("process.capabilities.{set}: unknown capability {c} ignored");
                }
                known
            });
        }
    }
    serde_json::from_value(v).map_err(|e| bad(e.to_string()))
}

/// Accepts runtime-spec 1.0.0 up to `OCI_VERSION` (pre-release suffixes allowed).
fn check_version(v: &str) -> Result<(), ContainerError> {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<Option<u64>> = core.split('.').map(|p| p.parse().ok()).collect();
    let ok = match parts.as_slice() {
        [Some(1), Some(minor), Some(patch)] => (*minor, *patch) <= (3, 0),
        _ => false,
    };
    if ok { Ok(()) } else { Err(ContainerError::Version(v.to_owned())) }
}

/// A starter config.json for a HostProcess bundle (`hostproc spec`).
pub fn starter_spec() -> Value {
    serde_json::json!({
        "ociVersion": crate::OCI_VERSION,
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["/bin/sh", "-c", "echo hello from $CONTAINER_SANDBOX_MOUNT_POINT"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "cwd": "",
            "noNewPrivileges": false
        },
        "root": {"path": "rootfs", "readonly": false},
        "hostname": "",
        "mounts": [],
        "annotations": {
            "microsoft.com/hostprocess-container": "true",
            "hostproc.io/mount-mode": "bind"
        },
        "linux": {
            "resources": {},
            "namespaces": []
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn versions() {
        for ok in ["1.0.0", "1.0.2-dev", "1.2.0", "1.3.0"] {
            assert!(check_version(ok).is_ok(), "{ok}");
        }
        for bad in ["1.3.1", "1.4.0", "2.0.0", "0.9.0", "", "x", "1.0"] {
            assert!(check_version(bad).is_err(), "{bad}");
        }
    }
}
