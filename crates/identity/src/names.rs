//! Kubernetes' runAsUserName rules (validateWindowsSecurityContextOptions), with its
//! messages verbatim.

const MAX_DOMAIN: usize = 256;
const MAX_USER: usize = 104;
const BAD_USER_CHARS: &str = "\"/\\:;|=,+*?<>@[]";

fn netbios(d: &str) -> bool {
    let b: Vec<char> = d.chars().collect();
    let bad = |c: char| "\\/:*?\"<>|".contains(c);
    !b.is_empty() && b.len() <= 15 && !bad(b[0]) && b[0] != '.' && b[1..].iter().all(|c| !bad(*c))
}

fn dns(d: &str) -> bool {
    !d.is_empty()
        && d.split('.').all(|label| {
            let l = label.as_bytes();
            !l.is_empty()
                && l.len() <= 63
                && l[0].is_ascii_alphanumeric()
                && l[l.len() - 1].is_ascii_alphanumeric()
                && l.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        })
}

/// Every rule the name breaks, in Kubernetes' order (empty when valid).
pub fn validate_run_as_user_name(name: &str) -> Vec<String> {
    if name.is_empty() {
        return vec!["runAsUserName cannot be an empty string".into()];
    }
    if name.chars().any(|c| c.is_control()) {
        return vec!["runAsUserName cannot contain control characters".into()];
    }
    if name.matches('\\').count() > 1 {
        return vec!["runAsUserName cannot contain more than one backslash".into()];
    }
    let mut out = Vec::new();
    let (domain, user) = match name.split_once('\\') {
        Some((d, u)) => (Some(d), u),
        None => (None, name),
    };
    if let Some(d) = domain {
        if d.len() >= MAX_DOMAIN {
            out.push("runAsUserName's Domain length must be under 256 characters".into());
        }
        if !netbios(d) && !dns(d) {
            out.push("runAsUserName's Domain doesn't match the NetBios nor the DNS format".into());
        }
    }
    if user.is_empty() {
        out.push("runAsUserName's User cannot be empty".into());
    } else if user.len() > MAX_USER {
        out.push("runAsUserName's User length must not be longer than 104 characters".into());
    }
    if !user.is_empty() && user.chars().all(|c| c == '.' || c == ' ') {
        out.push("runAsUserName's User cannot contain only periods or spaces".into());
    }
    if user.chars().any(|c| BAD_USER_CHARS.contains(c)) {
        out.push("runAsUserName's User cannot contain the following characters: \"/\\:;|=,+*?<>@[]".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn kubernetes_rules() {
        assert!(validate_run_as_user_name("NT AUTHORITY\\SYSTEM").is_empty());
        assert!(validate_run_as_user_name("NT AUTHORITY\\Local service").is_empty());
        assert!(validate_run_as_user_name("builders").is_empty());
        assert_eq!(validate_run_as_user_name(""), ["runAsUserName cannot be an empty string"]);
        assert_eq!(validate_run_as_user_name("a\u{7}b"), ["runAsUserName cannot contain control characters"]);
        assert_eq!(validate_run_as_user_name("a\\b\\c"), ["runAsUserName cannot contain more than one backslash"]);
        assert_eq!(validate_run_as_user_name("dom\\"), ["runAsUserName's User cannot be empty"]);
        assert_eq!(validate_run_as_user_name("..."), ["runAsUserName's User cannot contain only periods or spaces"]);
        assert_eq!(validate_run_as_user_name("a@b"), ["runAsUserName's User cannot contain the following characters: \"/\\:;|=,+*?<>@[]"]);
        assert_eq!(validate_run_as_user_name(&"u".repeat(105)), ["runAsUserName's User length must not be longer than 104 characters"]);
        assert_eq!(validate_run_as_user_name(".bad\\user"), ["runAsUserName's Domain doesn't match the NetBios nor the DNS format"]);
        assert_eq!(validate_run_as_user_name("my-domain.example.com\\user"), Vec::<String>::new());
    }
}
