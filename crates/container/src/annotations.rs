//! The annotations hostproc reads: its own (`hostproc.io/`), hcsshim's HostProcess ones
//! (`microsoft.com/hostprocess-*`) and hcsshim's Windows resource ones.

use std::collections::HashMap;
use std::time::Duration;

use hostproc_storage::Mode;

use crate::ContainerError;

pub const MOUNT_MODE: &str = "hostproc.io/mount-mode";
pub const GRACE: &str = "hostproc.io/grace-period";
pub const HPC: &str = "microsoft.com/hostprocess-container";
pub const LOCATION: &str = "microsoft.com/hostprocess-rootfs-location";
pub const INHERIT_USER: &str = "microsoft.com/hostprocess-inherit-user";
pub const RUN_AS_USER_NAME: &str = "hostproc.io/run-as-user-name";
pub const CPU_COUNT: &str = "io.microsoft.container.processor.count";
pub const CPU_LIMIT: &str = "io.microsoft.container.processor.limit";
pub const CPU_WEIGHT: &str = "io.microsoft.container.processor.weight";
pub const MEMORY_MB: &str = "io.microsoft.container.memory.sizeinmb";

/// The annotations' meaning, checked.
#[derive(Debug, Clone)]
pub struct Annotations {
    pub mode: Mode,
    pub location: String,
    pub grace: Duration,
    pub inherit_user: bool,
    pub run_as_user_name: Option<String>,
    pub cpu_count: Option<u64>,
    pub cpu_limit: Option<u64>,
    pub cpu_weight: Option<u64>,
    pub memory_mb: Option<u64>,
}

fn bad(key: &str, value: &str, detail: impl Into<String>) -> ContainerError {
    ContainerError::Annotation { key: key.into(), value: value.into(), detail: detail.into() }
}

fn boolean(a: &HashMap<String, String>, key: &str) -> Result<Option<bool>, ContainerError> {
    match a.get(key).map(String::as_str) {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(v) => Err(bad(key, v, "give \"true\" or \"false\"")),
    }
}

fn number(a: &HashMap<String, String>, key: &str, min: u64, max: u64) -> Result<Option<u64>, ContainerError> {
    let Some(v) = a.get(key) else { return Ok(None) };
    match v.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ => Err(bad(key, v, format!("give a whole number from {min} to {max}"))),
    }
}

/// `5s`, `500ms`, `1m`, `1.5s` or plain seconds (`5`).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: f64 = num.parse().ok()?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return None,
    };
    (secs.is_finite() && (0.0..=86400.0).contains(&secs)).then(|| Duration::from_secs_f64(secs))
}

impl Annotations {
    pub fn parse(a: &HashMap<String, String>) -> Result<Annotations, ContainerError> {
        if boolean(a, HPC)? == Some(false) {
            return Err(bad(HPC, "false", "this runtime runs only HostProcess containers; use runc for other containers, or set it to \"true\""));
        }
        let mode = match a.get(MOUNT_MODE).map(String::as_str) {
            None | Some("bind") => Mode::Bind,
            Some("host") => Mode::Host,
            Some(v) => return Err(bad(MOUNT_MODE, v, "give \"bind\" (the default) or \"host\"")),
        };
        let grace = match a.get(GRACE) {
            None => Duration::from_secs(5),
            Some(v) => parse_duration(v).ok_or_else(|| bad(GRACE, v, "give a duration such as 5s, 500ms or 1m (at most 24h)"))?,
        };
        let location = a.get(LOCATION).cloned().unwrap_or_else(|| hostproc_storage::DEFAULT_LOCATION.to_owned());
        if mode == Mode::Host && a.contains_key(LOCATION) {
            tracing::warn!("{LOCATION} has no effect in host mount mode: the sandbox is the rootfs's own path");
        }
        Ok(Annotations {
            mode,
            location,
            grace,
            inherit_user: boolean(a, INHERIT_USER)?.unwrap_or(false),
            run_as_user_name: a.get(RUN_AS_USER_NAME).cloned(),
            cpu_count: number(a, CPU_COUNT, 1, 1 << 16)?,
            cpu_limit: number(a, CPU_LIMIT, 1, 10_000)?,
            cpu_weight: number(a, CPU_WEIGHT, 1, 10_000)?,
            memory_mb: number(a, MEMORY_MB, 1, 1 << 40)?,
        })
    }

