//! Where a configuration value came from, and the keys nothing reads.
//!
//! serde ignores fields it does not know, so a misspelt key in `ollama-dash.toml` or a misspelt
//! `OLLAMA_DASH_*` variable would change nothing, silently. [`KnownKeys::unknown`] walks the
//! merged figment and reports each key no part of the program reads, with where it was set and
//! the nearest known key (edit distance). The known keys are derived from the config structs
//! themselves (their serialised defaults and the fields their `Deserialize` asks for), so the
//! list cannot drift from what is read.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use figment::value::Value;
use figment::{Figment, Metadata, Profile, Source};
use serde::de::{self, Deserialize, Deserializer, Visitor};

use super::DashboardConfig;

/// Keys read from a variable of their own name, not `OLLAMA_DASH_<KEY>`.
const WELL_KNOWN: [&str; 3] = ["ollama_host", "data_path", "auth_token"];

/// Prefix of every other variable.
const ENV_PREFIX: &str = "OLLAMA_DASH_";

/// The keys the program reads, in the file and in the environment.
#[derive(Debug, Clone, Default)]
pub struct KnownKeys {
    /// Top-level keys.
    top: BTreeSet<String>,
    /// Arrays of tables (`[[nodes]]`): the keys each element may have.
    tables: BTreeMap<String, BTreeSet<String>>,
    /// `OLLAMA_DASH_*` variables read by something other than the config (the client's
    /// `OLLAMA_DASH_URL`, …): not unknown, just not ours.
    other_env: BTreeSet<String>,
}

impl KnownKeys {
    /// The library's keys: every field of [`DashboardConfig`] (its flattened parts included)
    /// and of each `[[nodes]]` entry.
    pub fn dashboard() -> Self {
        let mut keys = Self::default();
        // The serialised defaults, not `fields`: a flattened struct asks for a map, not fields.
        if let Ok(serde_json::Value::Object(map)) =
            serde_json::to_value(DashboardConfig::with_data_path("data"))
        {
            keys.top.extend(map.keys().cloned());
        }
        keys.with_table::<crate::fleet::NodeConfig>("nodes")
    }

    /// Adds the fields of `T` as top-level keys (a plain struct: no `flatten`).
    pub fn with_fields<'de, T: Deserialize<'de>>(mut self) -> Self {
        self.top
            .extend(fields::<T>().into_iter().map(str::to_owned));
        self
    }

    /// Adds `key` as an array of tables whose entries have the fields of `T`.
    pub fn with_table<'de, T: Deserialize<'de>>(mut self, key: &str) -> Self {
        self.top.insert(key.to_owned());
        self.tables.insert(
            key.to_owned(),
            fields::<T>().into_iter().map(str::to_owned).collect(),
        );
        self
    }

    /// Adds `OLLAMA_DASH_*` variables that something else reads (e.g. the client's).
    pub fn with_other_env<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.other_env.extend(names.into_iter().map(Into::into));
        self
    }

    /// Whether `key` is a top-level key.
    pub fn contains(&self, key: &str) -> bool {
        self.top.contains(key)
    }

    /// Every key set in the file or the environment that nothing reads, in key order. Values
    /// set by code (the defaults) are never reported; a figment that does not load reports
    /// nothing (its extraction names the error).
    pub fn unknown(&self, figment: &Figment) -> Vec<Unknown> {
        let Ok(Value::Dict(_, root)) = figment.find_value("") else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for (key, value) in &root {
            let Some(metadata) = figment.get_metadata(value.tag()) else {
                continue;
            };
            if !self.top.contains(key) {
                found.extend(self.unknown_top(figment.profile(), metadata, key));
                continue;
            }
            let (Some(known), Value::Array(_, entries)) = (self.tables.get(key), value) else {
                continue;
            };
            for (i, entry) in entries.iter().enumerate() {
                let Value::Dict(_, entry) = entry else {
                    continue;
                };
                for (field, value) in entry {
                    if known.contains(field) {
                        continue;
                    }
                    let Some(Origin::File(path)) = figment
                        .get_metadata(value.tag())
                        .and_then(|m| origin(m, figment.profile(), &[key.as_str(), field]))
                    else {
                        continue;
                    };
                    found.push(Unknown {
                        key: format!("{key}[{i}].{field}"),
                        source: path,
                        nearest: nearest(field, known).map(|n| format!("{key}[{i}].{n}")),
                    });
                }
            }
        }
        found
    }

    fn unknown_top(&self, profile: &Profile, metadata: &Metadata, key: &str) -> Option<Unknown> {
        match origin(metadata, profile, &[key])? {
            Origin::File(path) => Some(Unknown {
                key: key.to_owned(),
                source: path,
                nearest: nearest(key, &self.top).map(str::to_owned),
            }),
            Origin::Env(name) if self.other_env.contains(&name) => None,
            Origin::Env(name) => Some(Unknown {
                key: name,
                source: "the environment".to_owned(),
                nearest: nearest(key, &self.top).map(env_name),
            }),
        }
    }
}

