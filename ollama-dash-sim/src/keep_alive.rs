//! `keep_alive`: Go duration strings or JSON seconds, and the `expires_at` they produce.

use std::time::Duration;

use chrono::{DateTime, Local, TimeDelta};
use serde_json::Value;

use super::wire::go_quote;

/// How long a model stays loaded after a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeepAlive {
    /// A negative value: never unload (Ollama stores `math.MaxInt64` nanoseconds).
    Forever,
    /// Unload this long after the request; zero unloads right after it.
    For(Duration),
}

impl KeepAlive {
    /// `OLLAMA_KEEP_ALIVE`'s default.
    pub(crate) const DEFAULT: KeepAlive = KeepAlive::For(Duration::from_secs(300));

    /// Decodes the JSON value like Ollama's `api.Duration`; the error is Ollama's message.
    pub(crate) fn from_json(value: &Value) -> Result<KeepAlive, String> {
        match value {
            Value::Number(n) => {
                let secs = n.as_f64().unwrap_or(0.0);
                Ok(if secs < 0.0 {
                    KeepAlive::Forever
                } else {
                    KeepAlive::from_nanos((secs * 1e9) as i128)
                })
            }
            Value::String(text) => parse_go_duration(text).map(KeepAlive::from_nanos),
            Value::Bool(_) => Err("Unsupported type: 'bool'".to_owned()),
            Value::Array(_) => Err("Unsupported type: '[]interface {}'".to_owned()),
            Value::Object(_) => Err("Unsupported type: 'map[string]interface {}'".to_owned()),
            Value::Null => Ok(KeepAlive::DEFAULT),
        }
    }

    fn from_nanos(nanos: i128) -> KeepAlive {
        if nanos < 0 {
            KeepAlive::Forever
        } else {
            KeepAlive::For(Duration::from_nanos(
                u64::try_from(nanos).unwrap_or(i64::MAX as u64),
            ))
        }
    }

    /// True for `keep_alive: 0`.
    pub(crate) fn is_zero(self) -> bool {
        self == KeepAlive::For(Duration::ZERO)
    }

    /// The order Ollama's `ByDurationAndName` sorts runners in (`server/sched.go`): the Go
    /// duration read as unsigned, so "forever" (a huge duration) sorts last.
    pub(crate) fn sort_key(self) -> Duration {
        match self {
            KeepAlive::Forever => Duration::MAX,
            KeepAlive::For(d) => d,
        }
    }

    /// When a model released now unloads: about 292 years ahead for "forever", as in Ollama.
    pub(crate) fn expires_at(self, now: DateTime<Local>) -> DateTime<Local> {
        let delta = match self {
            KeepAlive::Forever => TimeDelta::nanoseconds(i64::MAX),
            KeepAlive::For(d) => TimeDelta::from_std(d).unwrap_or(TimeDelta::nanoseconds(i64::MAX)),
        };
        now.checked_add_signed(delta).unwrap_or(now)
    }
}

/// Go's `time.ParseDuration`, in nanoseconds, with Go's error texts.
pub(crate) fn parse_go_duration(text: &str) -> Result<i128, String> {
    let invalid = || format!("time: invalid duration {}", go_quote(text));
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..number_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(invalid());
        }
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale = match unit {
            "" => return Err(format!("time: missing unit in duration {}", go_quote(text))),
            "ns" => 1.0,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    go_quote(unit),
                    go_quote(text)
                ));
            }
        };
        total += number.parse::<f64>().map_err(|_| invalid())? * scale;
        if total > i64::MAX as f64 {
            return Err(invalid());
        }
    }
    let nanos = total.round() as i128;
    Ok(if negative { -nanos } else { nanos })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_like_go() {
        let secs = |s: u64| KeepAlive::For(Duration::from_secs(s));
        assert_eq!(KeepAlive::from_json(&json!("5m")), Ok(secs(300)));
        assert_eq!(KeepAlive::from_json(&json!("1h30m")), Ok(secs(5400)));
        assert_eq!(
            KeepAlive::from_json(&json!("1.5s")),
            Ok(KeepAlive::For(Duration::from_millis(1500)))
        );
        assert_eq!(KeepAlive::from_json(&json!("-1m")), Ok(KeepAlive::Forever));
        assert_eq!(KeepAlive::from_json(&json!(-1)), Ok(KeepAlive::Forever));
        assert_eq!(KeepAlive::from_json(&json!(3600)), Ok(secs(3600)));
        assert!(KeepAlive::from_json(&json!(0)).expect("valid").is_zero());
        assert!(KeepAlive::from_json(&json!("0")).expect("valid").is_zero());
        assert_eq!(
            KeepAlive::from_json(&json!("300")),
            Err(r#"time: missing unit in duration "300""#.to_owned())
        );
        assert_eq!(
            KeepAlive::from_json(&json!("5x")),
            Err(r#"time: unknown unit "x" in duration "5x""#.to_owned())
        );
        assert_eq!(
            KeepAlive::from_json(&json!("abc")),
            Err(r#"time: invalid duration "abc""#.to_owned())
        );
        assert_eq!(
            KeepAlive::from_json(&json!(true)),
            Err("Unsupported type: 'bool'".to_owned())
        );
    }

    #[test]
    fn forever_is_about_292_years_ahead() {
        let now = Local::now();
        let years = (KeepAlive::Forever.expires_at(now) - now).num_days() / 365;
        assert_eq!(years, 292);
    }
}
