//! A container's environment as kubelet makes it: envFrom, then env in order, each value
//! `$(VAR)`-expanded against what came before; command and args expanded against the
//! result (kubelet's `third_party/forked/golang/expansion`).

use k8s_openapi::api::core::v1::{Container, EnvVar, ObjectFieldSelector, ResourceFieldSelector};

use super::quantity::Quantity;
use super::{PodError, PodInput};

/// What a field reference or a resource reference can be answered from.
pub struct Facts<'a> {
    pub input: &'a PodInput,
    pub node_name: &'a str,
    pub host_ips: &'a [String],
}

/// `Expand` of kubelet's expansion.go: `$$` is `$`, `$(NAME)` is NAME's value or stays as
/// written when NAME is not defined, any other `$` stays.
pub fn expand(input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let b = input.as_bytes();
    let mut out = String::with_capacity(input.len());
    let mut checkpoint = 0;
    let mut cursor = 0;
    while cursor < b.len() {
        if b[cursor] == b'$' && cursor + 1 < b.len() {
            out.push_str(&input[checkpoint..cursor]);
            let rest = &input[cursor + 1..];
            let (read, is_var, advance) = read_name(rest);
            if is_var {
                out.push_str(&lookup(&read).unwrap_or_else(|| format!("$({read})")));
            } else {
                out.push_str(&read);
            }
            cursor += advance;
            checkpoint = cursor + 1;
        }
        cursor += 1;
    }
    out.push_str(&input[checkpoint..]);
    out
}

/// `tryReadVariableName`: (what was read, whether it names a variable, bytes consumed
/// after the `$`).
fn read_name(input: &str) -> (String, bool, usize) {
    match input.as_bytes()[0] {
        b'$' => ("$".into(), false, 1),
        b'(' => match input[1..].find(')') {
            Some(i) => (input[1..1 + i].into(), true, i + 2),
            None => ("$(".into(), false, 1),
        },
        _ => {
            let n = input.chars().next().map(char::len_utf8).unwrap_or(1);
            (format!("${}", &input[..n]), false, n)
        }
    }
}

/// The container's environment, in order, as (name, value).
pub fn container_env(facts: &Facts, c: &Container) -> Result<Vec<(String, String)>, PodError> {
    let mut env: Vec<(String, String)> = Vec::new();
    let set = |env: &mut Vec<(String, String)>, k: String, v: String| {
        if let Some(e) = env.iter_mut().find(|(n, _)| *n == k) {
            e.1 = v;
        } else {
            env.push((k, v));
        }
    };
    for (i, from) in c.env_from.iter().flatten().enumerate() {
        let field = format!("containers[{}].envFrom[{i}]", c.name);
        let prefix = from.prefix.clone().unwrap_or_default();
        let data = if let Some(r) = &from.config_map_ref {
            match facts.input.config_map(&r.name) {
                Some(d) => d,
                None if r.optional == Some(true) => continue,
                None => return Err(PodError::invalid(format!("{field}.configMapRef"), format!("configMap {:?} is not in the manifests; add it to the files given, or set optional: true", r.name))),
            }
        } else if let Some(r) = &from.secret_ref {
            match facts.input.secret(&r.name) {
                Some(d) => d,
                None if r.optional == Some(true) => continue,
                None => return Err(PodError::invalid(format!("{field}.secretRef"), format!("secret {:?} is not in the manifests; add it to the files given, or set optional: true", r.name))),
            }
        } else {
            continue;
        };
        for (k, v) in data {
            let name = format!("{prefix}{k}");
            // kubelet skips keys that are not valid variable names (with an event).
            if !valid_env_name(&name) {
                tracing::warn!("{field}: key {k:?} skipped: {name:?} is not a valid environment variable name");
                continue;
            }
            set(&mut env, name, String::from_utf8_lossy(&v).into_owned());
        }
    }
    for (i, e) in c.env.iter().flatten().enumerate() {
        let value = env_value(facts, c, e, &env, &format!("containers[{}].env[{i}]", c.name))?;
        if let Some(v) = value {
            set(&mut env, e.name.clone(), v);
        }
    }
    Ok(env)
}

