//! Generation defaults the UI may change: global and per model, validated per field, kept in
//! SQLite (`settings`), applied to chat requests that leave them out.
//!
//! Deployment settings (addresses, paths, intervals, managed Ollama…) are NOT here: they come
//! from the config file and the environment only, and the UI shows them read-only.

use std::collections::BTreeMap;
use std::sync::RwLock;

use rusqlite::params;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::dashboard::now_ms;
use crate::error::{Error, Result};
use crate::ollama::types::{KeepAlive, ModelOptions};
use crate::store::Store;

/// The scope name of the global defaults in the `settings` table.
pub const GLOBAL: &str = "global";

/// One setting the UI may change.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SettingSpec {
    /// Its key, as in Ollama's `options` (or `keep_alive`).
    pub key: &'static str,
    /// `number`, `integer`, `strings` or `duration`.
    pub kind: &'static str,
    /// Smallest value allowed.
    pub min: Option<f64>,
    /// Largest value allowed.
    pub max: Option<f64>,
    /// What it does.
    pub description: &'static str,
}

const fn spec(
    key: &'static str,
    kind: &'static str,
    min: Option<f64>,
    max: Option<f64>,
    description: &'static str,
) -> SettingSpec {
    SettingSpec {
        key,
        kind,
        min,
        max,
        description,
    }
}

/// Everything the UI may change, and nothing else.
pub const EDITABLE: &[SettingSpec] = &[
    spec(
        "temperature",
        "number",
        Some(0.0),
        Some(5.0),
        "sampling temperature",
    ),
    spec(
        "top_k",
        "integer",
        Some(0.0),
        Some(1000.0),
        "sample from the k most likely tokens",
    ),
    spec(
        "top_p",
        "number",
        Some(0.0),
        Some(1.0),
        "nucleus sampling threshold",
    ),
    spec(
        "min_p",
        "number",
        Some(0.0),
        Some(1.0),
        "minimum probability relative to the top token",
    ),
    spec(
        "num_ctx",
        "integer",
        Some(64.0),
        Some(1_048_576.0),
        "context window in tokens",
    ),
    spec(
        "num_predict",
        "integer",
        Some(-2.0),
        Some(1_048_576.0),
        "most tokens to generate (-1: no limit, -2: fill the context)",
    ),
    spec(
        "seed",
        "integer",
        Some(-1.0),
        Some(9.007_199_254_740_991e15),
        "random seed (-1: random)",
    ),
    spec(
        "repeat_penalty",
        "number",
        Some(0.0),
        Some(5.0),
        "penalty for repeated tokens",
    ),
    spec(
        "stop",
        "strings",
        Some(0.0),
        Some(16.0),
        "stop sequences (at most 16)",
    ),
    spec(
        "keep_alive",
        "duration",
        None,
        None,
        "how long a model stays loaded after use: \"5m\", \"1h\", 0 (unload), -1 (forever)",
    ),
];

/// Generation defaults of one scope; `None` leaves the choice to the next scope (model →
/// global → Ollama).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GenerationDefaults {
    /// Sampling temperature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Top-k.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<i64>,
    /// Top-p.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Min-p.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_p: Option<f64>,
    /// Context window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_ctx: Option<i64>,
    /// Token limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_predict: Option<i64>,
    /// Seed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Repeat penalty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeat_penalty: Option<f64>,
    /// Stop sequences.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<Vec<String>>,
    /// Keep-alive, as given (`"5m"`, `"-1"`, `"0"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_alive: Option<String>,
}

impl GenerationDefaults {
    /// Fills each option `options` leaves out; returns whether anything was filled.
    fn fill(&self, options: &mut ModelOptions) -> bool {
        let mut filled = false;
        macro_rules! fill {
            ($($field:ident),*) => {$(
                if options.$field.is_none() && self.$field.is_some() {
                    options.$field = self.$field.clone();
                    filled = true;
                }
            )*};
        }
        fill!(
            temperature,
            top_k,
            top_p,
            min_p,
            num_ctx,
            num_predict,
            seed,
            repeat_penalty,
            stop
        );
        filled
    }

    fn get(&self, key: &str) -> Option<Value> {
        serde_json::to_value(self).ok()?.get(key).cloned()
    }
}

