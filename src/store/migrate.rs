//! Versioned SQL migrations, embedded in the binary from `sql/<backend>/`.
//!
//! A small runner of our own rather than refinery: each backend applies a
//! migration and records it in `schema_migrations` inside one transaction,
//! and the policy is ours to state: pending ones are applied in order, a
//! database newer than this binary is accepted (during a rollout old
//! processes meet new migrations, which are written expand-then-contract).

/// One migration file, `V{version}__{name}.sql`.
#[derive(Clone, Copy, Debug)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// The SQLite migrations, oldest first.
pub const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../../sql/sqlite/V1__initial.sql"),
    },
    Migration {
        version: 2,
        name: "read_models",
        sql: include_str!("../../sql/sqlite/V2__read_models.sql"),
    },
    Migration {
        version: 3,
        name: "sorted_tags",
        sql: include_str!("../../sql/sqlite/V3__sorted_tags.sql"),
    },
];

/// The PostgreSQL migrations, oldest first (same versions as SQLite's).
pub const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../../sql/postgres/V1__initial.sql"),
    },
    Migration {
        version: 2,
        name: "read_models",
        sql: include_str!("../../sql/postgres/V2__read_models.sql"),
    },
    Migration {
        version: 3,
        name: "sorted_tags",
        sql: include_str!("../../sql/postgres/V3__sorted_tags.sql"),
    },
];

/// The table that records applied migrations (PostgreSQL).
pub const CREATE_HISTORY_POSTGRES: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (\
    version bigint PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)";

/// The table that records applied migrations (SQLite).
pub const CREATE_HISTORY_SQLITE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (\
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)";

/// Migrations newer than `current`, oldest first.
pub fn pending(
    all: &'static [Migration],
    current: i64,
) -> impl Iterator<Item = &'static Migration> {
    all.iter().filter(move |m| m.version > current)
}

/// The newest version this binary knows.
pub fn latest(all: &[Migration]) -> i64 {
    all.iter().map(|m| m.version).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file under `sql/<backend>/` is listed, in order, and nothing else.
    #[test]
    fn embedded_lists_match_the_sql_folders() {
        check_folder("sqlite", SQLITE);
        check_folder("postgres", POSTGRES);
        let versions = |all: &[Migration]| all.iter().map(|m| m.version).collect::<Vec<_>>();
        assert_eq!(
            versions(SQLITE),
            versions(POSTGRES),
            "backends move in step"
        );
    }

    fn check_folder(backend: &str, list: &[Migration]) {
        let dir = format!("{}/sql/{backend}", env!("CARGO_MANIFEST_DIR"));
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .expect("sql/sqlite exists")
            .map(|e| {
                e.expect("readable entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|name| name.ends_with(".sql"))
            .collect();
        files.sort_by_key(|name| {
            name.trim_start_matches('V')
                .split("__")
                .next()
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(i64::MAX)
        });
        let listed: Vec<String> = list
            .iter()
            .map(|m| format!("V{}__{}.sql", m.version, m.name))
            .collect();
        assert_eq!(files, listed, "{backend}");
        assert!(list.windows(2).all(|w| w[0].version < w[1].version));
    }

    #[test]
    fn pending_skips_what_is_applied() {
        assert_eq!(pending(SQLITE, 0).count(), SQLITE.len());
        assert_eq!(pending(SQLITE, latest(SQLITE)).count(), 0);
        assert_eq!(
            pending(SQLITE, latest(SQLITE) + 5).count(),
            0,
            "newer schema accepted"
        );
    }
}
