//! kubelet's image matching (pkg/credentialprovider, `URLsMatch`), rewritten: a glob like
//! `*.registry.io`, `registry.io:5000/team` or `*.*` matches an image (`host[:port]/path`)
//! when the ports are equal, the hosts have as many dot-separated parts, each part matches
//! its glob (`*`, `?`, `[...]` within the part), and the glob's path is a prefix of the
//! image's path.

/// Splits `[scheme://]host[:port][/path]` into (host parts, port, path).
fn split(s: &str) -> (Vec<&str>, &str, &str) {
    let s = s.split_once("://").map_or(s, |(_, r)| r);
    let (hostport, path) = match s.find('/') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()) => (h, p),
        _ => (hostport, ""),
    };
    (host.split('.').collect(), port, path)
}

/// Go's `path/filepath.Match` for one host part (no `/` in it): `*`, `?`, `[...]`.
fn glob(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| glob(rest, &s[i..])),
        Some((b'?', rest)) => !s.is_empty() && glob(rest, &s[1..]),
        Some((b'[', rest)) => {
            let Some(end) = rest.iter().position(|&c| c == b']') else { return false };
            let Some((&c, tail)) = s.split_first() else { return false };
            let (neg, class) = match &rest[..end] {
                [b'^' | b'!', cl @ ..] => (true, cl),
                cl => (false, cl),
            };
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == b'-' {
                    hit |= class[i] <= c && c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == c;
                    i += 1;
                }
            }
            hit != neg && glob(&rest[end + 1..], tail)
        }
        Some((b'\\', [e, rest @ ..])) => s.first() == Some(e) && glob(rest, &s[1..]),
        Some((c, rest)) => s.first() == Some(c) && glob(rest, &s[1..]),
    }
}

/// Whether `pattern` (a matchImages entry or an auth key) matches `image`.
pub fn urls_match(pattern: &str, image: &str) -> bool {
    let (gp, gport, gpath) = split(pattern);
    let (tp, tport, tpath) = split(image);
    gport == tport && gp.len() == tp.len() && tpath.starts_with(gpath) && gp.iter().zip(&tp).all(|(g, t)| glob(g.as_bytes(), t.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::urls_match;

    #[test]
    fn kubelets_matching_rules() {
        // The examples of kubelet's docs and keyring tests.
        for (p, i, want) in [
            ("*.kubernetes.io", "abc.kubernetes.io", true),
            ("*.kubernetes.io", "abc.def.kubernetes.io", false),
            ("*.*.kubernetes.io", "abc.def.kubernetes.io", true),
            ("prefix.*.io", "prefix.kubernetes.io", true),
            ("*-good.kubernetes.io", "prefix-good.kubernetes.io", true),
            ("*.kubernetes.io", "kubernetes.io", false),
            ("registry.io:8080/path", "registry.io:8080/path/image", true),
            ("registry.io:8080/path", "registry.io/path/image", false),
            ("registry.io/path", "registry.io:8080/path/image", false),
            ("registry.io/team", "registry.io/other/image", false),
            ("*", "localhost/x", true),
            ("*", "127.0.0.1:5000/x", false),
            ("*.*.*.*:5000", "127.0.0.1:5000/x", true),
            ("12[0-9].0.0.1:5000", "127.0.0.1:5000/x", true),
            ("https://registry.io", "registry.io/x", true),
        ] {
            assert_eq!(urls_match(p, i), want, "{p} ~ {i}");
        }
    }
}