/// Every scope's defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SettingsView {
    /// The global defaults.
    pub global: GenerationDefaults,
    /// Per-model defaults, by model name.
    pub models: BTreeMap<String, GenerationDefaults>,
}

/// The settings as kept in memory (read on every chat request, so no SQLite on that path).
#[derive(Debug, Default)]
pub(crate) struct Settings {
    state: RwLock<SettingsView>,
}

impl Settings {
    /// Fills what a request left out, the model's defaults first, then the global ones; never
    /// overrides a value the request set, and adds no options object when nothing is filled.
    /// Memory only: called on every generation.
    pub(crate) fn apply(
        &self,
        model: &str,
        options: &mut Option<ModelOptions>,
        keep_alive: &mut Option<KeepAlive>,
    ) {
        if keep_alive.is_none() {
            *keep_alive = self.keep_alive(model);
        }
        let mut filled = options.take().unwrap_or_default();
        let had = filled != ModelOptions::default();
        if self.fill(model, &mut filled) || had {
            *options = Some(filled);
        }
    }

    /// Fills `options` from the model's defaults, then the global ones; whether any was filled.
    pub(crate) fn fill(&self, model: &str, options: &mut ModelOptions) -> bool {
        let view = self.read();
        let mut filled = false;
        if let Some(defaults) = name_keys(model).iter().find_map(|k| view.models.get(k)) {
            filled |= defaults.fill(options);
        }
        filled | view.global.fill(options)
    }

    /// The keep-alive for `model` when a request gives none (model, then global).
    pub(crate) fn keep_alive(&self, model: &str) -> Option<KeepAlive> {
        let view = self.read();
        name_keys(model)
            .iter()
            .find_map(|k| view.models.get(k))
            .and_then(|d| d.keep_alive.clone())
            .or_else(|| view.global.keep_alive.clone())
            .and_then(|raw| parse_keep_alive(&raw).ok())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, SettingsView> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, SettingsView> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// Parses a keep-alive value: a Go duration (`"5m"`, `"1h30m"`, `"-1m"`) or seconds (`"-1"`, `"0"`).
pub fn parse_keep_alive(raw: &str) -> std::result::Result<KeepAlive, String> {
    let t = raw.trim();
    if let Ok(seconds) = t.parse::<f64>() {
        return Ok(KeepAlive::Seconds(seconds));
    }
    let body = t.strip_prefix('-').unwrap_or(t);
    let mut rest = body;
    let mut parts = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if digits == 0 || rest[..digits].parse::<f64>().is_err() {
            return Err(format!(
                "{raw:?} is not a duration like \"5m\", \"1h30m\", 0 or -1"
            ));
        }
        rest = &rest[digits..];
        let unit = ["ns", "us", "µs", "ms", "s", "m", "h"]
            .into_iter()
            .filter(|u| rest.starts_with(u))
            .max_by_key(|u| u.len())
            .ok_or_else(|| format!("{raw:?} has no unit (ns, us, ms, s, m, h)"))?;
        rest = &rest[unit.len()..];
        parts += 1;
    }
    if parts == 0 {
        return Err(format!("{raw:?} is not a duration"));
    }
    Ok(KeepAlive::Duration(t.to_owned()))
}

/// Checks one field; returns the value to store.
fn validate(key: &str, value: &Value) -> std::result::Result<Value, String> {
    let Some(spec) = EDITABLE.iter().find(|s| s.key == key) else {
        return Err(
            "not a setting the UI may change (deployment settings come from the config file and environment)"
                .to_owned(),
        );
    };
    let range = |n: f64| {
        let (lo, hi) = (spec.min.unwrap_or(f64::MIN), spec.max.unwrap_or(f64::MAX));
        if (lo..=hi).contains(&n) {
            Ok(())
        } else {
            Err(format!("must be between {lo} and {hi}"))
        }
    };
    match spec.kind {
        "number" => {
            let n = value.as_f64().ok_or("must be a number")?;
            range(n).map(|()| value.clone())
        }
        "integer" => {
            let n = value.as_i64().ok_or("must be a whole number")?;
            range(n as f64).map(|()| value.clone())
        }
        "strings" => {
            let list = value.as_array().ok_or("must be a list of strings")?;
            range(list.len() as f64)?;
            for item in list {
                let s = item.as_str().ok_or("must be a list of strings")?;
                if s.is_empty() || s.len() > 256 {
                    return Err("each stop sequence must be 1 to 256 bytes".to_owned());
                }
            }
            Ok(value.clone())
        }
        _ => {
            let raw = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return Err("must be a duration string or a number of seconds".to_owned()),
            };
            parse_keep_alive(&raw)?;
            Ok(Value::String(raw))
        }
    }
}

