//! Accounts on PostgreSQL: creating, reading and updating users.

use postgres::{Client, Row};

use super::{to_time, Session};
use crate::domain::user::{NewUser, UserChanges};
use crate::domain::views::{Timestamp, UserRecord};
use crate::domain::UserId;
use crate::store::{Entity, StoreResult, TokenDigest};

const USER_BY_ID: &str =
    "SELECT id, username, email, bio, image, password_hash, credential_version FROM users WHERE id = $1";
const USER_BY_EMAIL: &str =
    "SELECT id, username, email, bio, image, password_hash, credential_version FROM users WHERE email_key = $1";

fn user_from_row(row: &Row) -> UserRecord {
    UserRecord {
        id: UserId(row.get(0)),
        username: row.get(1),
        email: row.get(2),
        bio: row.get(3),
        image: row.get(4),
        password_hash: row.get(5),
        credential_version: row.get(6),
    }
}

pub(super) fn create(
    s: &mut Session<'_, Client>,
    user: &NewUser,
    password_hash: &str,
) -> StoreResult<UserRecord> {
    let now = to_time(Timestamp::now());
    let row = s.one(
        "INSERT INTO users (username, email, email_key, password_hash, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5) \
         RETURNING id, username, email, bio, image, password_hash, credential_version",
        &[
            &user.username.as_str(),
            &user.email.as_str(),
            &user.email.key(),
            &password_hash,
            &now,
        ],
    )?;
    Ok(user_from_row(&row))
}

pub(super) fn by_id(s: &mut Session<'_, Client>, id: UserId) -> StoreResult<UserRecord> {
    Ok(user_from_row(&s.found(
        USER_BY_ID,
        &[&id.0],
        Entity::User,
    )?))
}

/// The token's user, and whether the token was signed out.
pub(super) fn by_token(
    s: &mut Session<'_, Client>,
    id: UserId,
    token: &TokenDigest,
) -> StoreResult<(UserRecord, bool)> {
    let row = s.found(
        "SELECT id, username, email, bio, image, password_hash, credential_version, \
         EXISTS (SELECT 1 FROM signed_out_tokens WHERE digest = $2) \
         FROM users WHERE id = $1",
        &[&id.0, &&token[..]],
        Entity::User,
    )?;
    Ok((user_from_row(&row), row.get(7)))
}

/// Remembers a signed-out token until it expires, and forgets those that
/// have (a minute after, past any clock leeway), in one statement.
pub(super) fn sign_out_token(
    s: &mut Session<'_, Client>,
    token: &TokenDigest,
    expires_at: i64,
) -> StoreResult<()> {
    s.execute(
        "WITH forgotten AS ( \
             DELETE FROM signed_out_tokens \
             WHERE expires_at < now() - interval '1 minute' \
         ) \
         INSERT INTO signed_out_tokens (digest, expires_at) \
         VALUES ($1, to_timestamp($2::bigint)) \
         ON CONFLICT (digest) DO NOTHING",
        &[&&token[..], &expires_at],
    )?;
    Ok(())
}

pub(super) fn by_email(
    s: &mut Session<'_, Client>,
    email_key: &str,
) -> StoreResult<Option<UserRecord>> {
    Ok(s.opt(USER_BY_EMAIL, &[&email_key])?
        .as_ref()
        .map(user_from_row))
}

pub(super) fn update(
    s: &mut Session<'_, Client>,
    id: UserId,
    changes: &UserChanges,
    password_hash: Option<&str>,
) -> StoreResult<UserRecord> {
    let bump = i64::from(password_hash.is_some());
    let row = s.found(
        "UPDATE users SET \
         username = coalesce($2, username), \
         email = coalesce($3, email), email_key = coalesce($4, email_key), \
         password_hash = coalesce($5, password_hash), \
         credential_version = credential_version + $6, \
         bio = coalesce($7, bio), image = coalesce($8, image), updated_at = $9 \
         WHERE id = $1 \
         RETURNING id, username, email, bio, image, password_hash, credential_version",
        &[
            &id.0,
            &changes.username.as_ref().map(|u| u.as_str()),
            &changes.email.as_ref().map(|e| e.as_str()),
            &changes.email.as_ref().map(|e| e.key()),
            &password_hash,
            &bump,
            &changes.bio,
            &changes.image,
            &to_time(Timestamp::now()),
        ],
        Entity::User,
    )?;
    Ok(user_from_row(&row))
}
