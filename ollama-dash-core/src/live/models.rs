//! Normalised running and installed models: what `/api/ps` and `/api/tags` say, plus the VRAM
//! share, the expiry in UTC, local time and words, the context length and the capabilities.

use chrono::{DateTime, FixedOffset, Local, Utc};
use serde::Serialize;

use crate::capabilities::Capabilities;
use crate::ollama::types::{ListModel, ModelDetails, ProcessModel, ShowResponse};

/// A model loaded in memory.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunningModel {
    /// Display name, e.g. `llama3.2:1b`.
    pub name: String,
    /// Manifest digest.
    pub digest: String,
    /// Bytes of memory in use (weights + KV cache + graph).
    pub size: u64,
    /// Bytes of that in GPU memory.
    pub size_vram: u64,
    /// Share of `size` in VRAM, percent (100 = all on the GPU).
    pub vram_percent: f64,
    /// As `ollama ps` shows it: `100% GPU`, `100% CPU` or `35%/65% CPU/GPU`.
    pub processor: String,
    /// `general.architecture`.
    pub family: String,
    /// All families.
    pub families: Vec<String>,
    /// e.g. `1.2B`.
    pub parameter_size: String,
    /// e.g. `Q8_0`.
    pub quantization: String,
    /// Context allocated (Ollama v0.10+), else the trained length if known.
    pub context_length: Option<u64>,
    /// When it unloads.
    pub expires: Option<Expiry>,
    /// Flags and their sources.
    pub capabilities: Capabilities,
    /// Ollama's own `details` object, as `/api/ps` gave it.
    pub details: ModelDetails,
    /// The nodes it is loaded on (the facade's merged list fills it; empty in the collector's
    /// own list and its events).
    pub nodes: Vec<String>,
}

/// A model installed in Ollama.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstalledModel {
    /// Display name.
    pub name: String,
    /// Manifest digest.
    pub digest: String,
    /// Bytes on disk (all layers).
    pub size: u64,
    /// Manifest modification time.
    pub modified_at: Option<DateTime<FixedOffset>>,
    /// `gguf` or `safetensors`.
    pub format: String,
    /// `general.architecture`.
    pub family: String,
    /// All families.
    pub families: Vec<String>,
    /// e.g. `8.0B`.
    pub parameter_size: String,
    /// e.g. `Q4_K_M`.
    pub quantization: String,
    /// Trained context length, when known (`/api/show` or new `/api/tags`).
    pub context_length: Option<u64>,
    /// Flags and their sources.
    pub capabilities: Capabilities,
    /// Ollama's own `details` object, as `/api/tags` gave it.
    pub details: ModelDetails,
    /// The nodes it is installed on (the facade's merged list fills it; empty in the
    /// collector's own list and its events).
    pub nodes: Vec<String>,
}

/// An expiry time, three ways.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Expiry {
    /// In UTC (far in the future when kept forever).
    pub utc: DateTime<Utc>,
    /// The same in this machine's time zone, RFC 3339.
    pub local: String,
    /// e.g. `in about 4 hours`, `in 3 minutes`, `never` (kept loaded forever).
    pub relative: String,
    /// Kept loaded until stopped (`keep_alive` < 0).
    pub forever: bool,
}

/// Ollama reports "forever" as about 292 years ahead; anything past 100 years is forever.
const FOREVER_DAYS: i64 = 365 * 100;

impl Expiry {
    /// Describes `at` as seen at `now`.
    pub fn new(at: DateTime<FixedOffset>, now: DateTime<Utc>) -> Self {
        let utc = at.with_timezone(&Utc);
        let forever = utc - now > chrono::Duration::days(FOREVER_DAYS);
        Self {
            utc,
            local: at.with_timezone(&Local).to_rfc3339(),
            relative: if forever {
                "never".to_owned()
            } else {
                relative(utc - now)
            },
            forever,
        }
    }
}

/// "in about 4 hours", "in 3 minutes", "in less than a minute", "expired".
pub fn relative(left: chrono::Duration) -> String {
    let secs = left.num_seconds();
    if secs <= 0 {
        return "expired".to_owned();
    }
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    let minutes = (secs + 30) / 60;
    let hours = (secs + 1800) / 3600;
    let days = (secs + 43_200) / 86_400;
    match secs {
        0..60 => "in less than a minute".to_owned(),
        60..3_000 => format!("in {}", plural(minutes.max(1), "minute")),
        3_000..86_400 => format!("in about {}", plural(hours.max(1), "hour")),
        _ => format!("in about {}", plural(days.max(1), "day")),
    }
}

fn families(details: &ModelDetails) -> Vec<String> {
    details.families.clone().unwrap_or_default()
}

