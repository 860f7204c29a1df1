//! Versioned SQL migrations, embedded in the binary from `sql/<backend>/`.
//!
//! A small runner of our own rather than refinery: each backend applies a
//! migration and records it in `schema_migrations` inside one transaction,
//! and the policy is ours to state: pending ones are applied in order, a
//! database newer than this binary is accepted (during a rollout old
//! processes meet new migrations, which are written expand-then-contract).
//!
//! Each applied migration is recorded with a SHA-256 checksum of its text.
//! A migration edited after it was applied would leave databases that ran
//! the old text and databases that ran the new one, silently different:
//! `serve` and `migrate` refuse to start then, naming the file
//! ([`verify`]). Rows recorded before checksums existed get theirs from the
//! next `migrate`.

use sha2::{Digest, Sha256};

/// One migration file, `V{version}__{name}.sql`.
#[derive(Clone, Copy, Debug)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Where each backend's migrations live, for messages.
pub const SQLITE_FOLDER: &str = "sql/sqlite";
pub const POSTGRES_FOLDER: &str = "sql/postgres";

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
    Migration {
        version: 4,
        name: "attempt_counts",
        sql: include_str!("../../sql/sqlite/V4__attempt_counts.sql"),
    },
    Migration {
        version: 5,
        name: "signed_out_tokens",
        sql: include_str!("../../sql/sqlite/V5__signed_out_tokens.sql"),
    },
    Migration {
        version: 6,
        name: "list_counts",
        sql: include_str!("../../sql/sqlite/V6__list_counts.sql"),
    },
    Migration {
        version: 7,
        name: "search",
        sql: include_str!("../../sql/sqlite/V7__search.sql"),
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
    Migration {
        version: 4,
        name: "attempt_counts",
        sql: include_str!("../../sql/postgres/V4__attempt_counts.sql"),
    },
    Migration {
        version: 5,
        name: "signed_out_tokens",
        sql: include_str!("../../sql/postgres/V5__signed_out_tokens.sql"),
    },
    Migration {
        version: 6,
        name: "list_counts",
        sql: include_str!("../../sql/postgres/V6__list_counts.sql"),
    },
    Migration {
        version: 7,
        name: "search",
        sql: include_str!("../../sql/postgres/V7__search.sql"),
    },
];

/// The table that records applied migrations (PostgreSQL).
pub const CREATE_HISTORY_POSTGRES: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (\
    version bigint PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL, checksum text)";

/// The table that records applied migrations (SQLite).
pub const CREATE_HISTORY_SQLITE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (\
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL, checksum TEXT)";

/// Adds `checksum` to a history table made before it existed (the same
/// statement on both backends); run only when the column is missing.
pub const ADD_CHECKSUM: &str = "ALTER TABLE schema_migrations ADD COLUMN checksum TEXT";

/// A row of `schema_migrations`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    pub version: i64,
    pub name: String,
    /// `None` for rows recorded before checksums existed.
    pub checksum: Option<String>,
}

impl Migration {
    /// SHA-256 of the text, hex; line endings are normalized so a checkout
    /// with CRLF line endings does not count as an edit.
    pub fn checksum(&self) -> String {
        let digest = Sha256::digest(self.sql.replace("\r\n", "\n").as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn file(&self, folder: &str) -> String {
        format!("{folder}/V{}__{}.sql", self.version, self.name)
    }
}

/// Refuses a database where a migration this binary knows was applied from
/// another text or under another name. `folder` (`sql/sqlite`) names the
/// file in the message. Versions this binary does not know are newer and
/// accepted; rows without a checksum are accepted (`migrate` fills them in).
pub fn verify(folder: &str, all: &[Migration], recorded: &[Recorded]) -> Result<(), String> {
    for row in recorded {
        let Some(known) = all.iter().find(|m| m.version == row.version) else {
            continue;
        };
        if row.name != known.name {
            return Err(format!(
                "migration {} was applied as V{}__{}.sql, but this release has {} \
                 under that version: a migration was renamed or replaced after it was applied",
                row.version,
                row.version,
                row.name,
                known.file(folder)
            ));
        }
        if let Some(checksum) = &row.checksum {
            if *checksum != known.checksum() {
                return Err(format!(
                    "{} was changed after it was applied (applied checksum {}, \
                     file now {}): restore the applied text and put the change in a new migration",
                    known.file(folder),
                    &checksum[..checksum.len().min(12)],
                    &known.checksum()[..12]
                ));
            }
        }
    }
    Ok(())
}

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

    fn recorded(all: &[Migration]) -> Vec<Recorded> {
        all.iter()
            .map(|m| Recorded {
                version: m.version,
                name: m.name.to_owned(),
                checksum: Some(m.checksum()),
            })
            .collect()
    }

    #[test]
    fn checksums_are_stable_hex_and_ignore_line_endings() {
        let lf = Migration {
            version: 1,
            name: "x",
            sql: "CREATE TABLE t (a int);\nSELECT 1;\n",
        };
        let crlf = Migration {
            sql: "CREATE TABLE t (a int);\r\nSELECT 1;\r\n",
            ..lf
        };
        assert_eq!(lf.checksum().len(), 64);
        assert_eq!(lf.checksum(), crlf.checksum());
        let edited = Migration {
            sql: "CREATE TABLE t (a bigint);\nSELECT 1;\n",
            ..lf
        };
        assert_ne!(lf.checksum(), edited.checksum());
    }

    #[test]
    fn an_edited_or_renamed_migration_is_refused_naming_its_file() {
        assert_eq!(verify("sql/sqlite", SQLITE, &recorded(SQLITE)), Ok(()));
        let mut edited = recorded(SQLITE);
        edited[1].checksum = Some("0".repeat(64));
        let error = verify("sql/sqlite", SQLITE, &edited).unwrap_err();
        assert!(
            error.starts_with("sql/sqlite/V2__read_models.sql was changed after it was applied"),
            "{error}"
        );
        let mut renamed = recorded(POSTGRES);
        renamed[0].name = "first".into();
        let error = verify("sql/postgres", POSTGRES, &renamed).unwrap_err();
        assert!(
            error.contains("V1__first.sql") && error.contains("sql/postgres/V1__initial.sql"),
            "{error}"
        );
    }

    #[test]
    fn newer_and_unchecked_migrations_are_accepted() {
        let mut rows = recorded(SQLITE);
        rows[0].checksum = None;
        rows.push(Recorded {
            version: latest(SQLITE) + 1,
            name: "from_a_newer_release".into(),
            checksum: Some("f".repeat(64)),
        });
        assert_eq!(verify("sql/sqlite", SQLITE, &rows), Ok(()));
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