fn valid_env_name(n: &str) -> bool {
    !n.is_empty() && !n.starts_with(|c: char| c.is_ascii_digit()) && n.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// One env entry's value; `None` when an optional key reference finds nothing (kubelet
/// leaves the variable out).
fn env_value(facts: &Facts, c: &Container, e: &EnvVar, before: &[(String, String)], field: &str) -> Result<Option<String>, PodError> {
    let Some(from) = &e.value_from else {
        let v = e.value.clone().unwrap_or_default();
        return Ok(Some(expand(&v, &|n| before.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()))));
    };
    if let Some(f) = &from.field_ref {
        return field_ref(facts, f).map(Some).map_err(|m| PodError::invalid(format!("{field}.valueFrom.fieldRef.fieldPath"), m));
    }
    if let Some(r) = &from.resource_field_ref {
        return resource_ref(facts, Some(c), r).map(Some).map_err(|m| PodError::invalid(format!("{field}.valueFrom.resourceFieldRef"), m));
    }
    let (kind, name, key, optional, data) = if let Some(r) = &from.config_map_key_ref {
        ("configMap", &r.name, &r.key, r.optional == Some(true), facts.input.config_map(&r.name))
    } else if let Some(r) = &from.secret_key_ref {
        ("secret", &r.name, &r.key, r.optional == Some(true), facts.input.secret(&r.name))
    } else {
        return Ok(None);
    };
    let sub = if kind == "secret" { "secretKeyRef" } else { "configMapKeyRef" };
    match data {
        None if optional => Ok(None),
        None => Err(PodError::invalid(format!("{field}.valueFrom.{sub}"), format!("{kind} {name:?} is not in the manifests; add it to the files given, or set optional: true"))),
        Some(d) => match d.into_iter().find(|(k, _)| k == key) {
            Some((_, v)) => Ok(Some(String::from_utf8_lossy(&v).into_owned())),
            None if optional => Ok(None),
            None => Err(PodError::invalid(format!("{field}.valueFrom.{sub}.key"), format!("{kind} {name:?} has no key {key:?}; add it, or set optional: true"))),
        },
    }
}

/// A downward-API field path's value, as kubelet's `ExtractFieldPathAsString` plus the
/// status and spec fields it answers itself.
pub fn field_ref(facts: &Facts, f: &ObjectFieldSelector) -> Result<String, String> {
    if let Some(v) = f.api_version.as_deref() {
        if v != "v1" {
            return Err(format!("apiVersion {v:?} is not supported; use v1"));
        }
    }
    let m = &facts.input.metadata;
    let path = f.field_path.as_str();
    let sub = |prefix: &str| -> Option<String> {
        let rest = path.strip_prefix(prefix)?.strip_prefix("['")?.strip_suffix("']")?;
        Some(rest.to_string())
    };
    let map_value = |map: &Option<std::collections::BTreeMap<String, String>>, k: &str| map.as_ref().and_then(|m| m.get(k).cloned()).unwrap_or_default();
    Ok(match path {
        "metadata.name" => m.name.clone().unwrap_or_default(),
        "metadata.namespace" => facts.input.namespace(),
        "metadata.uid" => m.uid.clone().unwrap_or_default(),
        "metadata.labels" => format_map(&m.labels),
        "metadata.annotations" => format_map(&m.annotations),
        "spec.nodeName" => facts.node_name.to_string(),
        "spec.serviceAccountName" => facts.input.spec.service_account_name.clone().unwrap_or_else(|| "default".into()),
        "status.hostIP" | "status.podIP" => facts.host_ips.first().cloned().unwrap_or_default(),
        "status.hostIPs" | "status.podIPs" => facts.host_ips.join(","),
        _ => {
            if let Some(k) = sub("metadata.labels") {
                map_value(&m.labels, &k)
            } else if let Some(k) = sub("metadata.annotations") {
                map_value(&m.annotations, &k)
            } else {
                return Err(format!("{path:?} is not a supported field path (metadata.name, metadata.namespace, metadata.uid, metadata.labels['KEY'], metadata.annotations['KEY'], spec.nodeName, spec.serviceAccountName, status.hostIP, status.hostIPs, status.podIP, status.podIPs)"));
            }
        }
    })
}

/// `FormatMap`: `key="value"` lines, sorted (a BTreeMap is).
fn format_map(m: &Option<std::collections::BTreeMap<String, String>>) -> String {
    m.iter().flatten().map(|(k, v)| format!("{k}={v:?}\n")).collect()
}

