use crate::ContainerError;

/// Container ids as runc allows them (`^[\w+-\.]+$`), never `.` or `..`, and at most 255
/// bytes: an id is one path component of the state directory and of the job's cgroup, and
/// no filesystem takes a longer name (runc's 1024 would fail later, less clearly).
pub const MAX_ID: usize = 255;

pub fn validate_id(id: &str) -> Result<(), ContainerError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID
        && id != "."
        && id != ".."
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        let shown = if id.len() > 64 { format!("{}... ({} bytes)", &id[..id.floor_char_boundary(64)], id.len()) } else { id.to_owned() };
        Err(ContainerError::BadId(shown))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn ids() {
        for good in ["a", "abc-1.2_3+x", &"x".repeat(255)] {
            assert!(validate_id(good).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "/", "a\0b", "a b", &"x".repeat(256), &"x".repeat(1025), "é"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }
}
