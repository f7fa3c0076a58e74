//! windowsOptions (validateWindowsSecurityContextOptions) and the name formats it and the
//! object names use. The regular expressions Kubernetes uses are matched by hand: each is
//! a character class repeated, and the `regex` crate would add to every hostproc command's
//! binary for five patterns.

use k8s_openapi::api::core::v1::WindowsSecurityContextOptions;

use super::field::{FieldError, Path};

const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const MAX_GMSA_CREDENTIAL_SPEC: usize = 64 * 1024;
const MAX_DOMAIN: usize = 256;
const MAX_USER: usize = 104;

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, or with `upper` `[a-zA-Z0-9]...` and at most `max` long.
fn label_ok(s: &str, upper: bool, max: usize) -> bool {
    let alnum = |c: u8| c.is_ascii_digit() || c.is_ascii_lowercase() || (upper && c.is_ascii_uppercase());
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= max
        && alnum(b[0])
        && alnum(b[b.len() - 1])
        && b.iter().all(|&c| alnum(c) || c == b'-')
}

/// IsDNS1123Subdomain's messages for `value`.
pub fn dns1123_subdomain(value: &str) -> Vec<String> {
    let mut msgs = Vec::new();
    if value.len() > 253 {
        msgs.push("must be no more than 253 characters".to_owned());
    }
    if !value.split('.').all(|l| label_ok(l, false, usize::MAX)) {
        msgs.push(DNS1123_SUBDOMAIN_MSG.to_owned());
    }
    msgs
}

/// IsDNS1123Label's messages for `value`.
pub fn dns1123_label(value: &str) -> Vec<String> {
    let mut msgs = Vec::new();
    if value.len() > 63 {
        msgs.push("must be no more than 63 characters".to_owned());
    }
    if !label_ok(value, false, usize::MAX) {
        msgs.push(DNS1123_LABEL_MSG.to_owned());
    }
    msgs
}

/// NetBIOS: `^[^\\/:\*\?"<>|\.][^\\/:\*\?"<>|]{0,14}$` (counted in characters, as Go's
/// regexp counts).
fn netbios(domain: &str) -> bool {
    let bad = |c: char| "\\/:*?\"<>|".contains(c);
    let mut chars = domain.chars();
    match chars.next() {
        Some(first) if !bad(first) && first != '.' => {}
        _ => return false,
    }
    let rest: Vec<char> = chars.collect();
    rest.len() <= 14 && !rest.iter().any(|&c| bad(c))
}

/// DNS: `^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$`.
fn dns_domain(domain: &str) -> bool {
    domain.split('.').all(|l| label_ok(l, true, 63))
}

