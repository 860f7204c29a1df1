//! Comments: the one rule for their body.

pub const COMMENT_MAX_BYTES: usize = 64 * 1024;

/// 1 byte to 64 KiB of UTF-8, not blank; kept exactly as given.
pub fn parse_comment_body(raw: Option<&str>) -> Result<String, Vec<String>> {
    let Some(raw) = raw else {
        return Err(vec![super::missing("body")]);
    };
    if raw.trim().is_empty() {
        return Err(vec!["body can't be blank".into()]);
    }
    if raw.len() > COMMENT_MAX_BYTES {
        return Err(vec!["body is too long (maximum is 64 KiB)".into()]);
    }
    Ok(raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comment_bodies_are_one_byte_to_64_kib_and_not_blank() {
        assert!(parse_comment_body(Some("x")).is_ok());
        assert!(parse_comment_body(Some(&"x".repeat(COMMENT_MAX_BYTES))).is_ok());
        assert!(parse_comment_body(Some(&"x".repeat(COMMENT_MAX_BYTES + 1))).is_err());
        assert!(parse_comment_body(Some(" \t\n")).is_err());
        assert!(parse_comment_body(Some("")).is_err());
        assert!(parse_comment_body(None).is_err());
    }
}
