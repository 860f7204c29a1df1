//! Accounts on SQLite: creating, reading and updating users.

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};

use super::found;
use crate::domain::user::{NewUser, UserChanges};
use crate::domain::views::{Timestamp, UserRecord};
use crate::domain::UserId;
use crate::store::{Entity, StoreError, StoreResult, TokenDigest};

const USER_COLUMNS: &str =
    "SELECT id, username, email, bio, image, password_hash, credential_version FROM users";

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord {
        id: UserId(row.get(0)?),
        username: row.get(1)?,
        email: row.get(2)?,
        bio: row.get(3)?,
        image: row.get(4)?,
        password_hash: row.get(5)?,
        credential_version: row.get(6)?,
    })
}

pub(super) fn create(
    tx: &Transaction<'_>,
    user: &NewUser,
    password_hash: &str,
) -> StoreResult<UserRecord> {
    let now = Timestamp::now().0;
    tx.prepare_cached(
        "INSERT INTO users (username, email, email_key, password_hash, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
    )?
    .execute(params![
        user.username.as_str(),
        user.email.as_str(),
        user.email.key(),
        password_hash,
        now
    ])?;
    by_id(tx, UserId(tx.last_insert_rowid()))
}

pub(super) fn by_id(conn: &Connection, id: UserId) -> StoreResult<UserRecord> {
    found(
        conn.prepare_cached(&format!("{USER_COLUMNS} WHERE id = ?1"))?
            .query_row([id.0], user_from_row),
        Entity::User,
    )
}

/// The token's user, and whether the token was signed out.
pub(super) fn by_token(
    conn: &Connection,
    id: UserId,
    token: &TokenDigest,
) -> StoreResult<(UserRecord, bool)> {
    found(
        conn.prepare_cached(
            "SELECT id, username, email, bio, image, password_hash, credential_version, \
             EXISTS (SELECT 1 FROM signed_out_tokens WHERE digest = ?2) \
             FROM users WHERE id = ?1",
        )?
        .query_row(params![id.0, &token[..]], |row| {
            Ok((user_from_row(row)?, row.get(7)?))
        }),
        Entity::User,
    )
}

/// Remembers a signed-out token until it expires, and forgets those that
/// have (a minute after, past any clock leeway).
pub(super) fn sign_out_token(
    tx: &Transaction<'_>,
    token: &TokenDigest,
    expires_at: i64,
) -> StoreResult<()> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    tx.prepare_cached("DELETE FROM signed_out_tokens WHERE expires_at < ?1")?
        .execute([now - 60])?;
    tx.prepare_cached(
        "INSERT INTO signed_out_tokens (digest, expires_at) VALUES (?1, ?2) \
         ON CONFLICT (digest) DO NOTHING",
    )?
    .execute(params![&token[..], expires_at])?;
    Ok(())
}

pub(super) fn by_email(conn: &Connection, email_key: &str) -> StoreResult<Option<UserRecord>> {
    Ok(conn
        .prepare_cached(&format!("{USER_COLUMNS} WHERE email_key = ?1"))?
        .query_row([email_key], user_from_row)
        .optional()?)
}

pub(super) fn update(
    tx: &Transaction<'_>,
    id: UserId,
    changes: &UserChanges,
    password_hash: Option<&str>,
) -> StoreResult<UserRecord> {
    let updated = tx
        .prepare_cached(
            "UPDATE users SET \
             username = coalesce(?2, username), \
             email = coalesce(?3, email), email_key = coalesce(?4, email_key), \
             password_hash = coalesce(?5, password_hash), \
             credential_version = credential_version + ?6, \
             bio = coalesce(?7, bio), image = coalesce(?8, image), updated_at = ?9 \
             WHERE id = ?1",
        )?
        .execute(params![
            id.0,
            changes.username.as_ref().map(|u| u.as_str()),
            changes.email.as_ref().map(|e| e.as_str()),
            changes.email.as_ref().map(|e| e.key()),
            password_hash,
            i64::from(password_hash.is_some()),
            changes.bio,
            changes.image,
            Timestamp::now().0,
        ])?;
    if updated == 0 {
        return Err(StoreError::NotFound(Entity::User));
    }
    by_id(tx, id)
}
