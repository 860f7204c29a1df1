//! Schema and settings on SQLite: applying migrations, reading the
//! migration history, and the settings table.

use rusqlite::{params, Connection, Transaction, TransactionBehavior};

use crate::domain::views::Timestamp;
use crate::store::{migrate, AppliedMigration, StoreError, StoreResult};

/// Applies pending migrations on `conn`, which should have no statement
/// deadline.
pub(super) fn migrate(conn: &mut Connection) -> StoreResult<Vec<AppliedMigration>> {
    conn.execute_batch(migrate::CREATE_HISTORY_SQLITE)?;
    // One immediate transaction: a second migrator waits for the first
    // and then finds nothing pending.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if !has_checksum_column(&tx)? {
        tx.execute_batch(migrate::ADD_CHECKSUM)?;
    }
    let recorded = recorded_migrations(&tx)?;
    migrate::verify(migrate::SQLITE_FOLDER, migrate::SQLITE, &recorded)
        .map_err(StoreError::Schema)?;
    for m in migrate::SQLITE {
        tx.execute(
            "UPDATE schema_migrations SET checksum = ?2 WHERE version = ?1 AND checksum IS NULL",
            params![m.version, m.checksum()],
        )?;
    }
    let current = recorded.iter().map(|r| r.version).max().unwrap_or(0);
    let mut applied = Vec::new();
    for m in migrate::pending(migrate::SQLITE, current) {
        tx.execute_batch(m.sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at, checksum) \
             VALUES (?1, ?2, ?3, ?4)",
            params![m.version, m.name, Timestamp::now().0, m.checksum()],
        )?;
        applied.push(AppliedMigration {
            version: m.version,
            name: m.name.to_owned(),
        });
    }
    tx.commit()?;
    Ok(applied)
}

pub(super) fn applied_migrations(conn: &Connection) -> StoreResult<Vec<migrate::Recorded>> {
    let exists: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations')",
        [],
        |r| r.get(0),
    )?;
    if !exists {
        return Ok(Vec::new());
    }
    recorded_migrations(conn)
}

/// Whether `schema_migrations` has its `checksum` column yet.
fn has_checksum_column(conn: &Connection) -> StoreResult<bool> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM pragma_table_info('schema_migrations') WHERE name = 'checksum')",
        [],
        |r| r.get(0),
    )?)
}

/// The rows of `schema_migrations`, whether or not it has `checksum` yet.
fn recorded_migrations(conn: &Connection) -> StoreResult<Vec<migrate::Recorded>> {
    let sql = if has_checksum_column(conn)? {
        "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
    } else {
        "SELECT version, name, NULL FROM schema_migrations ORDER BY version"
    };
    let mut statement = conn.prepare(sql)?;
    let rows = statement.query_map([], |r| {
        Ok(migrate::Recorded {
            version: r.get(0)?,
            name: r.get(1)?,
            checksum: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn setting_or_insert(
    tx: &Transaction<'_>,
    key: &str,
    candidate: &str,
) -> StoreResult<String> {
    tx.execute(
        "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
        params![key, candidate],
    )?;
    Ok(
        tx.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
            r.get(0)
        })?,
    )
}