/// A key set in the file or the environment that nothing reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unknown {
    /// As the user wrote it: `pull_timout_secs` or `nodes[0].nmae` in a file,
    /// `OLLAMA_DASH_PULL_TIMOUT_SECS` in the environment.
    pub key: String,
    /// Where: the file's path, or `the environment`.
    pub source: String,
    /// The nearest known key, spelt the same way (a variable name for a variable).
    pub nearest: Option<String>,
}

impl fmt::Display for Unknown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown configuration key `{}` in {} (ignored)",
            self.key, self.source
        )?;
        match &self.nearest {
            Some(nearest) => write!(f, "; did you mean `{nearest}`?"),
            None => Ok(()),
        }
    }
}

/// Logs a warning for each unknown key of `figment` (see [`KnownKeys::unknown`]).
pub fn warn_unknown(figment: &Figment, known: &KnownKeys) {
    for unknown in known.unknown(figment) {
        tracing::warn!("{unknown}");
    }
}

/// Where a value was set by the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// In this file.
    File(String),
    /// By this environment variable.
    Env(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(path) => write!(f, "set in {path}"),
            Origin::Env(name) => write!(f, "set by the environment variable {name}"),
        }
    }
}

/// Where the value at `path` of a provider with `metadata` came from: a file or a variable
/// (`None` for values set by code: the defaults, `OLLAMA_DASH_NODES` parsed by us).
pub(crate) fn origin<K: AsRef<str>>(
    metadata: &Metadata,
    profile: &Profile,
    path: &[K],
) -> Option<Origin> {
    if let Some(Source::File(file)) = &metadata.source {
        return Some(Origin::File(file.display().to_string()));
    }
    if !metadata.name.contains("environment variable") {
        return None;
    }
    // figment names a prefixed provider "`PREFIX_` environment variable(s)", and its
    // interpolation gives the rest of the name (upper case).
    let prefix = metadata
        .name
        .strip_prefix('`')
        .and_then(|rest| rest.split_once('`'))
        .map_or("", |(prefix, _)| prefix);
    Some(Origin::Env(format!(
        "{prefix}{}",
        metadata.interpolate(profile, path)
    )))
}

/// The variable that sets `key`.
fn env_name(key: &str) -> String {
    if WELL_KNOWN.contains(&key) {
        key.to_ascii_uppercase()
    } else {
        format!("{ENV_PREFIX}{}", key.to_ascii_uppercase())
    }
}

/// The known key nearest to `key` by edit distance (the first of equals, in key order).
fn nearest<'a>(key: &str, known: &'a BTreeSet<String>) -> Option<&'a str> {
    known
        .iter()
        .min_by_key(|candidate| strsim::levenshtein(key, candidate))
        .map(String::as_str)
}

/// The field names a `Deserialize` type asks for (none when it is not a plain struct), read by
/// a deserializer that stops at the first question.
pub fn fields<'de, T: Deserialize<'de>>() -> Vec<&'static str> {
    match T::deserialize(Fields) {
        Ok(_) => Vec::new(),
        Err(Found(fields)) => fields.to_vec(),
    }
}

#[derive(Debug)]
struct Found(&'static [&'static str]);

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("fields found")
    }
}

impl std::error::Error for Found {}

impl de::Error for Found {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Found(&[])
    }
}

struct Fields;

