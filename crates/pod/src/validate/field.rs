//! Field errors as Kubernetes prints them (k8s.io/apimachinery/pkg/util/validation/field):
//! `<path>: <Type>[: <value>][: <detail>]`, values as Go's `%v` (numbers, bools) or `%q`
//! (strings) print them.

use std::fmt;

/// A field path as the API server builds it: `spec.containers[0].securityContext`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path(String);

impl Path {
    pub fn new(root: &str) -> Self {
        Path(root.to_owned())
    }
    pub fn child(&self, name: &str) -> Self {
        if self.0.is_empty() {
            Path(name.to_owned())
        } else {
            Path(format!("{}.{name}", self.0))
        }
    }
    pub fn index(&self, i: usize) -> Self {
        Path(format!("{}[{i}]", self.0))
    }
    /// A map key: `resources.limits[cpu]`.
    pub fn key(&self, k: &str) -> Self {
        Path(format!("{}[{k}]", self.0))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A bad value, printed as Go prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Str(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Str(s) => f.write_str(&go_quote(s)),
        }
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<i32> for Value {
    fn from(i: i32) -> Self {
        Value::Int(i.into())
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}
impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_owned())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Invalid(Value),
    Forbidden,
    Required,
    /// The value and the supported values.
    NotSupported(Value, &'static [&'static str]),
    Duplicate(Value),
    NotFound(Value),
}

/// One error, as the API server reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub path: Path,
    pub kind: Kind,
    pub detail: String,
}

impl FieldError {
    pub fn invalid(path: Path, value: impl Into<Value>, detail: impl Into<String>) -> Self {
        FieldError { path, kind: Kind::Invalid(value.into()), detail: detail.into() }
    }
    pub fn forbidden(path: Path, detail: impl Into<String>) -> Self {
        FieldError { path, kind: Kind::Forbidden, detail: detail.into() }
    }
    pub fn required(path: Path, detail: impl Into<String>) -> Self {
        FieldError { path, kind: Kind::Required, detail: detail.into() }
    }
    pub fn not_found(path: Path, value: impl Into<Value>) -> Self {
        FieldError { path, kind: Kind::NotFound(value.into()), detail: String::new() }
    }
    pub fn duplicate(path: Path, value: impl Into<Value>) -> Self {
        FieldError { path, kind: Kind::Duplicate(value.into()), detail: String::new() }
    }
    /// field.NotSupported: the detail lists the supported values, quoted.
    pub fn not_supported(path: Path, value: impl Into<Value>, supported: &'static [&'static str]) -> Self {
        let list = supported.iter().map(|s| go_quote(s)).collect::<Vec<_>>().join(", ");
        FieldError { path, kind: Kind::NotSupported(value.into(), supported), detail: format!("supported values: {list}") }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.path)?;
        match &self.kind {
            Kind::Invalid(v) => write!(f, "Invalid value: {v}")?,
            Kind::Forbidden => f.write_str("Forbidden")?,
            Kind::Required => f.write_str("Required value")?,
            Kind::NotSupported(v, _) => write!(f, "Unsupported value: {v}")?,
            Kind::Duplicate(v) => write!(f, "Duplicate value: {v}")?,
            Kind::NotFound(v) => write!(f, "Not found: {v}")?,
        }
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

/// Go's `%q` of a string: double quotes, Go's escapes for quotes, backslashes and
/// non-printable characters.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_print_as_the_api_server_prints_them() {
        let p = Path::new("spec").child("containers").index(0).child("name");
        assert_eq!(FieldError::required(p.clone(), "").to_string(), "spec.containers[0].name: Required value");
        assert_eq!(FieldError::duplicate(p, "a").to_string(), "spec.containers[0].name: Duplicate value: \"a\"");
        assert_eq!(
            FieldError::invalid(Path::new("spec").child("hostNetwork"), false, "x").to_string(),
            "spec.hostNetwork: Invalid value: false: x"
        );
        assert_eq!(FieldError::forbidden(Path::new("spec"), "y").to_string(), "spec: Forbidden: y");
        assert_eq!(
            FieldError::not_supported(Path::new("spec.os"), "mac", &["linux", "windows"]).to_string(),
            "spec.os: Unsupported value: \"mac\": supported values: \"linux\", \"windows\""
        );
        assert_eq!(go_quote("a\"b\\c\x01\x7f\t"), r#""a\"b\\c\x01\x7f\t""#);
    }
}
