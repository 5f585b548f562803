//! A node's real VRAM, scraped from its `metrics_url`: Prometheus text exposition with
//! dcgm-exporter's names (`DCGM_FI_DEV_FB_USED`, `DCGM_FI_DEV_FB_FREE`, `DCGM_FI_DEV_FB_TOTAL`,
//! MiB, one series per GPU). ollama-dash's own `/metrics` exports its GPUs under the same names,
//! so another ollama-dash in front of a node's GPUs serves as its exporter too.
//!
//! The parser reads the plain `name{labels} value [timestamp]` lines of the text format (and of
//! OpenMetrics: `# EOF`, exemplars); comments and `# HELP`/`# TYPE` lines are skipped. No crate:
//! the format is a line grammar, and the scrape needs three series of it.

use std::collections::BTreeMap;
use std::time::Duration;

/// Used framebuffer memory per GPU, MiB (dcgm-exporter).
pub const FB_USED: &str = "DCGM_FI_DEV_FB_USED";
/// Free framebuffer memory per GPU, MiB (dcgm-exporter).
pub const FB_FREE: &str = "DCGM_FI_DEV_FB_FREE";
/// Total framebuffer memory per GPU, MiB (dcgm-exporter; optional).
pub const FB_TOTAL: &str = "DCGM_FI_DEV_FB_TOTAL";

const MIB: f64 = 1024.0 * 1024.0;

/// Largest body read from a metrics endpoint.
const MAX_BODY: usize = 8 * 1024 * 1024;

/// One sample of the text format.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The metric's name.
    pub name: String,
    /// Its labels, by name.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

/// Why a line of the text format cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {why}")]
pub struct ParseError {
    /// The line (from 1).
    pub line: usize,
    /// What is wrong with it.
    pub why: String,
}

/// Why a scrape gave no VRAM figures.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    /// The request failed (unreachable, timed out, body not read).
    #[error("GET {url}: {source}")]
    Http {
        /// The metrics URL.
        url: String,
        /// The failure.
        #[source]
        source: reqwest::Error,
    },
    /// It answered an error status.
    #[error("GET {url}: status {status}")]
    Status {
        /// The metrics URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// The body is larger than a metrics page should be.
    #[error("GET {url}: the body is over {MAX_BODY} bytes")]
    TooLarge {
        /// The metrics URL.
        url: String,
    },
    /// The body is not the text format.
    #[error("{url}: {source}")]
    Parse {
        /// The metrics URL.
        url: String,
        /// The line at fault.
        #[source]
        source: ParseError,
    },
    /// The page has no `DCGM_FI_DEV_FB_USED` and `DCGM_FI_DEV_FB_FREE` series.
    #[error("{url}: no {FB_USED} and {FB_FREE} series")]
    NoSeries {
        /// The metrics URL.
        url: String,
    },
}

/// VRAM of all of a node's GPUs together, bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vram {
    /// All of it.
    pub total: u64,
    /// In use.
    pub used: u64,
    /// Free.
    pub free: u64,
    /// GPUs counted.
    pub gpus: usize,
}

/// Every sample of a text exposition, in order.
pub fn parse(text: &str) -> Result<Vec<Sample>, ParseError> {
    let mut samples = Vec::new();
    for (at, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |why: &str| ParseError {
            line: at + 1,
            why: why.to_owned(),
        };
        samples.push(sample(line).map_err(bad)?);
    }
    Ok(samples)
}