/// The trained context length from `/api/show`'s `model_info`.
pub(crate) fn trained_context(show: &ShowResponse) -> Option<u64> {
    let arch = show.model_info.get("general.architecture")?.as_str()?;
    show.model_info
        .get(&format!("{arch}.context_length"))?
        .as_u64()
}

/// `ollama ps`'s PROCESSOR column.
fn processor(size: u64, vram: u64) -> (f64, String) {
    if size == 0 {
        return (0.0, "unknown".to_owned());
    }
    let gpu = (vram.min(size) as f64 * 100.0 / size as f64).clamp(0.0, 100.0);
    let label = match gpu.round() as u32 {
        100 => "100% GPU".to_owned(),
        0 => "100% CPU".to_owned(),
        g => format!("{}%/{g}% CPU/GPU", 100 - g),
    };
    (gpu, label)
}

pub(crate) fn running(
    m: &ProcessModel,
    capabilities: Capabilities,
    trained: Option<u64>,
    now: DateTime<Utc>,
) -> RunningModel {
    let vram = m.size_vram.unwrap_or(0);
    let (vram_percent, processor) = processor(m.size, vram);
    RunningModel {
        name: m.name.clone(),
        digest: m.digest.clone(),
        size: m.size,
        size_vram: vram,
        vram_percent,
        processor,
        family: m.details.family.clone(),
        families: families(&m.details),
        parameter_size: m.details.parameter_size.clone(),
        quantization: m.details.quantization_level.clone(),
        context_length: m.context_length.or(m.details.context_length).or(trained),
        expires: m.expires_at.map(|at| Expiry::new(at, now)),
        capabilities,
        details: m.details.clone(),
        nodes: Vec::new(),
    }
}

pub(crate) fn installed(
    m: &ListModel,
    capabilities: Capabilities,
    trained: Option<u64>,
) -> InstalledModel {
    InstalledModel {
        name: m.name.clone(),
        digest: m.digest.clone(),
        size: m.size,
        modified_at: m.modified_at,
        format: m.details.format.clone(),
        family: m.details.family.clone(),
        families: families(&m.details),
        parameter_size: m.details.parameter_size.clone(),
        quantization: m.details.quantization_level.clone(),
        context_length: m.details.context_length.or(trained),
        capabilities,
        details: m.details.clone(),
        nodes: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn relative_phrases() {
        let cases = [
            (-5, "expired"),
            (0, "expired"),
            (20, "in less than a minute"),
            (60, "in 1 minute"),
            (179, "in 3 minutes"),
            (4 * 60, "in 4 minutes"),
            (49 * 60, "in 49 minutes"),
            (55 * 60, "in about 1 hour"),
            (4 * 3600 - 100, "in about 4 hours"),
            (23 * 3600, "in about 23 hours"),
            (3 * 86_400, "in about 3 days"),
        ];
        for (secs, expected) in cases {
            assert_eq!(
                relative(chrono::Duration::seconds(secs)),
                expected,
                "{secs}"
            );
        }
    }

    #[test]
    fn forever_is_never_and_a_normal_expiry_has_utc_local_and_words() {
        let now: DateTime<Utc> = "2026-01-01T12:00:00Z".parse().unwrap();
        let forever: DateTime<FixedOffset> = "2318-04-10T10:00:00+02:00".parse().unwrap();
        let e = Expiry::new(forever, now);
        assert!(e.forever);
        assert_eq!(e.relative, "never");
        let soon: DateTime<FixedOffset> = "2026-01-01T16:00:00+00:00".parse().unwrap();
        let e = Expiry::new(soon, now);
        assert!(!e.forever);
        assert_eq!(e.relative, "in about 4 hours");
        assert_eq!(e.utc, soon.with_timezone(&Utc));
        let local: DateTime<FixedOffset> = DateTime::parse_from_rfc3339(&e.local).unwrap();
        assert_eq!(local, soon, "the same instant in local time");
    }

    #[test]
    fn vram_share_and_processor_column() {
        assert_eq!(processor(100, 100), (100.0, "100% GPU".to_owned()));
        assert_eq!(processor(100, 0), (0.0, "100% CPU".to_owned()));
        assert_eq!(processor(200, 130).1, "35%/65% CPU/GPU");
        assert_eq!(processor(0, 0).1, "unknown");
        let m = ProcessModel {
            name: "llama3.2:1b".into(),
            size: 2_000,
            size_vram: Some(1_000),
            context_length: Some(4096),
            ..Default::default()
        };
        let r = running(&m, Capabilities::default(), Some(131_072), Utc::now());
        assert_eq!((r.vram_percent, r.context_length), (50.0, Some(4096)));
        assert!(r.expires.is_none());
    }
}
