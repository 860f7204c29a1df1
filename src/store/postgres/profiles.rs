//! Profiles on PostgreSQL: a user as others see them, following and
//! unfollowing.

use postgres::{Client, GenericClient, Transaction};

use super::{viewer_id, Session};
use crate::domain::views::Profile;
use crate::domain::UserId;
use crate::store::{Entity, StoreError, StoreResult};

pub(super) fn profile(
    s: &mut Session<'_, Client>,
    viewer: Option<UserId>,
    username: &str,
) -> StoreResult<Profile> {
    let row = s.found(
        "SELECT u.username, u.bio, u.image, \
         EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = $1 AND f.followee_id = u.id) \
         FROM users u WHERE lower(u.username) = lower($2)",
        &[&viewer_id(viewer), &username],
        Entity::Profile,
    )?;
    Ok(Profile {
        username: row.get(0),
        bio: row.get(1),
        image: row.get(2),
        following: row.get(3),
    })
}

pub(super) fn follow(
    s: &mut Session<'_, Transaction<'_>>,
    follower: UserId,
    username: &str,
) -> StoreResult<Profile> {
    let (id, mut profile) = user_by_name(s, username)?;
    if id == follower.0 {
        return Err(StoreError::Invalid("you cannot follow yourself".into()));
    }
    s.execute(
        "INSERT INTO follows (follower_id, followee_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[&follower.0, &id],
    )?;
    profile.following = true;
    Ok(profile)
}

pub(super) fn unfollow(
    s: &mut Session<'_, Transaction<'_>>,
    follower: UserId,
    username: &str,
) -> StoreResult<Profile> {
    let (id, profile) = user_by_name(s, username)?;
    s.execute(
        "DELETE FROM follows WHERE follower_id = $1 AND followee_id = $2",
        &[&follower.0, &id],
    )?;
    Ok(profile)
}

/// `(id, profile without following)` of `username`, any case.
fn user_by_name<C: GenericClient>(
    s: &mut Session<'_, C>,
    username: &str,
) -> StoreResult<(i64, Profile)> {
    let row = s.found(
        "SELECT id, username, bio, image FROM users WHERE lower(username) = lower($1)",
        &[&username],
        Entity::Profile,
    )?;
    Ok((
        row.get(0),
        Profile {
            username: row.get(1),
            bio: row.get(2),
            image: row.get(3),
            following: false,
        },
    ))
}