/// One sample line: `name{labels} value [timestamp] [# exemplar]`.
fn sample(line: &str) -> Result<Sample, &'static str> {
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err("no metric name");
    }
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(inner) = rest.strip_prefix('{') {
        let (parsed, after) = label_set(inner)?;
        labels = parsed;
        rest = after;
    }
    // The value, then an optional timestamp; an OpenMetrics exemplar starts with ` # `.
    let rest = rest.split(" # ").next().unwrap_or(rest);
    let value = rest.split_whitespace().next().ok_or("no value")?;
    let value = value
        .parse::<f64>()
        .map_err(|_| "the value is not a number")?;
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// The labels after `{`, up to and including `}`; and what follows.
fn label_set(mut s: &str) -> Result<(BTreeMap<String, String>, &str), &'static str> {
    let mut labels = BTreeMap::new();
    loop {
        s = s.trim_start();
        if let Some(after) = s.strip_prefix('}') {
            return Ok((labels, after));
        }
        let eq = s.find('=').ok_or("a label without '='")?;
        let name = s[..eq].trim();
        if name.is_empty() {
            return Err("a label without a name");
        }
        s = s[eq + 1..].trim_start();
        s = s.strip_prefix('"').ok_or("a label value without quotes")?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err("an unterminated label value"),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => return Err("an unterminated label value"),
                },
                Some((_, c)) => value.push(c),
            }
        };
        labels.insert(name.to_owned(), value);
        s = s[end + 1..].trim_start();
        if let Some(after) = s.strip_prefix(',') {
            s = after;
        } else if !s.starts_with('}') {
            return Err("labels not separated by ','");
        }
    }
}

/// The VRAM in `samples`: dcgm-exporter's framebuffer series (MiB), summed over the GPUs (one
/// series per `gpu` label, else per `UUID`, else per label set). `None` without both
/// `DCGM_FI_DEV_FB_USED` and `DCGM_FI_DEV_FB_FREE`. The total is `DCGM_FI_DEV_FB_TOTAL` when
/// every GPU has it, else used + free.
pub fn vram(samples: &[Sample]) -> Option<Vram> {
    let per_gpu = |name: &str| -> BTreeMap<String, f64> {
        samples
            .iter()
            .filter(|s| s.name == name && s.value.is_finite() && s.value >= 0.0)
            .map(|s| {
                let gpu = s
                    .labels
                    .get("gpu")
                    .or_else(|| s.labels.get("UUID"))
                    .cloned()
                    .unwrap_or_else(|| format!("{:?}", s.labels));
                (gpu, s.value)
            })
            .collect()
    };
    let used = per_gpu(FB_USED);
    let free = per_gpu(FB_FREE);
    if used.is_empty() || free.is_empty() {
        return None;
    }
    let total = per_gpu(FB_TOTAL);
    let bytes = |mib: f64| (mib * MIB).round() as u64;
    let sum = |m: &BTreeMap<String, f64>| bytes(m.values().sum());
    let (used_b, free_b) = (sum(&used), sum(&free));
    let gpus = used
        .keys()
        .chain(free.keys())
        .collect::<std::collections::BTreeSet<_>>();
    let total_b = if gpus.iter().all(|g| total.contains_key(*g)) {
        sum(&total)
    } else {
        used_b + free_b
    };
    Some(Vram {
        total: total_b,
        used: used_b,
        free: free_b,
        gpus: gpus.len(),
    })
}

