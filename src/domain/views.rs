//! Read models: what the API returns, assembled by the store for one viewer.
//! Serialized as-is into the RealWorld envelopes, so field names follow the
//! spec's camelCase.

use serde::{Serialize, Serializer};
use time::OffsetDateTime;

use super::UserId;

/// Milliseconds since the Unix epoch, shown as RFC 3339 UTC with milliseconds
/// (`2026-11-26T10:20:59.198Z`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Self {
        let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
        Timestamp((nanos / 1_000_000) as i64)
    }

    pub fn to_rfc3339(self) -> String {
        const FORMAT: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        );
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .ok()
            .and_then(|t| t.format(FORMAT).ok())
            .unwrap_or_else(|| "1970-01-01T00:00:00.000Z".into())
    }
}

impl Timestamp {
    /// The day, as a reader expects it: `December 4, 2026` (UTC).
    pub fn to_long_date(self) -> String {
        const FORMAT: &[time::format_description::FormatItem<'static>] =
            time::macros::format_description!("[month repr:long] [day padding:none], [year]");
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .ok()
            .and_then(|t| t.format(FORMAT).ok())
            .unwrap_or_default()
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

/// A stored user, as the account owner may see it (plus what auth needs).
#[derive(Clone)]
pub struct UserRecord {
    pub id: UserId,
    pub username: String,
    pub email: String,
    pub bio: String,
    pub image: String,
    /// PHC string; never serialized.
    pub password_hash: String,
    /// Bumped on every password change; tokens carry it, so older ones stop
    /// verifying.
    pub credential_version: i64,
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A user as others see it: never the email.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Profile {
    pub username: String,
    pub bio: String,
    pub image: String,
    /// Whether the viewer follows this user (false for anonymous viewers).
    pub following: bool,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ArticleView {
    pub slug: String,
    pub title: String,
    pub description: String,
    /// Absent in list items (spec 1.1.0 drops `body` from lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    pub tag_list: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub favorited: bool,
    pub favorites_count: i64,
    pub author: Profile,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ArticlePage {
    pub articles: Vec<ArticleView>,
    /// Every article matching the filters, not just this page.
    pub articles_count: i64,
}

/// An article as a feed shows it: whole, with the id that names it for
/// good (slugs change with titles).
#[derive(Clone, Debug, PartialEq)]
pub struct FeedEntry {
    pub id: i64,
    pub article: ArticleView,
}

/// A page of a sitemap: what to list, and when each last changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SitemapEntry {
    /// A slug or a username.
    pub key: String,
    pub updated_at: Option<Timestamp>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CommentView {
    pub id: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub body: String,
    pub author: Profile,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc_with_milliseconds() {
        assert_eq!(Timestamp(0).to_rfc3339(), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            Timestamp(1_795_688_459_198).to_rfc3339(),
            "2026-11-26T10:20:59.198Z"
        );
        assert_eq!(
            Timestamp(1_795_688_459_198).to_long_date(),
            "November 26, 2026"
        );
    }
}