/// A resource reference's value: kubelet's `ExtractContainerResourceValue`, with a
/// missing limit defaulting to the node's capacity (host CPUs, MemTotal).
pub fn resource_ref(facts: &Facts, c: Option<&Container>, r: &ResourceFieldSelector) -> Result<String, String> {
    let c = match (&r.container_name, c) {
        (Some(n), _) if !n.is_empty() => facts.input.container(n).ok_or_else(|| format!("containerName {n:?} names no container of the pod"))?,
        (_, Some(c)) => c,
        _ => return Err("containerName is required in a downwardAPI volume".into()),
    };
    let divisor = match &r.divisor {
        Some(q) => Quantity::parse(&q.0).map_err(|e| format!("divisor: {e}"))?,
        None => Quantity::ONE,
    };
    if divisor.is_zero() {
        return Err("divisor must not be 0".into());
    }
    let res = c.resources.as_ref();
    let get = |which: &str, name: &str| -> Result<Option<Quantity>, String> {
        let m = res.and_then(|r| if which == "limits" { r.limits.as_ref() } else { r.requests.as_ref() });
        m.and_then(|m| m.get(name)).map(|q| Quantity::parse(&q.0).map_err(|e| format!("{which}.{name}: {e}"))).transpose()
    };
    let (which, name) = r.resource.split_once('.').ok_or_else(|| format!("resource {:?} is not supported", r.resource))?;
    let value = match (which, name) {
        ("limits", "cpu") => get("limits", "cpu")?.unwrap_or_else(host_cpus),
        ("limits", "memory") => get("limits", "memory")?.unwrap_or_else(host_memory),
        ("requests", n @ ("cpu" | "memory")) => get("requests", n)?.or(get("limits", n)?).unwrap_or(Quantity::ZERO),
        ("limits" | "requests", "ephemeral-storage") => get(which, name)?.unwrap_or(Quantity::ZERO),
        ("limits" | "requests", n) if n.starts_with("hugepages-") => get(which, name)?.unwrap_or(Quantity::ZERO),
        _ => return Err(format!("resource {:?} is not supported (limits.cpu, limits.memory, requests.cpu, requests.memory, ...ephemeral-storage, ...hugepages-*)", r.resource)),
    };
    Ok(if name == "cpu" { ceil_div(value.milli(), divisor.milli().max(1)).to_string() } else { ceil_div(value.units(), divisor.units().max(1)).to_string() })
}

fn ceil_div(a: i128, b: i128) -> i128 {
    (a + b - 1) / b
}

fn host_cpus() -> Quantity {
    let n = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    Quantity::from_milli(n as i128 * 1000)
}

fn host_memory() -> Quantity {
    let kb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("MemTotal:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<i128>().ok()))
        .unwrap_or(0);
    Quantity::from_milli(kb * 1024 * 1000)
}

/// command + args expanded against the container's environment (kubelet's
/// `ExpandContainerCommandAndArgs`).
pub fn expand_all(list: &[String], env: &[(String, String)]) -> Vec<String> {
    let lookup = |n: &str| env.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    list.iter().map(|s| expand(s, &lookup)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x(s: &str) -> String {
        expand(s, &|n| match n {
            "A" => Some("a".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        })
    }

    #[test]
    fn expansion_as_kubelet() {
        // Cases from kubelet's expansion_test.go.
        assert_eq!(x("$(A)"), "a");
        assert_eq!(x("___$(A)___"), "___a___");
        assert_eq!(x("$(A)$(A)"), "aa");
        assert_eq!(x("$$(A)"), "$(A)");
        assert_eq!(x("$$$(A)"), "$a");
        assert_eq!(x("$(UNKNOWN)"), "$(UNKNOWN)");
        assert_eq!(x("$(EMPTY)x"), "x");
        assert_eq!(x("$(A"), "$(A");
        assert_eq!(x("$A"), "$A");
        assert_eq!(x("$"), "$");
        assert_eq!(x("a$"), "a$");
        assert_eq!(x("$()"), "$()");
        assert_eq!(x("$$$$"), "$$");
        assert_eq!(x("$é"), "$é");
        assert_eq!(x("$(A)$$(UNKNOWN)$(UNKNOWN"), "a$(UNKNOWN)$(UNKNOWN");
    }
}