/// validateWindowsSecurityContextOptions at `path` (a `windowsOptions`).
pub fn windows_options(o: &WindowsSecurityContextOptions, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(name) = &o.gmsa_credential_spec_name {
        for msg in dns1123_subdomain(name) {
            errs.push(FieldError::invalid(path.child("gmsaCredentialSpecName"), name.as_str(), msg));
        }
    }
    if let Some(spec) = &o.gmsa_credential_spec {
        let p = path.child("gmsaCredentialSpec");
        if spec.is_empty() {
            errs.push(FieldError::invalid(p, spec.as_str(), "gmsaCredentialSpec cannot be an empty string"));
        } else if spec.len() > MAX_GMSA_CREDENTIAL_SPEC {
            errs.push(FieldError::invalid(p, spec.as_str(), "gmsaCredentialSpec size must be under 64 KiB"));
        }
    }
    if let Some(name) = &o.run_as_user_name {
        let p = path.child("runAsUserName");
        let mut bad = |msg: String| errs.push(FieldError::invalid(p.clone(), name.as_str(), msg));
        // [[:cntrl:]]: ASCII control characters.
        let control = name.bytes().any(|b| b < 0x20 || b == 0x7f);
        let parts: Vec<&str> = name.split('\\').collect();
        if name.is_empty() {
            bad("runAsUserName cannot be an empty string".into());
        } else if control {
            bad("runAsUserName cannot contain control characters".into());
        } else if parts.len() > 2 {
            bad("runAsUserName cannot contain more than one backslash".into());
        } else {
            let (domain, user) = match parts[..] {
                [user] => (None, user),
                [domain, user] => (Some(domain), user),
                _ => unreachable!("split gives one or two parts here"),
            };
            if domain.is_some_and(|d| d.len() >= MAX_DOMAIN) {
                bad(format!("runAsUserName's Domain length must be under {MAX_DOMAIN} characters"));
            }
            if domain.is_some_and(|d| !(netbios(d) || dns_domain(d))) {
                bad("runAsUserName's Domain doesn't match the NetBios nor the DNS format".into());
            }
            if user.is_empty() {
                bad("runAsUserName's User cannot be empty".into());
            } else if user.len() > MAX_USER {
                bad(format!("runAsUserName's User length must not be longer than {MAX_USER} characters"));
            }
            if !user.is_empty() && user.chars().all(|c| c == '.' || c == ' ') {
                bad("runAsUserName's User cannot contain only periods or spaces".into());
            }
            if user.chars().any(|c| "\"/\\:;|=,+*?<>@[]".contains(c)) {
                bad("runAsUserName's User cannot contain the following characters: \"/\\:;|=,+*?<>@[]".into());
            }
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_as(name: &str) -> Vec<String> {
        let o = WindowsSecurityContextOptions { run_as_user_name: Some(name.into()), ..Default::default() };
        windows_options(&o, &Path::new("spec.securityContext.windowsOptions")).iter().map(|e| e.detail.clone()).collect()
    }

    #[test]
    fn run_as_user_name_rules_in_order() {
        assert!(run_as("NT AUTHORITY\\SYSTEM").is_empty());
        assert!(run_as("NT AUTHORITY\\Local service").is_empty());
        assert!(run_as("root").is_empty());
        assert!(run_as("example.com\\svc").is_empty());
        assert_eq!(run_as(""), ["runAsUserName cannot be an empty string"]);
        assert_eq!(run_as("a\tb\\c\\d"), ["runAsUserName cannot contain control characters"]);
        assert_eq!(run_as("a\\b\\c"), ["runAsUserName cannot contain more than one backslash"]);
        let long = "a".repeat(256);
        assert_eq!(
            run_as(&format!("{long}\\u")),
            ["runAsUserName's Domain length must be under 256 characters", "runAsUserName's Domain doesn't match the NetBios nor the DNS format"]
        );
        // Over 15 characters: not NetBIOS; a DNS name is fine, one with a '_' is not.
        assert!(run_as("a-rather-long-domain\\u").is_empty());
        assert_eq!(run_as("a_rather_long_domain\\u"), ["runAsUserName's Domain doesn't match the NetBios nor the DNS format"]);
        assert_eq!(run_as(".dom\\u"), ["runAsUserName's Domain doesn't match the NetBios nor the DNS format"]);
        assert_eq!(run_as("dom\\"), ["runAsUserName's User cannot be empty"]);
        assert_eq!(run_as(&"u".repeat(105)), ["runAsUserName's User length must not be longer than 104 characters"]);
        assert!(run_as(&"u".repeat(104)).is_empty());
        assert_eq!(run_as("dom\\. ."), ["runAsUserName's User cannot contain only periods or spaces"]);
        assert_eq!(run_as("u@x"), ["runAsUserName's User cannot contain the following characters: \"/\\:;|=,+*?<>@[]"]);
        assert_eq!(
            run_as(&format!(":\\{}[", ".".repeat(104))),
            [
                "runAsUserName's Domain doesn't match the NetBios nor the DNS format",
                "runAsUserName's User length must not be longer than 104 characters",
                "runAsUserName's User cannot contain the following characters: \"/\\:;|=,+*?<>@[]"
            ]
        );
    }

    #[test]
    fn gmsa_rules() {
        let o = WindowsSecurityContextOptions {
            gmsa_credential_spec_name: Some("Bad_Name".into()),
            gmsa_credential_spec: Some(String::new()),
            ..Default::default()
        };
        let errs: Vec<String> = windows_options(&o, &Path::new("w")).iter().map(|e| e.to_string()).collect();
        assert_eq!(errs.len(), 2);
        assert!(errs[0].starts_with("w.gmsaCredentialSpecName: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of"));
        assert_eq!(errs[1], "w.gmsaCredentialSpec: Invalid value: \"\": gmsaCredentialSpec cannot be an empty string");
        let o = WindowsSecurityContextOptions { gmsa_credential_spec: Some("x".repeat(65537)), ..Default::default() };
        assert!(windows_options(&o, &Path::new("w"))[0].detail.ends_with("gmsaCredentialSpec size must be under 64 KiB"));
        let o = WindowsSecurityContextOptions { gmsa_credential_spec: Some("x".repeat(65536)), ..Default::default() };
        assert!(windows_options(&o, &Path::new("w")).is_empty());
        assert_eq!(dns1123_subdomain(&"a".repeat(254)), ["must be no more than 253 characters"]);
        assert!(dns1123_subdomain("gmsa-webapp.example").is_empty());
        assert!(!dns1123_subdomain("a..b").is_empty());
    }
}
