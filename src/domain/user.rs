//! Accounts: the rules for usernames, emails, passwords and profile fields.

use super::{collect, missing, trimmed_len, Problems};

pub const USERNAME_MAX: usize = 64;
pub const EMAIL_MAX: usize = 254;
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 256;
pub const BIO_MAX: usize = 4096;
pub const IMAGE_MAX: usize = 2048;

/// 1 to 64 ASCII letters, digits, `_`, `-`, `.`; never `.` or `..`, since it
/// is used as a URL path segment (`/profiles/{username}`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let value = raw.trim();
        if value.is_empty() {
            return Err("username can't be blank".into());
        }
        if value.chars().count() > USERNAME_MAX {
            return Err(format!(
                "username is too long (maximum is {USERNAME_MAX} characters)"
            ));
        }
        if !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err("username may only contain letters, digits, '_', '-' and '.'".into());
        }
        if value == "." || value == ".." {
            return Err("username can't be '.' or '..'".into());
        }
        Ok(Username(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `local@domain`, at most 254 characters; stored as given, compared
/// case-insensitively through [`Email::key`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let value = raw.trim();
        if value.is_empty() {
            return Err("email can't be blank".into());
        }
        if value.chars().count() > EMAIL_MAX {
            return Err(format!(
                "email is too long (maximum is {EMAIL_MAX} characters)"
            ));
        }
        let valid = match value.rsplit_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.is_empty()
                    && !domain.contains('@')
                    && !value.chars().any(char::is_whitespace)
            }
            None => false,
        };
        if !valid {
            return Err("email is invalid (expected local@domain)".into());
        }
        Ok(Email(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form uniqueness and login compare: lowercased.
    pub fn key(&self) -> String {
        email_key(&self.0)
    }
}

/// The comparison key of any email-like string (used for login lookups,
/// where the input is not validated first).
pub fn email_key(raw: &str) -> String {
    raw.trim().to_lowercase()
}

/// 8 to 256 characters (counted after trimming); hashed exactly as given.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let len = trimmed_len(raw);
        if len == 0 {
            return Err("password can't be blank".into());
        }
        if len < PASSWORD_MIN {
            return Err(format!(
                "password is too short (minimum is {PASSWORD_MIN} characters)"
            ));
        }
        if len > PASSWORD_MAX {
            return Err(format!(
                "password is too long (maximum is {PASSWORD_MAX} characters)"
            ));
        }
        Ok(Password(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Free text, at most 4,096 characters.
pub fn parse_bio(raw: &str) -> Result<String, String> {
    if trimmed_len(raw) > BIO_MAX {
        return Err(format!("bio is too long (maximum is {BIO_MAX} characters)"));
    }
    Ok(raw.trim().to_owned())
}

/// Empty, or an `http://` / `https://` URL with a host.
pub fn parse_image(raw: &str) -> Result<String, String> {
    let value = raw.trim();
    if value.is_empty() {
        return Ok(String::new());
    }
    if value.chars().count() > IMAGE_MAX {
        return Err(format!(
            "image is too long (maximum is {IMAGE_MAX} characters)"
        ));
    }
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"));
    match rest {
        Some(rest)
            if !rest.is_empty()
                && !rest.starts_with('/')
                && !value.chars().any(|c| c.is_whitespace() || c.is_control()) =>
        {
            Ok(value.to_owned())
        }
        _ => Err("image must be an http(s) URL or empty".into()),
    }
}

/// A registration that passed every rule.
#[derive(Clone, Debug)]
pub struct NewUser {
    pub username: Username,
    pub email: Email,
    pub password: Password,
}

impl NewUser {
    /// Validates all three fields and reports every problem together.
    pub fn parse(
        username: Option<&str>,
        email: Option<&str>,
        password: Option<&str>,
    ) -> Result<Self, Problems> {
        let mut problems = Problems::new();
        let username = collect(
            &mut problems,
            username
                .ok_or_else(|| missing("username"))
                .and_then(Username::parse),
        );
        let email = collect(
            &mut problems,
            email.ok_or_else(|| missing("email")).and_then(Email::parse),
        );
        let password = collect(
            &mut problems,
            password
                .ok_or_else(|| missing("password"))
                .and_then(Password::parse),
        );
        match (username, email, password) {
            (Some(username), Some(email), Some(password)) => Ok(NewUser {
                username,
                email,
                password,
            }),
            _ => Err(problems),
        }
    }
}

/// The fields of `PUT /user`; `None` leaves a field unchanged.
#[derive(Clone, Debug, Default)]
pub struct UserChanges {
    pub username: Option<Username>,
    pub email: Option<Email>,
    pub password: Option<Password>,
    pub bio: Option<String>,
    pub image: Option<String>,
}

impl UserChanges {
    /// `bio` and `image` may be `null` (meaning: clear it); the others are
    /// ignored when `null`. At least one field must be present.
    pub fn parse(
        username: Option<&str>,
        email: Option<&str>,
        password: Option<&str>,
        bio: Option<Option<&str>>,
        image: Option<Option<&str>>,
    ) -> Result<Self, Problems> {
        let mut problems = Problems::new();
        if username.is_none()
            && email.is_none()
            && password.is_none()
            && bio.is_none()
            && image.is_none()
        {
            return Err(vec![
                "user must contain at least one of username, email, password, bio, image".into(),
            ]);
        }
        let changes = UserChanges {
            username: username.and_then(|v| collect(&mut problems, Username::parse(v))),
            email: email.and_then(|v| collect(&mut problems, Email::parse(v))),
            password: password.and_then(|v| collect(&mut problems, Password::parse(v))),
            bio: bio.and_then(|v| collect(&mut problems, parse_bio(v.unwrap_or("")))),
            image: image.and_then(|v| collect(&mut problems, parse_image(v.unwrap_or("")))),
        };
        if problems.is_empty() {
            Ok(changes)
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_path_segment_rules() {
        let long = "a".repeat(65);
        let cases: &[(&str, bool, &str)] = &[
            ("jake", true, "plain name"),
            ("  jake  ", true, "trimmed"),
            ("a.b-c_d9", true, "all allowed punctuation"),
            (&long[..64], true, "64 characters"),
            (&long, false, "65 characters"),
            ("", false, "empty"),
            ("   ", false, "blank"),
            (".", false, "single dot"),
            ("..", false, "double dot"),
            ("jake smith", false, "space"),
            ("jäke", false, "non-ASCII"),
            ("ja/ke", false, "slash"),
        ];
        for (raw, ok, why) in cases {
            assert_eq!(Username::parse(raw).is_ok(), *ok, "{why}: {raw:?}");
        }
        assert_eq!(Username::parse("  jake ").unwrap().as_str(), "jake");
    }

    #[test]
    fn emails_need_a_local_part_and_a_domain() {
        let long = format!("{}@example.com", "a".repeat(243));
        let cases: &[(&str, bool, &str)] = &[
            ("jake@example.com", true, "plain"),
            ("Jake@Example.COM", true, "mixed case"),
            ("jake@localhost", true, "no dot in domain"),
            (&long[1..], true, "254 characters"),
            (&long, false, "255 characters"),
            ("jake", false, "no at sign"),
            ("@example.com", false, "no local part"),
            ("jake@", false, "no domain"),
            ("ja ke@example.com", false, "space"),
            ("", false, "empty"),
        ];
        for (raw, ok, why) in cases {
            assert_eq!(Email::parse(raw).is_ok(), *ok, "{why}: {raw:?}");
        }
        assert_eq!(
            Email::parse("Jake@Example.COM").unwrap().key(),
            "jake@example.com"
        );
    }

    #[test]
    fn passwords_are_counted_in_characters_after_trimming() {
        let cases: &[(&str, bool, &str)] = &[
            ("12345678", true, "eight"),
            ("1234567", false, "seven"),
            ("  1234567  ", false, "seven after trimming"),
            ("ééééééé", false, "seven two-byte characters"),
            ("éééééééé", true, "eight two-byte characters"),
            ("", false, "empty"),
        ];
        for (raw, ok, why) in cases {
            assert_eq!(Password::parse(raw).is_ok(), *ok, "{why}");
        }
        assert!(Password::parse(&"x".repeat(256)).is_ok());
        assert!(Password::parse(&"x".repeat(257)).is_err());
        assert!(!format!("{:?}", Password::parse("secret-password").unwrap()).contains("secret"));
    }

    #[test]
    fn images_must_be_http_urls_or_empty() {
        let cases: &[(&str, bool, &str)] = &[
            ("", true, "empty clears"),
            ("https://example.com/a.png", true, "https"),
            ("http://example.com/a.png", true, "http"),
            ("ftp://example.com/a.png", false, "ftp"),
            ("javascript:alert(1)", false, "script"),
            ("https://", false, "no host"),
            ("https://exa mple.com", false, "space"),
        ];
        for (raw, ok, why) in cases {
            assert_eq!(parse_image(raw).is_ok(), *ok, "{why}: {raw:?}");
        }
    }

    #[test]
    fn registration_reports_every_problem_at_once() {
        let problems = NewUser::parse(Some(""), Some("nope"), None).unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("username")));
        assert!(problems.iter().any(|p| p.contains("email")));
        assert!(problems.iter().any(|p| p.contains("password")));
    }

    #[test]
    fn an_update_needs_at_least_one_field() {
        assert!(UserChanges::parse(None, None, None, None, None).is_err());
        let clear = UserChanges::parse(None, None, None, Some(None), None).unwrap();
        assert_eq!(clear.bio.as_deref(), Some(""));
    }
}
