use crate::ContainerError;

/// Container ids as runc allows them (`^[\w+-\.]+$`), at most 1024 bytes, and never `.`
/// or `..`, so an id is always one safe path component of the state directory.
pub fn validate_id(id: &str) -> Result<(), ContainerError> {
    let ok = !id.is_empty()
        && id.len() <= 1024
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
        for good in ["a", "abc-1.2_3+x", &"x".repeat(1024)] {
            assert!(validate_id(good).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "/", "a\0b", "a b", &"x".repeat(1025), "é"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }
}