/// GETs `url` with `http` (at most `timeout`) and reads the VRAM from it. The metrics page is
/// another server's (a GPU exporter), so it has a reqwest client of its own, built on the first
/// call.
pub(crate) async fn scrape(
    http: &mut Option<reqwest::Client>,
    url: &str,
    timeout: Duration,
) -> Result<Vram, ScrapeError> {
    let failed = |source| ScrapeError::Http {
        url: url.to_owned(),
        source,
    };
    let http = match http {
        Some(http) => http,
        None => http.insert(reqwest::Client::builder().build().map_err(failed)?),
    };
    let mut response = http
        .get(url)
        .header(reqwest::header::ACCEPT, "text/plain;version=0.0.4")
        .timeout(timeout)
        .send()
        .await
        .map_err(failed)?;
    if !response.status().is_success() {
        return Err(ScrapeError::Status {
            url: url.to_owned(),
            status: response.status().as_u16(),
        });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(failed)? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(ScrapeError::TooLarge {
                url: url.to_owned(),
            });
        }
        body.extend_from_slice(&chunk);
    }
    let samples = parse(&String::from_utf8_lossy(&body)).map_err(|source| ScrapeError::Parse {
        url: url.to_owned(),
        source,
    })?;
    vram(&samples).ok_or_else(|| ScrapeError::NoSeries {
        url: url.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    /// dcgm-exporter's page for two GPUs (abridged), with a timestamp and odd label values.
    const DCGM: &str = r#"# HELP DCGM_FI_DEV_FB_FREE Framebuffer memory free (in MiB).
# TYPE DCGM_FI_DEV_FB_FREE gauge
DCGM_FI_DEV_FB_FREE{gpu="0",UUID="GPU-a",device="nvidia0",modelName="NVIDIA A100-SXM4-80GB",Hostname="h"} 61440
DCGM_FI_DEV_FB_FREE{gpu="1",UUID="GPU-b",device="nvidia1",modelName="NVIDIA A100-SXM4-80GB",Hostname="h"} 81000 1700000000000
# HELP DCGM_FI_DEV_FB_USED Framebuffer memory used (in MiB).
# TYPE DCGM_FI_DEV_FB_USED gauge
DCGM_FI_DEV_FB_USED{gpu="0",UUID="GPU-a",device="nvidia0",modelName="say \"hi\", {x}",Hostname="h"} 20480
DCGM_FI_DEV_FB_USED{gpu="1",UUID="GPU-b",device="nvidia1",modelName="NVIDIA A100-SXM4-80GB",Hostname="h",} 0
DCGM_FI_DEV_GPU_UTIL{gpu="0"} 37
process_start_time_seconds 1.7e9
"#;

    const MB: u64 = 1024 * 1024;

    #[test]
    fn samples_are_read_with_their_labels_and_values() {
        let samples = parse(DCGM).unwrap();
        assert_eq!(samples.len(), 6);
        assert_eq!(samples[1].value, 81000.0, "the timestamp is not the value");
        assert_eq!(samples[2].labels["modelName"], "say \"hi\", {x}");
        assert_eq!(samples[3].labels["gpu"], "1", "a trailing comma");
        assert_eq!(
            (
                samples[5].name.as_str(),
                samples[5].labels.len(),
                samples[5].value
            ),
            ("process_start_time_seconds", 0, 1.7e9)
        );
        let om = "x_total{a=\"b\"} 3 # {trace_id=\"t\"} 1 1.5\ny NaN\nz +Inf\n# EOF\n";
        let samples = parse(om).unwrap();
        assert_eq!(samples[0].value, 3.0);
        assert!(samples[1].value.is_nan() && samples[2].value == f64::INFINITY);
    }

    #[test]
    fn broken_lines_name_their_line() {
        for (text, line) in [
            ("ok 1\nbad{a=\"b} 1\n", 2),
            ("x{a=b} 1", 1),
            ("x one", 1),
            ("{a=\"b\"} 1", 1),
            ("\n\nx{a=\"b\" c=\"d\"} 1", 3),
            ("x", 1),
        ] {
            assert_eq!(parse(text).unwrap_err().line, line, "{text:?}");
        }
    }

    #[test]
    fn vram_is_summed_over_the_gpus_in_bytes() {
        let two = vram(&parse(DCGM).unwrap()).unwrap();
        assert_eq!(
            two,
            Vram {
                total: (61440 + 81000 + 20480) * MB,
                used: 20480 * MB,
                free: (61440 + 81000) * MB,
                gpus: 2,
            }
        );
        // With the total series (as ollama-dash's own /metrics has it), it is the total.
        let with_total = format!(
            "{DCGM}DCGM_FI_DEV_FB_TOTAL{{gpu=\"0\"}} 81920\nDCGM_FI_DEV_FB_TOTAL{{gpu=\"1\"}} 81920\n"
        );
        assert_eq!(
            vram(&parse(&with_total).unwrap()).unwrap().total,
            2 * 81920 * MB
        );
        // Fractions of MiB (ollama-dash divides bytes by 2^20).
        let one = "DCGM_FI_DEV_FB_USED{gpu=\"0\"} 0.5\nDCGM_FI_DEV_FB_FREE{gpu=\"0\"} 1.5\n";
        let v = vram(&parse(one).unwrap()).unwrap();
        assert_eq!((v.used, v.free, v.total), (MB / 2, 3 * MB / 2, 2 * MB));
        // Without both series there is no figure.
        let only_used = "DCGM_FI_DEV_FB_USED{gpu=\"0\"} 1\n";
        assert_eq!(vram(&parse(only_used).unwrap()), None);
        assert_eq!(vram(&[]), None);
    }
}
