//! The vocabulary of Conduit: validated inputs (`NewUser`, `NewArticle`, ...)
//! and the read models the API returns (`views`). Nothing here knows about
//! HTTP or SQL; parsing rules and their messages live beside their types.

pub mod article;
pub mod comment;
pub mod search;
pub mod user;
pub mod views;

/// A user's primary key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub i64);

/// Validation messages for one input, each one a sentence a person can act on.
pub type Problems = Vec<String>;

/// Length in Unicode scalar values after trimming, as the policy counts it.
pub(crate) fn trimmed_len(value: &str) -> usize {
    value.trim().chars().count()
}

/// Records a field's parse failure and passes the value on, so one request
/// reports every problem at once.
pub(crate) fn collect<T>(problems: &mut Problems, result: Result<T, String>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(message) => {
            problems.push(message);
            None
        }
    }
}

/// A required field that was absent.
pub(crate) fn missing(field: &str) -> String {
    format!("{field} is missing")
}