    /// hcsshim's Windows limits on top of the spec's (the annotations win, as in hcsshim):
    /// processor.count N = a quota of N CPUs; processor.limit L = L/10000 of all the
    /// host's CPUs; processor.weight W (1..10000, the cgroup v2 cpu.weight range) =
    /// the cpu.shares that convert to weight W; memory.sizeinmb = the memory limit.
    /// `host_cpus` is asked only when a processor annotation needs it (it reads cgroup
    /// files, which most containers can do without).
    pub fn apply_to(&self, r: &mut hostproc_job::Resources, host_cpus: impl Fn() -> u64) {
        const PERIOD: u64 = 100_000;
        let cpus = std::cell::OnceCell::new();
        let host_cpus = || *cpus.get_or_init(|| host_cpus().max(1));
        if let Some(n) = self.cpu_count {
            let n = n.min(host_cpus());
            r.cpu_period = Some(PERIOD);
            r.cpu_quota = Some((n * PERIOD) as i64);
        }
        if let Some(l) = self.cpu_limit {
            r.cpu_period = Some(PERIOD);
            r.cpu_quota = Some(((l * host_cpus() * PERIOD) / 10_000).max(1000) as i64);
        }
        if let Some(w) = self.cpu_weight {
            r.cpu_shares = Some(hostproc_job::weight_to_shares(w));
        }
        if let Some(mb) = self.memory_mb {
            r.memory_limit = Some((mb * 1024 * 1024) as i64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("-1s"), None);
        assert_eq!(parse_duration("5h"), None);
    }
    #[test]
    fn windows_limits() {
        let mut a = HashMap::new();
        a.insert(CPU_COUNT.to_string(), "1".to_string());
        a.insert(MEMORY_MB.to_string(), "64".to_string());
        a.insert(CPU_WEIGHT.to_string(), "10000".to_string());
        let ann = Annotations::parse(&a).unwrap();
        let mut r = hostproc_job::Resources::default();
        ann.apply_to(&mut r, || 2);
        assert_eq!(r.cpu_quota, Some(100_000));
        assert_eq!(r.memory_limit, Some(64 << 20));
        assert_eq!(r.cpu_shares, Some(262_144));
        let mut a = HashMap::new();
        a.insert(CPU_LIMIT.to_string(), "5000".to_string());
        let ann = Annotations::parse(&a).unwrap();
        let mut r = hostproc_job::Resources::default();
        ann.apply_to(&mut r, || 2);
        assert_eq!(r.cpu_quota, Some(100_000), "half of two CPUs");
        a.insert(HPC.to_string(), "false".to_string());
        assert!(Annotations::parse(&a).is_err());
    }
    /// The host's CPU count (cgroup files read) is asked only by the processor count and
    /// limit, once however many need it.
    #[test]
    fn host_cpus_asked_only_when_needed_and_once() {
        let asked = std::cell::Cell::new(0);
        let count = || {
            asked.set(asked.get() + 1);
            4
        };
        let mut a = HashMap::new();
        a.insert(MEMORY_MB.to_string(), "64".to_string());
        a.insert(CPU_WEIGHT.to_string(), "100".to_string());
        Annotations::parse(&a).unwrap().apply_to(&mut hostproc_job::Resources::default(), count);
        assert_eq!(asked.get(), 0, "asked without a processor count or limit");
        a.insert(CPU_COUNT.to_string(), "2".to_string());
        a.insert(CPU_LIMIT.to_string(), "5000".to_string());
        Annotations::parse(&a).unwrap().apply_to(&mut hostproc_job::Resources::default(), count);
        assert_eq!(asked.get(), 1, "asked more than once");
    }
}