impl<'de> Deserializer<'de> for Fields {
    type Error = Found;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Found> {
        Err(Found(&[]))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Found> {
        Err(Found(fields))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
        identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    #![allow(
        clippy::result_large_err,
        reason = "figment::Jail's closures return figment::Error"
    )]
    use super::*;
    use crate::config::{CONFIG_FILE_NAME, figment};
    use figment::Jail;

    fn unknown_in(jail: &mut Jail) -> Vec<Unknown> {
        jail.set_env("DATA_PATH", jail.directory().display().to_string());
        KnownKeys::dashboard().unknown(&figment(None).unwrap())
    }

    #[test]
    fn known_keys_come_from_the_structs_flattened_parts_and_tables_included() {
        let known = KnownKeys::dashboard();
        for key in [
            "ollama_host",
            "pull_timeout_secs",
            "ps_interval_secs",
            "nodes",
        ] {
            assert!(known.contains(key), "{key}");
        }
        assert!(!known.contains("live"), "flattened: its keys are top-level");
        let nodes = &known.tables["nodes"];
        assert!(
            nodes.contains("name") && nodes.contains("max_parallel"),
            "{nodes:?}"
        );
        assert_eq!(fields::<u64>(), Vec::<&str>::new(), "not a struct");
    }

    #[test]
    fn a_clean_configuration_has_no_unknown_keys() {
        Jail::expect_with(|jail| {
            jail.create_file(
                CONFIG_FILE_NAME,
                "pull_timeout_secs = 5\nps_interval_secs = 1.0\n\
                 [[nodes]]\nname = 'a'\nurl = 'h:1'\nlabels = { rack = 'r1' }\n",
            )?;
            jail.set_env("OLLAMA_HOST", "h:1");
            jail.set_env("OLLAMA_DASH_REQUEST_TIMEOUT_SECS", "3");
            jail.set_env("OLLAMA_DASH_NODES", "a=h:1");
            assert_eq!(unknown_in(jail), []);
            Ok(())
        });
    }

    #[test]
    fn misspelt_keys_in_the_file_and_the_environment_name_the_nearest_known_one() {
        Jail::expect_with(|jail| {
            jail.create_file(
                CONFIG_FILE_NAME,
                "pull_timout_secs = 5\n[[nodes]]\nname = 'a'\nurl = 'h:1'\nmax_paralel = 2\n",
            )?;
            jail.set_env("OLLAMA_DASH_REQUEST_TIMEOT_SECS", "3");
            jail.set_env("OLLAMA_DASH_OLAMA_HOST", "h:2");
            // The client's variables are someone else's, not unknown.
            jail.set_env("OLLAMA_DASH_URL", "http://127.0.0.1:8700");
            jail.set_env("DATA_PATH", jail.directory().display().to_string());
            let file = jail
                .directory()
                .join(CONFIG_FILE_NAME)
                .display()
                .to_string();
            let found: BTreeSet<(String, String, Option<String>)> = KnownKeys::dashboard()
                .with_other_env(["OLLAMA_DASH_URL"])
                .unknown(&figment(None).unwrap())
                .into_iter()
                .map(|u| (u.key, u.source, u.nearest))
                .collect();
            let env = "the environment";
            let expected: BTreeSet<_> = [
                ("pull_timout_secs", file.as_str(), "pull_timeout_secs"),
                ("nodes[0].max_paralel", &file, "nodes[0].max_parallel"),
                ("OLLAMA_DASH_OLAMA_HOST", env, "OLLAMA_HOST"),
                (
                    "OLLAMA_DASH_REQUEST_TIMEOT_SECS",
                    env,
                    "OLLAMA_DASH_REQUEST_TIMEOUT_SECS",
                ),
            ]
            .into_iter()
            .map(|(k, s, n)| (k.to_owned(), s.to_owned(), Some(n.to_owned())))
            .collect();
            assert_eq!(found, expected);
            // Without the exemption the client's variable is reported like any other.
            let all = unknown_in(jail);
            assert!(all.iter().any(|u| u.key == "OLLAMA_DASH_URL"), "{all:?}");
            let line = all
                .iter()
                .find(|u| u.key == "pull_timout_secs")
                .unwrap()
                .to_string();
            assert!(
                line.contains("`pull_timout_secs`")
                    && line.contains(&file)
                    && line.contains("did you mean `pull_timeout_secs`?"),
                "{line}"
            );
            Ok(())
        });
    }
}