/// A model name's lookup keys: as given, and with `:latest` when it has no tag.
fn name_keys(model: &str) -> [String; 2] {
    let tagged = if model
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains(':'))
    {
        model.to_owned()
    } else {
        format!("{model}:latest")
    };
    [model.to_owned(), tagged]
}

impl Settings {
    /// Loads the stored settings into memory (at start).
    pub(crate) async fn load(&self, store: &Store) -> Result<()> {
        let rows: Vec<(String, String, String)> = store
            .call(|conn| {
                let mut stmt = conn.prepare("SELECT scope, key, value FROM settings")?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                rows.collect()
            })
            .await?;
        let mut scopes: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
        for (scope, key, value) in rows {
            if let Ok(value) = serde_json::from_str::<Value>(&value)
                && validate(&key, &value).is_ok()
            {
                scopes.entry(scope).or_default().insert(key, value);
            }
        }
        let mut view = SettingsView::default();
        for (scope, map) in scopes {
            let defaults: GenerationDefaults =
                serde_json::from_value(Value::Object(map)).unwrap_or_default();
            if scope == GLOBAL {
                view.global = defaults;
            } else {
                view.models.insert(scope, defaults);
            }
        }
        *self.write() = view;
        Ok(())
    }

    /// Every scope's generation defaults.
    pub(crate) fn view(&self) -> SettingsView {
        self.read().clone()
    }

    /// Changes some fields of a scope (`None` = global, else a model name). A field set to
    /// `null` goes back to "not set". Every field is checked first; if any is bad, nothing is
    /// stored and the error names each bad field.
    pub(crate) async fn update(
        &self,
        store: &Store,
        model: Option<&str>,
        patch: Map<String, Value>,
    ) -> Result<GenerationDefaults> {
        let scope = match model {
            Some(name) if name.trim().is_empty() || name == GLOBAL => {
                return Err(Error::BadRequest(format!("{name:?} is not a model name")));
            }
            Some(name) => name.to_owned(),
            None => GLOBAL.to_owned(),
        };
        let mut errors = Vec::new();
        let mut changes: Vec<(String, Option<Value>)> = Vec::new();
        for (key, value) in patch {
            if value.is_null() {
                if EDITABLE.iter().any(|s| s.key == key) {
                    changes.push((key, None));
                } else {
                    errors.push((key, "not a setting the UI may change".to_owned()));
                }
                continue;
            }
            match validate(&key, &value) {
                Ok(v) => changes.push((key, Some(v))),
                Err(why) => errors.push((key, why)),
            }
        }
        if !errors.is_empty() {
            return Err(Error::InvalidFields(errors));
        }
        let now = now_ms();
        let store_scope = scope.clone();
        let stored = changes.clone();
        store
            .call(move |conn| {
                let tx = conn.transaction()?;
                for (key, value) in &stored {
                    match value {
                        Some(v) => tx.execute(
                            "INSERT INTO settings (scope, key, value, updated_at) VALUES (?1, ?2, ?3, ?4) \
                             ON CONFLICT (scope, key) DO UPDATE SET value = ?3, updated_at = ?4",
                            params![store_scope, key, v.to_string(), now],
                        )?,
                        None => tx.execute(
                            "DELETE FROM settings WHERE scope = ?1 AND key = ?2",
                            params![store_scope, key],
                        )?,
                    };
                }
                tx.commit()
            })
            .await?;
        let mut view = self.write();
        let current = if scope == GLOBAL {
            &mut view.global
        } else {
            view.models.entry(scope.clone()).or_default()
        };
        let mut map = match serde_json::to_value(&*current) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        for (key, value) in changes {
            match value {
                Some(v) => map.insert(key, v),
                None => map.remove(&key),
            };
        }
        *current = serde_json::from_value(Value::Object(map)).unwrap_or_default();
        let result = current.clone();
        if scope != GLOBAL && result == GenerationDefaults::default() {
            view.models.remove(&scope);
        }
        Ok(result)
    }

