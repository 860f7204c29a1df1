//! Reading the layers: defaults, then the TOML file, then `CONDUIT_*`
//! environment variables; and which variables are settings at all.

use std::path::PathBuf;
use std::sync::LazyLock;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;

use super::Config;

/// What every setting's environment variable starts with.
const ENV_PREFIX: &str = "CONDUIT_";

/// Variables under the prefix that are not settings, read elsewhere: the
/// config file's path (by [`ConfigFile::choose`]) and the revision a build
/// records (by `build.rs`).
const NOT_SETTINGS: [&str; 2] = ["CONDUIT_CONFIG", "CONDUIT_GIT_REVISION"];

/// The test suites' own variables (`CONDUIT_TEST_POSTGRES_URL`, ...),
/// which a developer's shell may hold while it also runs the server.
const TEST_PREFIX: &str = "CONDUIT_TEST_";

/// Every top-level key, read off the serialized defaults so it cannot drift
/// from the struct. The environment layer reads only these: any other
/// `CONDUIT_*` variable was refused by [`check_environment`] unless it is
/// one of the few that are not settings.
static KNOWN_KEYS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut keys: Vec<String> = setting_names()
        .into_iter()
        .filter_map(|name| name.split('.').next().map(str::to_owned))
        .collect();
    keys.dedup();
    keys
});

/// Every setting's full key (`listen`, `scrypt.log_n`, ...), from the
/// serialized defaults: unset options serialize as `null`, so none is missed.
pub fn setting_names() -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(Config::default()) {
        for (key, value) in map {
            match value {
                serde_json::Value::Object(inner) => {
                    names.extend(inner.keys().map(|k| format!("{key}.{k}")));
                }
                _ => names.push(key),
            }
        }
    }
    names
}

/// The environment variable that sets a key: `scrypt.log_n` is
/// `CONDUIT_SCRYPT__LOG_N`.
pub fn env_name(key: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        key.replace('.', "__").to_ascii_uppercase()
    )
}

/// Where to look for the TOML file.
pub enum ConfigFile {
    /// `conduit.toml` in the working directory, if it exists.
    Default,
    /// Named with `--config` or `CONDUIT_CONFIG`: it must exist.
    Explicit(PathBuf),
}

impl ConfigFile {
    /// `--config` wins over `CONDUIT_CONFIG`, which wins over the default.
    pub fn choose(flag: Option<PathBuf>) -> Self {
        match flag.or_else(|| std::env::var_os("CONDUIT_CONFIG").map(PathBuf::from)) {
            Some(path) => ConfigFile::Explicit(path),
            None => ConfigFile::Default,
        }
    }
}

impl Config {
    /// Reads every layer and validates the result.
    ///
    /// Errors name the offending key, e.g. `secret: must be at least 32 bytes`.
    pub fn load(file: ConfigFile) -> Result<Config, String> {
        let path = match &file {
            ConfigFile::Default => PathBuf::from("conduit.toml"),
            ConfigFile::Explicit(path) => {
                if !path.is_file() {
                    return Err(format!("config file {} not found", path.display()));
                }
                path.clone()
            }
        };
        check_environment(std::env::vars_os())?;
        Self::from_figment(
            Figment::from(Serialized::defaults(Config::default()))
                .merge(opentelemetry_env())
                .merge(Toml::file(&path))
                .merge(env_provider()),
        )
    }

    /// Extracts and validates a config from any set of providers (tests use
    /// this with in-memory values).
    pub fn from_figment(figment: Figment) -> Result<Config, String> {
        let config: Config = figment.extract().map_err(describe_figment_error)?;
        config.validate()?;
        Ok(config)
    }
}

/// OpenTelemetry's standard variables, below `conduit.toml` and the
/// `CONDUIT_*` variables: the same image can be pointed at a collector the
/// way every other instrumented service is.
fn opentelemetry_env() -> Env {
    Env::raw()
        .only(&["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SERVICE_NAME"])
        .map(|key| {
            if key == "OTEL_SERVICE_NAME" {
                "tracing.service_name".into()
            } else {
                "tracing.endpoint".into()
            }
        })
}

