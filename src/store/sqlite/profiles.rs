//! Profiles on SQLite: a user as others see them, following and unfollowing.

use rusqlite::{params, Connection, Transaction};

use super::found;
use crate::domain::views::Profile;
use crate::domain::UserId;
use crate::store::{Entity, StoreError, StoreResult};

pub(super) fn profile(
    conn: &Connection,
    viewer: Option<UserId>,
    username: &str,
) -> StoreResult<Profile> {
    let viewer = viewer.map(|v| v.0);
    let row = conn
        .prepare_cached(
            "SELECT u.username, u.bio, u.image, \
             EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = ?1 AND f.followee_id = u.id) \
             FROM users u WHERE u.username = ?2 COLLATE NOCASE",
        )?
        .query_row(params![viewer, username], |row| {
            Ok(Profile {
                username: row.get(0)?,
                bio: row.get(1)?,
                image: row.get(2)?,
                following: row.get(3)?,
            })
        });
    found(row, Entity::Profile)
}

pub(super) fn follow(
    tx: &Transaction<'_>,
    follower: UserId,
    username: &str,
) -> StoreResult<Profile> {
    let (id, mut profile) = user_by_name(tx, username)?;
    if id == follower.0 {
        return Err(StoreError::Invalid("you cannot follow yourself".into()));
    }
    tx.prepare_cached(
        "INSERT INTO follows (follower_id, followee_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
    )?
    .execute(params![follower.0, id])?;
    profile.following = true;
    Ok(profile)
}

pub(super) fn unfollow(
    tx: &Transaction<'_>,
    follower: UserId,
    username: &str,
) -> StoreResult<Profile> {
    let (id, profile) = user_by_name(tx, username)?;
    tx.prepare_cached("DELETE FROM follows WHERE follower_id = ?1 AND followee_id = ?2")?
        .execute(params![follower.0, id])?;
    Ok(profile)
}

/// `(id, username, bio, image)` of the user named `username`, any case.
fn user_by_name(conn: &Connection, username: &str) -> StoreResult<(i64, Profile)> {
    let row = conn
        .prepare_cached(
            "SELECT id, username, bio, image FROM users WHERE username = ?1 COLLATE NOCASE",
        )?
        .query_row([username], |row| {
            Ok((
                row.get(0)?,
                Profile {
                    username: row.get(1)?,
                    bio: row.get(2)?,
                    image: row.get(3)?,
                    following: false,
                },
            ))
        });
    found(row, Entity::Profile)
}
