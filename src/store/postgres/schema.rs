//! Schema and settings on PostgreSQL: applying migrations, reading the
//! migration history, and the settings table.

use postgres::{Client, GenericClient, Transaction};

use super::Session;
use crate::store::{migrate, AppliedMigration, StoreError, StoreResult};

/// Key of the advisory lock that serializes `conduit migrate` runs.
const MIGRATION_LOCK: i64 = 0x0063_6f6e_6475_6974; // "conduit" in ASCII

pub(super) fn migrate(s: &mut Session<'_, Transaction<'_>>) -> StoreResult<Vec<AppliedMigration>> {
    // Held until commit: concurrent migrators wait here, then find
    // nothing pending.
    // Migrations take as long as they take; waiting for the lock too.
    s.client.batch_execute("SET LOCAL statement_timeout = 0")?;
    s.client
        .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    s.client.batch_execute(migrate::CREATE_HISTORY_POSTGRES)?;
    // Only when missing: the ALTER would lock the history table
    // for the rest of the transaction even as a no-op.
    let has_checksum: bool = s
        .client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = \
             to_regclass('schema_migrations') AND attname = 'checksum' AND NOT attisdropped)",
            &[],
        )?
        .get(0);
    if !has_checksum {
        s.client.batch_execute(migrate::ADD_CHECKSUM)?;
    }
    let recorded = recorded_migrations(s.client)?;
    migrate::verify(migrate::POSTGRES_FOLDER, migrate::POSTGRES, &recorded)
        .map_err(StoreError::Schema)?;
    for m in migrate::POSTGRES {
        s.client.execute(
            "UPDATE schema_migrations SET checksum = $2 WHERE version = $1 AND checksum IS NULL",
            &[&m.version, &m.checksum()],
        )?;
    }
    let current = recorded.iter().map(|r| r.version).max().unwrap_or(0);
    let mut applied = Vec::new();
    for m in migrate::pending(migrate::POSTGRES, current) {
        s.client.batch_execute(m.sql)?;
        s.client.execute(
            "INSERT INTO schema_migrations (version, name, applied_at, checksum) \
             VALUES ($1, $2, now(), $3)",
            &[&m.version, &m.name, &m.checksum()],
        )?;
        applied.push(AppliedMigration {
            version: m.version,
            name: m.name.to_owned(),
        });
    }
    Ok(applied)
}

pub(super) fn applied_migrations(
    s: &mut Session<'_, Client>,
) -> StoreResult<Vec<migrate::Recorded>> {
    let exists: bool = s
        .client
        .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])?
        .get(0);
    if !exists {
        return Ok(Vec::new());
    }
    recorded_migrations(s.client)
}

/// The rows of `schema_migrations`. Read through `to_jsonb` so the query
/// works before `checksum` exists (a release older than checksums may
/// have migrated this database last).
fn recorded_migrations(client: &mut impl GenericClient) -> StoreResult<Vec<migrate::Recorded>> {
    let rows = client.query(
        "SELECT version, name, to_jsonb(m) ->> 'checksum' FROM schema_migrations m ORDER BY version",
        &[],
    )?;
    Ok(rows
        .iter()
        .map(|r| migrate::Recorded {
            version: r.get(0),
            name: r.get(1),
            checksum: r.get(2),
        })
        .collect())
}

pub(super) fn setting_or_insert(
    s: &mut Session<'_, Transaction<'_>>,
    key: &str,
    candidate: &str,
) -> StoreResult<String> {
    s.execute(
        "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        &[&key, &candidate],
    )?;
    Ok(s.one("SELECT value FROM settings WHERE key = $1", &[&key])?
        .get(0))
}