fn env_provider() -> Env {
    Env::prefixed(ENV_PREFIX).split("__").filter(|key| {
        // Keys arrive in their original case; compare lowercased.
        let key = key.as_str().to_ascii_lowercase();
        KNOWN_KEYS
            .iter()
            .any(|known| key == *known || key.starts_with(&format!("{known}.")))
    })
}

/// Refuses a `CONDUIT_*` variable that names no setting, as the TOML file
/// refuses an unknown key: a typo in a manifest would otherwise be ignored
/// in silence. The message names the closest setting.
fn check_environment(
    vars: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
) -> Result<(), String> {
    let known: Vec<String> = setting_names().iter().map(|key| env_name(key)).collect();
    let mut unknown: Vec<String> = vars
        .into_iter()
        .filter_map(|(name, _)| name.into_string().ok())
        .filter(|name| {
            name.starts_with(ENV_PREFIX)
                && !name.starts_with(TEST_PREFIX)
                && !NOT_SETTINGS.contains(&name.as_str())
                && !known.contains(name)
        })
        .collect();
    unknown.sort();
    match unknown.first() {
        None => Ok(()),
        Some(name) => Err(unknown_variable(name, &known)),
    }
}

/// Why `name` is refused, and what was probably meant.
fn unknown_variable(name: &str, known: &[String]) -> String {
    if is_service_link(name) {
        return format!(
            "{name} is not a setting: Kubernetes sets it for a Service of a similar \
             name; set `enableServiceLinks: false` in the pod spec"
        );
    }
    // Close enough to be a typo: at most about a third of the name differs.
    let typed = &name[ENV_PREFIX.len()..];
    let closest = known
        .iter()
        .map(|candidate| {
            (
                edit_distance(typed, &candidate[ENV_PREFIX.len()..]),
                candidate,
            )
        })
        .min()
        .filter(|(distance, _)| *distance <= typed.len() / 3 + 1);
    match closest {
        Some((_, candidate)) => {
            let key = candidate[ENV_PREFIX.len()..]
                .to_ascii_lowercase()
                .replace("__", ".");
            format!("{name} is not a setting; did you mean {candidate} ({key})?")
        }
        None => format!("{name} is not a setting; `conduit config` shows them all"),
    }
}

/// The variables the kubelet injects for every Service in the namespace
/// unless the pod says `enableServiceLinks: false`: `<NAME>_SERVICE_HOST`,
/// `<NAME>_SERVICE_PORT[_<PORT>]`, `<NAME>_PORT` and
/// `<NAME>_PORT_<n>_<PROTO>[_PROTO|_PORT|_ADDR]`.
fn is_service_link(name: &str) -> bool {
    if name.ends_with("_SERVICE_HOST")
        || name.ends_with("_SERVICE_PORT")
        || name.contains("_SERVICE_PORT_")
        || name.ends_with("_PORT")
    {
        return true;
    }
    let parts: Vec<&str> = name.split('_').collect();
    parts.windows(3).any(|w| {
        w[0] == "PORT"
            && !w[1].is_empty()
            && w[1].bytes().all(|b| b.is_ascii_digit())
            && matches!(w[2], "TCP" | "UDP" | "SCTP")
    })
}

/// Levenshtein distance, for suggestions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

