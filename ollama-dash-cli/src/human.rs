//! Numbers and times for people, as the `ollama` CLI prints them.

use chrono::{DateTime, Utc};

/// Bytes in decimal units as Ollama's `format.HumanBytes`: `1.3 GB`, `522 MB`, `12 KB`, `7 B`.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (1_000_000_000_000, "TB"),
        (1_000_000_000, "GB"),
        (1_000_000, "MB"),
        (1_000, "KB"),
    ];
    let Some((size, unit)) = UNITS.iter().find(|(size, _)| n >= *size) else {
        return format!("{n} B");
    };
    let value = n as f64 / *size as f64;
    if value >= 10.0 || value.fract() == 0.0 {
        format!("{} {unit}", value.trunc())
    } else {
        format!("{value:.1} {unit}")
    }
}

/// `seconds` as `about a minute`, `3 hours`, `2 days`… (go-humanize's wording, as Ollama).
fn span(seconds: i64) -> String {
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    match seconds {
        s if s < 1 => "now".to_owned(),
        s if s < 60 => plural(s, "second"),
        s if s < 120 => "about a minute".to_owned(),
        s if s < 3600 => plural(s / 60, "minute"),
        s if s < 7200 => "about an hour".to_owned(),
        s if s < 86_400 => plural(s / 3600, "hour"),
        s if s < 2 * 86_400 => "1 day".to_owned(),
        s if s < 7 * 86_400 => plural(s / 86_400, "day"),
        s if s < 30 * 86_400 => plural(s / (7 * 86_400), "week"),
        s if s < 365 * 86_400 => plural(s / (30 * 86_400), "month"),
        s => plural(s / (365 * 86_400), "year"),
    }
}

/// Capitalises the first letter (`About an hour ago`).
fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// An RFC 3339 time.
fn parse(rfc3339: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `2 days ago` for a past RFC 3339 time (the text itself when it does not parse).
pub(crate) fn ago(rfc3339: &str, now: DateTime<Utc>) -> String {
    match parse(rfc3339) {
        Some(t) => {
            let text = span((now - t).num_seconds());
            if text == "now" {
                "Just now".to_owned()
            } else {
                capitalise(&format!("{text} ago"))
            }
        }
        None => rfc3339.to_owned(),
    }
}

/// `4 minutes from now` for a future RFC 3339 time, `Stopping...` once past (as `ollama ps`).
pub(crate) fn until(rfc3339: &str, now: DateTime<Utc>) -> String {
    match parse(rfc3339) {
        Some(t) if t <= now => "Stopping...".to_owned(),
        Some(t) => capitalise(&format!("{} from now", span((t - now).num_seconds()))),
        None => rfc3339.to_owned(),
    }
}

/// Milliseconds as `850ms`, `2.4s`, `3m05s`.
pub(crate) fn millis(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.0}ms")
    } else if ms < 60_000.0 {
        format!("{:.1}s", ms / 1000.0)
    } else {
        let secs = (ms / 1000.0).round() as u64;
        format!("{}m{:02}s", secs / 60, secs % 60)
    }
}

/// Seconds left as `12s`, `3m05s`, `1h02m`.
pub(crate) fn eta(secs: f64) -> String {
    let secs = secs.max(0.0).round() as u64;
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_like_ollama() {
        assert_eq!(bytes(7), "7 B");
        assert_eq!(bytes(1_321_084_896), "1.3 GB");
        assert_eq!(bytes(522_652_579), "522 MB");
        assert_eq!(bytes(2_000_000_000), "2 GB");
    }

    #[test]
    fn times_read_like_ollama() {
        let now = DateTime::parse_from_rfc3339("2026-12-03T12:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        assert_eq!(ago("2026-12-01T12:00:00Z", now), "2 days ago");
        assert_eq!(ago("2026-12-03T11:00:30Z", now), "59 minutes ago");
        assert_eq!(ago("2026-12-03T10:30:00Z", now), "About an hour ago");
        assert_eq!(until("2026-12-03T12:04:30Z", now), "4 minutes from now");
        assert_eq!(until("2026-12-03T11:59:00Z", now), "Stopping...");
    }
}
