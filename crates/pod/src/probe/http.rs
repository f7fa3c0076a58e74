//! A small HTTP/1.1 GET client over `std::net::TcpStream` for httpGet probes and hooks,
//! with kubelet's rules: success is a status in 200..400; redirects to the same host are
//! followed (at most 10), a redirect to another host ends the probe with that 3xx (a
//! success with a warning, as kubelet's "Probe terminated redirects").

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// The request: kubelet's `NewRequestForHTTPGetAction`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpGet {
    /// Where to connect (127.0.0.1 when the spec's host is empty: the pod is on the host
    /// network, its IP the host's).
    pub host: String,
    pub port: u16,
    /// Path and query, beginning with `/`.
    pub path: String,
    /// httpHeaders, in order (a `Host` header names the virtual host).
    pub headers: Vec<(String, String)>,
}

/// The outcome of a GET.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Set when a redirect to another host was not followed.
    pub warning: Option<String>,
}

const USER_AGENT: &str = "kube-probe/1.33";
const MAX_HEAD: usize = 64 * 1024;

/// Runs the GET, redirects included, within `timeout`. `Err` is why no response came.
pub fn get(req: &HttpGet, timeout: Duration) -> Result<Response, String> {
    let deadline = Instant::now() + timeout;
    let mut host = req.host.clone();
    let mut port = req.port;
    let mut path = req.path.clone();
    for _ in 0..=10 {
        let (status, location) = once(req, &host, port, &path, deadline)?;
        let Some(loc) = location.filter(|_| matches!(status, 301 | 302 | 303 | 307 | 308)) else {
            return Ok(Response { status, warning: None });
        };
        let (h, p, pa) = match loc.strip_prefix("http://") {
            Some(rest) => {
                let (hp, pa) = rest.find('/').map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
                let (h, p) = split_host_port(hp).ok_or_else(|| format!("redirect to a bad location {loc:?}"))?;
                (h, p.unwrap_or(80), pa.to_string())
            }
            None if loc.starts_with("https://") => {
                return if loc[8..].split(['/', ':']).next() == Some(host.as_str()) {
                    Err(format!("redirect to {loc}: HTTPS is not supported"))
                } else {
                    Ok(Response { status, warning: Some(format!("Probe terminated redirects, Response body: redirect to {loc}")) })
                };
            }
            None if loc.starts_with('/') => (host.clone(), port, loc.clone()),
            None => {
                let base = path.rsplit_once('/').map_or("", |(b, _)| b);
                (host.clone(), port, format!("{base}/{loc}"))
            }
        };
        if h != host {
            return Ok(Response { status, warning: Some(format!("Probe terminated redirects, Response body: redirect to {loc}")) });
        }
        (host, port, path) = (h, p, pa);
    }
    Err("stopped after 10 redirects".into())
}

fn split_host_port(s: &str) -> Option<(String, Option<u16>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        return Some((h.to_string(), port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), Some(p.parse().ok()?))),
        None => Some((s.to_string(), None)),
    }
}

fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Connects to `host:port` before `deadline` (each address the name resolves to in turn).
pub fn connect(host: &str, port: u16, deadline: Instant) -> Result<TcpStream, String> {
    let addrs = (host, port).to_socket_addrs().map_err(|e| format!("{}: {e}", host_port(host, port)))?;
    let mut last = format!("{}: no address", host_port(host, port));
    for a in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("dial tcp {a}: i/o timeout"));
        }
        match TcpStream::connect_timeout(&a, left) {
            Ok(s) => return Ok(s),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return Err(format!("dial tcp {a}: i/o timeout")),
            Err(e) => last = format!("dial tcp {a}: {e}"),
        }
    }
    Err(last)
}

/// One request; the status and the Location header.
fn once(req: &HttpGet, host: &str, port: u16, path: &str, deadline: Instant) -> Result<(u16, Option<String>), String> {
    let mut s = connect(host, port, deadline)?;
    let left = || deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
    let has = |name: &str| req.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    let mut head = format!("GET {path} HTTP/1.1\r\n");
    if !has("host") {
        head += &format!("Host: {}\r\n", host_port(host, port));
    }
    if !has("user-agent") {
        head += &format!("User-Agent: {USER_AGENT}\r\n");
    }
    if !has("accept") {
        head += "Accept: */*\r\n";
    }
    for (k, v) in &req.headers {
        head += &format!("{k}: {v}\r\n");
    }
    head += "Connection: close\r\n\r\n";
    let timeout_err = |e: std::io::Error| {
        if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) {
            "context deadline exceeded (Client.Timeout exceeded while awaiting headers)".to_string()
        } else {
            e.to_string()
        }
    };
    s.set_write_timeout(Some(left())).map_err(|e| e.to_string())?;
    s.write_all(head.as_bytes()).map_err(timeout_err)?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return Err("the response's header is too long".into());
        }
        if Instant::now() >= deadline {
            return Err(timeout_err(std::io::ErrorKind::TimedOut.into()));
        }
        s.set_read_timeout(Some(left())).map_err(|e| e.to_string())?;
        let n = s.read(&mut chunk).map_err(timeout_err)?;
        if n == 0 {
            return Err("EOF before the response's header ended".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let text = String::from_utf8_lossy(&buf[..end]);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let (proto, code) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    if !proto.starts_with("HTTP/1.") {
        return Err(format!("malformed HTTP response {status_line:?}"));
    }
    let status: u16 = code.parse().ok().filter(|c| (100..1000).contains(c)).ok_or_else(|| format!("malformed HTTP status code {code:?}"))?;
    let location = lines.filter_map(|l| l.split_once(':')).find(|(k, _)| k.trim().eq_ignore_ascii_case("location")).map(|(_, v)| v.trim().to_string());
    Ok((status, location))
}