fn describe_figment_error(error: figment::Error) -> String {
    let mut messages = Vec::new();
    for e in error {
        let key = e.path.join(".");
        if key.is_empty() {
            messages.push(e.kind.to_string());
        } else {
            messages.push(format!("{key}: {}", e.kind));
        }
    }
    messages.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DatabaseUrl;

    #[allow(clippy::result_large_err)] // figment's own error type, in tests only
    fn load_with(toml: &str, env: &[(&str, &str)]) -> Result<Config, String> {
        let mut loaded = None;
        figment::Jail::expect_with(|jail| {
            jail.create_file("conduit.toml", toml)?;
            for (key, value) in env {
                jail.set_env(key, value);
            }
            loaded = Some(Config::load(ConfigFile::Default));
            Ok(())
        });
        loaded.expect("the jail ran the closure")
    }

    #[test]
    fn defaults_need_no_file_and_no_environment() {
        let config = Config::from_figment(Figment::from(Serialized::defaults(Config::default())))
            .expect("defaults are valid");
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(
            config.database(),
            DatabaseUrl::Sqlite(PathBuf::from("conduit.db"))
        );
        assert_eq!(config.token_lifetime_secs, 14 * 24 * 3600);
        assert_eq!(config.max_body_bytes, 2 * 1024 * 1024);
    }

    #[test]
    fn the_pool_defaults_to_one_connection_per_cpu_on_sqlite_and_8_on_postgres() {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 16));
        let sqlite = load_with("", &[]).expect("defaults");
        assert_eq!(sqlite.effective_pool_size() as usize, cpus);
        let postgres = load_with(
            "",
            &[
                ("CONDUIT_DATABASE_URL", "postgres://u@h/db"),
                ("CONDUIT_SECRET", "a-secret-of-at-least-thirty-two-bytes"),
            ],
        )
        .expect("postgres");
        assert_eq!(postgres.effective_pool_size(), 8);
        let set = load_with("pool_size = 3\n", &[]).expect("set");
        assert_eq!(set.effective_pool_size(), 3, "an explicit size wins");
        assert!(
            sqlite
                .redacted_toml()
                .contains(&format!("pool_size = {cpus}\n")),
            "`conduit config` shows the size in effect"
        );
    }

    #[test]
    fn opentelemetry_variables_set_tracing_below_the_file_and_conduit_variables() {
        let standard = &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            ("OTEL_SERVICE_NAME", "blog"),
        ];
        let config = load_with("", standard).expect("standard variables");
        assert_eq!(config.tracing.endpoint, "http://collector:4318");
        assert_eq!(config.tracing.service_name, "blog");
        assert!(config.tracing.enabled());
        let config =
            load_with("[tracing]\nservice_name = \"from-file\"\n", standard).expect("file");
        assert_eq!(config.tracing.service_name, "from-file");
        let mut ours = standard.to_vec();
        ours.push(("CONDUIT_TRACING__ENDPOINT", "https://other:4318"));
        ours.push(("CONDUIT_TRACING__SAMPLE_RATIO", "0.25"));
        let config = load_with("", &ours).expect("ours");
        assert_eq!(config.tracing.endpoint, "https://other:4318");
        assert_eq!(config.tracing.sample_ratio, 0.25);
        assert!(
            !load_with("", &[]).expect("defaults").tracing.enabled(),
            "off by default"
        );
        for (key, value, message) in [
            (
                "CONDUIT_TRACING__SAMPLE_RATIO",
                "1.5",
                "tracing.sample_ratio",
            ),
            (
                "CONDUIT_TRACING__ENDPOINT",
                "collector:4318",
                "tracing.endpoint",
            ),
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "ftp://collector",
                "tracing.endpoint",
            ),
        ] {
            let error = load_with("", &[(key, value)]).expect_err(value);
            assert!(error.contains(message), "{error}");
        }
    }

    #[test]
    fn environment_overrides_file_which_overrides_defaults() {
        let config = load_with(
            "listen = \"127.0.0.1:9000\"\npool_size = 3\n[scrypt]\nlog_n = 10\nr = 8\np = 1\n",
            &[
                ("CONDUIT_LISTEN", "0.0.0.0:8081"),
                ("CONDUIT_SCRYPT__LOG_N", "12"),
                ("CONDUIT_CONFIG", "ignored-here"),
                ("CONDUIT_TEST_POSTGRES_URL", "postgres://x"),
            ],
        )
        .expect("valid layers");
        assert_eq!(config.listen.to_string(), "0.0.0.0:8081");
        assert_eq!(
            config.pool_size,
            Some(3),
            "file value kept when env is silent"
        );
        assert_eq!(config.scrypt.log_n, 12, "nested env key with __");
    }

    #[test]
    fn unknown_environment_variables_are_refused_naming_the_closest_setting() {
        let cases = [
            (
                "CONDUIT_POOLSIZE",
                "did you mean CONDUIT_POOL_SIZE (pool_size)?",
            ),
            (
                "CONDUIT_DRAIN_SEC",
                "did you mean CONDUIT_DRAIN_SECS (drain_secs)?",
            ),
            (
                "CONDUIT_SCRYPT_LOG_N",
                "did you mean CONDUIT_SCRYPT__LOG_N (scrypt.log_n)?",
            ),
            (
                "CONDUIT_LIMITS__WINDOW",
                "did you mean CONDUIT_LIMITS__WINDOW_SECS (limits.window_secs)?",
            ),
            (
                "CONDUIT_FAVOURITE_COLOUR",
                "`conduit config` shows them all",
            ),
            (
                "CONDUIT_SERVICE_HOST",
                "`enableServiceLinks: false` in the pod spec",
            ),
            (
                "CONDUIT_PORT",
                "`enableServiceLinks: false` in the pod spec",
            ),
            (
                "CONDUIT_PORT_8080_TCP_ADDR",
                "`enableServiceLinks: false` in the pod spec",
            ),
            (
                "CONDUIT_METRICS_SERVICE_PORT_HTTP",
                "`enableServiceLinks: false` in the pod spec",
            ),
        ];
        for (name, hint) in cases {
            let error = load_with("", &[(name, "1")]).expect_err(name);
            assert!(
                error.starts_with(&format!("{name} is not a setting")) && error.ends_with(hint),
                "{name}: {error}"
            );
        }
        for not_a_setting in ["CONDUIT_CONFIG", "CONDUIT_GIT_REVISION", "CONDUIT_TEST_X"] {
            let env = [(not_a_setting, "x")];
            assert!(load_with("", &env).is_ok(), "{not_a_setting} is left alone");
        }
    }

    #[test]
    fn invalid_values_name_their_key() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case] = &[
            ("", &[("CONDUIT_LISTEN", "nope")], "listen"),
            ("", &[("CONDUIT_SECRET", "short")], "secret"),
            ("", &[("CONDUIT_DATABASE_URL", "mysql://x")], "database_url"),
            (
                "",
                &[("CONDUIT_DATABASE_READ_URL", "postgres://replica/db")],
                "database_read_url",
            ),
            (
                "",
                &[
                    ("CONDUIT_DATABASE_URL", "postgres://primary/db"),
                    ("CONDUIT_DATABASE_READ_URL", "sqlite://copy.db"),
                ],
                "database_read_url",
            ),
            ("", &[("CONDUIT_POOL_SIZE", "0")], "pool_size"),
            ("", &[("CONDUIT_SCRYPT__LOG_N", "40")], "scrypt.log_n"),
            ("lisen = \"x\"\n", &[], "lisen"),
        ];
        for (toml, env, key) in cases {
            let error = load_with(toml, env).expect_err(&format!("{key} should be rejected"));
            assert!(error.contains(key), "error {error:?} should name {key}");
        }
    }

    #[test]
    fn the_manifest_checks_know_every_setting_and_no_other() {
        let mut expected: Vec<String> = setting_names().iter().map(|k| env_name(k)).collect();
        expected.sort();
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/k8s/checks/settings.txt");
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let mut listed: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        listed.sort_unstable();
        assert_eq!(
            listed,
            expected,
            "k8s/checks/settings.txt must list exactly these (one per line):\n{}",
            expected.join("\n")
        );
        assert_eq!(env_name("scrypt.log_n"), "CONDUIT_SCRYPT__LOG_N");
        assert!(KNOWN_KEYS.iter().any(|k| k == "limits"));
        assert_eq!(KNOWN_KEYS.len(), 30, "one per field of Config");
    }
}