    /// The value a setting has for `model` and where it comes from (`model`, `global`).
    pub(crate) fn effective(&self, model: &str, key: &str) -> Option<(Value, &'static str)> {
        let view = self.read();
        let from_model = name_keys(model)
            .iter()
            .find_map(|k| view.models.get(k))
            .and_then(|d| d.get(key));
        from_model
            .map(|v| (v, "model"))
            .or_else(|| view.global.get(key).map(|v| (v, "global")))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use serde_json::json;

    #[test]
    fn keep_alive_accepts_go_durations_and_seconds() {
        for ok in ["5m", "1h30m", "-1m", "0", "-1", "3600", "1.5h", "300ms"] {
            assert!(parse_keep_alive(ok).is_ok(), "{ok}");
        }
        for bad in ["", "soon", "m5", "5 minutes", "5x"] {
            assert!(parse_keep_alive(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn each_field_is_checked_on_its_own_terms() {
        assert!(validate("temperature", &json!(0.7)).is_ok());
        assert!(
            validate("temperature", &json!(9))
                .unwrap_err()
                .contains("between")
        );
        assert!(
            validate("temperature", &json!("hot"))
                .unwrap_err()
                .contains("number")
        );
        assert!(
            validate("top_k", &json!(40.5))
                .unwrap_err()
                .contains("whole")
        );
        assert!(validate("num_ctx", &json!(8192)).is_ok());
        assert!(validate("stop", &json!(["</s>", "###"])).is_ok());
        assert!(validate("stop", &json!([""])).is_err());
        assert!(validate("stop", &json!("</s>")).is_err());
        assert!(validate("keep_alive", &json!(-1)).is_ok());
        assert!(validate("keep_alive", &json!("forever")).is_err());
        assert!(
            validate("ollama_host", &json!("x"))
                .unwrap_err()
                .contains("config")
        );
    }

    #[test]
    fn defaults_fill_only_what_is_missing() {
        let d = GenerationDefaults {
            temperature: Some(0.2),
            num_ctx: Some(8192),
            stop: Some(vec!["###".into()]),
            ..Default::default()
        };
        let mut options = ModelOptions {
            temperature: Some(1.0),
            ..Default::default()
        };
        assert!(d.fill(&mut options));
        assert_eq!(options.temperature, Some(1.0), "the request wins");
        assert_eq!(options.num_ctx, Some(8192));
        assert_eq!(options.stop.as_deref(), Some(&["###".to_owned()][..]));
        assert!(!d.fill(&mut options), "nothing left to fill");
        assert_eq!(name_keys("llama3.2")[1], "llama3.2:latest");
        assert_eq!(
            name_keys("hf.co/org/model:Q4_K_M")[1],
            "hf.co/org/model:Q4_K_M"
        );
        assert_eq!(
            name_keys("localhost:5000/org/model")[1],
            "localhost:5000/org/model:latest"
        );
    }

    #[test]
    fn apply_fills_options_and_keep_alive_only_where_the_request_left_them_out() {
        let settings = Settings::default();
        settings.write().models.insert(
            "llama3.2:latest".into(),
            GenerationDefaults {
                temperature: Some(0.2),
                num_ctx: Some(8192),
                stop: Some(vec!["###".into()]),
                keep_alive: Some("1h".into()),
                ..Default::default()
            },
        );
        let mut options = Some(ModelOptions {
            temperature: Some(0.9),
            ..ModelOptions::default()
        });
        let mut keep_alive = None;
        settings.apply("llama3.2", &mut options, &mut keep_alive);
        let o = options.unwrap_or_default();
        assert_eq!(o.temperature, Some(0.9), "the request's value wins");
        assert_eq!(o.num_ctx, Some(8192));
        assert_eq!(o.stop, Some(vec!["###".to_owned()]));
        assert_eq!(keep_alive, Some(KeepAlive::Duration("1h".into())));

        let mut none = None;
        let mut keep = Some(KeepAlive::Seconds(0.0));
        settings.apply("other:7b", &mut none, &mut keep);
        assert_eq!(none, None, "no defaults, no options object");
        assert_eq!(
            keep,
            Some(KeepAlive::Seconds(0.0)),
            "the request's keep-alive wins"
        );
    }
}
