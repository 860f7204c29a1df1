//! `conduit config`: the effective configuration as TOML, secrets redacted.

use super::{Config, Secret};

impl Config {
    /// The configuration as TOML with every secret replaced by `<redacted>`.
    pub fn redacted_toml(&self) -> String {
        let redacted = |s: &Option<Secret>| s.as_ref().map(|_| Secret::new("<redacted>"));
        let shown = Config {
            database_url: Secret::new(format!("{:?}", self.database())),
            database_read_url: self.database_read_url.as_ref().map(|url| {
                Secret::new(match crate::store::DatabaseUrl::parse(url.expose()) {
                    Ok(parsed) => format!("{parsed:?}"),
                    Err(_) => "<redacted>".to_owned(),
                })
            }),
            secret: redacted(&self.secret),
            previous_secret: redacted(&self.previous_secret),
            // What the process will use, not just what was set.
            pool_size: Some(self.effective_pool_size()),
            ..self.clone()
        };
        toml_lines(&shown)
    }
}

/// Renders the config as TOML by hand: the `toml` serializer is not among
/// figment's public exports, and the structure is flat enough.
fn toml_lines(config: &Config) -> String {
    let value = serde_json::to_value(config).expect("config serializes to JSON");
    let mut top = String::new();
    let mut tables = String::new();
    if let serde_json::Value::Object(map) = value {
        for (key, value) in map {
            match value {
                serde_json::Value::Null => top.push_str(&format!("# {key} is not set\n")),
                serde_json::Value::Object(inner) => {
                    tables.push_str(&format!("\n[{key}]\n"));
                    for (k, v) in inner {
                        tables.push_str(&format!("{k} = {v}\n"));
                    }
                }
                other => top.push_str(&format!("{key} = {other}\n")),
            }
        }
    }
    top + &tables
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_in_debug_and_config_output() {
        let config = Config {
            secret: Some(Secret::new("s".repeat(40))),
            database_url: Secret::new("postgres://app:hunter2@db:5432/conduit"),
            ..Config::default()
        };
        let shown = config.redacted_toml();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains(&"s".repeat(40)), "{shown}");
        assert!(
            shown.contains("postgres://app:***@db:5432/conduit"),
            "{shown}"
        );
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
