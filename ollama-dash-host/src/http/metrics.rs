//! `GET /metrics`: Prometheus/OpenMetrics text through `prometheus-client` (the Prometheus
//! project's own Rust client: typed metrics, no global registry, so every app instance — and
//! every test host — has its own).
//!
//! Request counters and latency histograms are recorded by [`track`]; everything else is read
//! from the dashboard's cache at scrape time by [`DashboardCollector`], including GPU series
//! named as dcgm-exporter names them (`DCGM_FI_DEV_GPU_UTIL`, `DCGM_FI_DEV_FB_USED`, …, with
//! `gpu`, `UUID`, `device`, `modelName` and `Hostname` labels) so existing Grafana boards work.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ollama_dash_core::Dashboard;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

/// Labels of the series moved by every request: the names are fixed and so are most values, so
/// only what varies (a route, a model, a key's name) is copied, and one list serves each series
/// a request moves, a label pushed for the series that has it and popped after (a
/// `Vec<(String, String)>` per series cost ~60 allocations per traced request).
type HotLabels = Vec<(&'static str, Cow<'static, str>)>;

/// The registry of one app, and its HTTP series.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<HotLabels, Counter>,
    latency: Family<HotLabels, Histogram, fn() -> Histogram>,
}

/// Buckets of [`HTTP_LATENCY_BUCKETS`]: 100 µs to 10 minutes, so a slow pull or a long
/// non-streamed answer lands in a bucket of its own rather than in `+Inf`.
fn latency_histogram() -> Histogram {
    Histogram::new(HTTP_LATENCY_BUCKETS)
}

/// Upper bounds of `ollama_dash_http_request_duration_seconds`, seconds.
const HTTP_LATENCY_BUCKETS: [f64; 21] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

impl Metrics {
    pub(crate) fn new(dashboard: Dashboard, plugins: crate::plugins::PluginHost) -> Arc<Self> {
        let mut registry = Registry::default();
        let requests = Family::<HotLabels, Counter>::default();
        let latency = Family::<HotLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register(
            "ollama_dash_http_requests",
            "HTTP requests answered, by method, route and status",
            requests.clone(),
        );
        registry.register(
            "ollama_dash_http_request_duration_seconds",
            "Time to answer an HTTP request (headers), by method and route",
            latency.clone(),
        );
        llm::LlmMetrics::register(&mut registry, &dashboard);
        registry.register_collector(Box::new(DashboardCollector { dashboard }));
        registry.register_collector(Box::new(super::plugins::PluginsCollector(plugins)));
        Arc::new(Self {
            registry,
            requests,
            latency,
        })
    }

    fn render(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// Counts and times every request, labelled by its route pattern (never the raw path, so
/// model names do not blow up the label set).
pub(crate) async fn track(metrics: Arc<Metrics>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(Cow::Borrowed("unmatched"), |m| {
            Cow::Owned(m.as_str().to_owned())
        });
    let method = Cow::Owned(request.method().as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed().as_secs_f64();
    let mut labels: HotLabels = Vec::with_capacity(3);
    labels.extend([("method", method), ("route", route)]);
    metrics.latency.get_or_create(&labels).observe(elapsed);
    labels.push(("status", Cow::Owned(response.status().as_u16().to_string())));
    metrics.requests.get_or_create(&labels).inc();
    response
}

/// `GET /metrics`: OpenMetrics when the client asks for it (Prometheus does) or sends no
/// `Accept`; otherwise (`curl`, `promtool`, older scrapers) the classic text format 0.0.4.
pub(crate) async fn scrape(metrics: Arc<Metrics>, headers: axum::http::HeaderMap) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase);
    let openmetrics = accept
        .as_deref()
        .is_none_or(|a| a.contains("application/openmetrics-text"));
    match metrics.render() {
        Ok(body) => {
            let (body, kind) = if openmetrics {
                (
                    body,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                )
            } else {
                (
                    classic_text(&body),
                    "text/plain; version=0.0.4; charset=utf-8",
                )
            };
            let mut response = body.into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
            response
        }
        Err(_) => super::ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "could not encode metrics",
        )
        .into_response(),
    }
}

/// The same exposition in the classic Prometheus text format: a counter's `HELP` and `TYPE`
/// lines name its samples (`x_total`, where OpenMetrics names the family `x`), and the
/// `UNIT` and `EOF` lines, which that format has not, are left out.
fn classic_text(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    let mut help: Option<&str> = None;
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if line.starts_with("# HELP ") {
            if let Some(previous) = help.replace(line) {
                out.push_str(previous);
                out.push('\n');
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let (name, kind) = match kind {
                "counter" => (format!("{name}_total"), "counter"),
                "unknown" => (name.to_owned(), "untyped"),
                other => (name.to_owned(), other),
            };
            if let Some(help_line) = help.take() {
                let text = help_line
                    .strip_prefix("# HELP ")
                    .and_then(|h| h.split_once(' '))
                    .map_or("", |(_, text)| text);
                out.push_str(&format!("# HELP {name} {text}\n"));
            }
            out.push_str(&format!("# TYPE {name} {kind}\n"));
            continue;
        }
        if let Some(previous) = help.take() {
            out.push_str(previous);
            out.push('\n');
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Reads the dashboard's cache at scrape time.
#[derive(Debug)]
struct DashboardCollector {
    dashboard: Dashboard,
}

/// A gauge written straight from a value.
#[derive(Debug)]
struct Value(f64);

impl EncodeMetric for Value {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        // Whole numbers print as such (`ollama_up 1`, bytes without `.0`).
        if self.0.fract() == 0.0 && self.0.abs() < 9.0e15 {
            encoder.encode_gauge(&(self.0 as i64))
        } else {
            encoder.encode_gauge(&self.0)
        }
    }
    fn metric_type(&self) -> MetricType {
        MetricType::Gauge
    }
}

fn gauge(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    series: &[(Labels, f64)],
) -> Result<(), std::fmt::Error> {
    if series.is_empty() {
        return Ok(());
    }
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in series {
        if labels.is_empty() {
            Value(*value).encode(metric)?;
            break;
        }
        Value(*value).encode(metric.encode_family(labels)?)?;
    }
    Ok(())
}

/// A counter written straight from a value, one series per label set.
fn counter(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    series: &[(Labels, u64)],
) -> Result<(), std::fmt::Error> {
    if series.is_empty() {
        return Ok(());
    }
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in series {
        metric
            .encode_family(labels)?
            .encode_counter::<prometheus_client::encoding::NoLabelSet, u64, u64>(value, None)?;
    }
    Ok(())
}

/// The fleet's nodes and routing decisions.
fn fleet(encoder: &mut DescriptorEncoder<'_>, d: &Dashboard) -> Result<(), std::fmt::Error> {
    let nodes = d.fleet().status();
    let per_node = |f: &dyn Fn(&ollama_dash_core::fleet::NodeStatus) -> f64| -> Vec<(Labels, f64)> {
        nodes
            .iter()
            .map(|n| (vec![("node".to_owned(), n.name.clone())], f(n)))
            .collect()
    };
    gauge(
        encoder,
        "ollama_dash_node_up",
        "1 while a node is up (not down)",
        &per_node(&|n| bool_value(n.state != "down")),
    )?;
    gauge(
        encoder,
        "ollama_dash_node_draining",
        "1 while a node is drained",
        &per_node(&|n| bool_value(n.state == "draining")),
    )?;
    gauge(
        encoder,
        "ollama_dash_node_in_flight",
        "Generations running on a node",
        &per_node(&|n| n.in_flight as f64),
    )?;
    gauge(
        encoder,
        "ollama_dash_node_queued",
        "Generations waiting for a slot on a node",
        &per_node(&|n| n.queued as f64),
    )?;
    gauge(
        encoder,
        "ollama_dash_node_vram_used_bytes",
        "VRAM in use on a node: scraped from its metrics_url, else held by its loaded models",
        &per_node(&|n| n.vram_used as f64),
    )?;
    // Only the nodes whose figure is known (a scrape, or a configured vram_bytes).
    let known = |f: &dyn Fn(&ollama_dash_core::fleet::NodeStatus) -> Option<u64>| {
        nodes
            .iter()
            .filter_map(|n| Some((vec![("node".to_owned(), n.name.clone())], f(n)? as f64)))
            .collect::<Vec<(Labels, f64)>>()
    };
    gauge(
        encoder,
        "ollama_dash_node_vram_free_bytes",
        "VRAM free on a node, as routing counts it (scraped, else configured less used)",
        &known(&|n| n.vram_free),
    )?;
    gauge(
        encoder,
        "ollama_dash_node_vram_total_bytes",
        "VRAM of a node (scraped, else its configured vram_bytes)",
        &known(&|n| n.vram_total),
    )?;
    let decisions: Vec<(Labels, u64)> = d
        .fleet()
        .decisions()
        .into_iter()
        .map(|(node, reason, n)| {
            (
                vec![
                    ("node".to_owned(), node),
                    ("reason".to_owned(), reason.as_str().to_owned()),
                ],
                n,
            )
        })
        .collect();
    counter(
        encoder,
        "ollama_dash_route_decisions",
        "Routing decisions by node and reason",
        &decisions,
    )
}

fn bool_value(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

impl Collector for DashboardCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let d = &self.dashboard;
        let none = || -> Labels { Vec::new() };
        let version = d.ollama_version();
        let up = version.value.is_some() && version.error.is_none();
        gauge(
            &mut encoder,
            "ollama_up",
            "1 when Ollama answered its last version probe",
            &[(none(), bool_value(up))],
        )?;
        let running = d.running_models();
        if let Some(models) = &running.value {
            gauge(
                &mut encoder,
                "ollama_models_loaded",
                "Models loaded in memory",
                &[(none(), models.len() as f64)],
            )?;
            let per_model =
                |f: &dyn Fn(&ollama_dash_core::RunningModel) -> f64| -> Vec<(Labels, f64)> {
                    models
                        .iter()
                        .map(|m| (vec![("model".to_owned(), m.name.clone())], f(m)))
                        .collect()
                };
            gauge(
                &mut encoder,
                "ollama_model_size_bytes",
                "Memory used by a loaded model",
                &per_model(&|m| m.size as f64),
            )?;
            gauge(
                &mut encoder,
                "ollama_model_vram_bytes",
                "VRAM used by a loaded model",
                &per_model(&|m| m.size_vram as f64),
            )?;
            gauge(
                &mut encoder,
                "ollama_model_vram_ratio",
                "Share of a loaded model held in VRAM (0–1)",
                &per_model(&|m| m.vram_percent / 100.0),
            )?;
        }
        if let Some(models) = &d.list_models().value {
            gauge(
                &mut encoder,
                "ollama_models_installed",
                "Models installed in Ollama",
                &[(none(), models.len() as f64)],
            )?;
        }
        fleet(&mut encoder, d)?;
        let health = d.collector_health();
        gauge(
            &mut encoder,
            "ollama_dash_collector_up",
            "1 while the background collector runs",
            &[(none(), bool_value(health.alive))],
        )?;
        let probe = |f: &dyn Fn(&ollama_dash_core::live::ProbeStatus) -> Option<f64>| -> Vec<(Labels, f64)> {
            health
                .probes
                .iter()
                .filter_map(|p| f(p).map(|v| (vec![("probe".to_owned(), p.probe.name().to_owned())], v)))
                .collect()
        };
        gauge(
            &mut encoder,
            "ollama_dash_probe_age_seconds",
            "Age of a probe's cached value",
            &probe(&|p| p.age_ms.map(|a| a as f64 / 1000.0)),
        )?;
        gauge(
            &mut encoder,
            "ollama_dash_probe_stale",
            "1 when a probe's value is older than twice its interval",
            &probe(&|p| Some(bool_value(p.stale))),
        )?;
        gauge(
            &mut encoder,
            "ollama_dash_probe_failures",
            "Failures in a row of a probe",
            &probe(&|p| Some(f64::from(p.failures))),
        )?;
        if let Some(system) = &d.system_stats().value {
            if let Some(cpu) = system.cpu_percent {
                gauge(
                    &mut encoder,
                    "ollama_dash_host_cpu_percent",
                    "CPU use of the host, percent",
                    &[(none(), f64::from(cpu))],
                )?;
            }
            gauge(
                &mut encoder,
                "ollama_dash_host_memory_used_bytes",
                "Memory in use on the host",
                &[(none(), system.memory.used as f64)],
            )?;
            gauge(
                &mut encoder,
                "ollama_dash_host_memory_total_bytes",
                "Memory of the host",
                &[(none(), system.memory.total as f64)],
            )?;
        }
        if let Some(report) = &d.gpu_stats().value {
            encode_gpus(
                &mut encoder,
                report,
                d.system_stats().value.and_then(|s| s.hostname.clone()),
            )?;
        }
        Ok(())
    }
}

const MIB: f64 = 1024.0 * 1024.0;

mod llm;

/// The dcgm-exporter series; a value the GPU does not report is left out, never sent as 0.
fn encode_gpus(
    encoder: &mut DescriptorEncoder<'_>,
    report: &ollama_dash_core::live::gpu::GpuReport,
    hostname: Option<String>,
) -> Result<(), std::fmt::Error> {
    type Field = fn(&ollama_dash_core::live::gpu::GpuDevice) -> Option<f64>;
    let series: [(&str, &str, Field); 10] = [
        ("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", |g| {
            g.utilization_percent.map(f64::from)
        }),
        (
            "DCGM_FI_DEV_MEM_COPY_UTIL",
            "Memory utilization (in %).",
            |g| g.memory_utilization_percent.map(f64::from),
        ),
        (
            "DCGM_FI_DEV_FB_USED",
            "Framebuffer memory used (in MiB).",
            |g| g.memory_used.map(|b| b as f64 / MIB),
        ),
        (
            "DCGM_FI_DEV_FB_FREE",
            "Framebuffer memory free (in MiB).",
            |g| g.memory_free.map(|b| b as f64 / MIB),
        ),
        (
            "DCGM_FI_DEV_FB_TOTAL",
            "Framebuffer memory total (in MiB).",
            |g| g.memory_total.map(|b| b as f64 / MIB),
        ),
        ("DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C).", |g| {
            g.temperature_c.map(f64::from)
        }),
        ("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W).", |g| {
            g.power_watts
        }),
        (
            "DCGM_FI_DEV_SM_CLOCK",
            "SM clock frequency (in MHz).",
            |g| g.sm_clock_mhz.map(f64::from),
        ),
        (
            "DCGM_FI_DEV_MEM_CLOCK",
            "Memory clock frequency (in MHz).",
            |g| g.memory_clock_mhz.map(f64::from),
        ),
        (
            "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
            "Total energy consumption since boot (in mJ).",
            |g| g.energy_mj.map(|e| e as f64),
        ),
    ];
    for (name, help, field) in series {
        let values: Vec<(Labels, f64)> = report
            .devices
            .iter()
            .filter_map(|g| {
                let value = field(g)?;
                let labels = vec![
                    ("gpu".to_owned(), g.index.to_string()),
                    ("UUID".to_owned(), g.uuid.clone()),
                    ("device".to_owned(), format!("nvidia{}", g.index)),
                    ("modelName".to_owned(), g.name.clone()),
                    ("Hostname".to_owned(), hostname.clone().unwrap_or_default()),
                ];
                Some((labels, value))
            })
            .collect();
        gauge(encoder, name, help, &values)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use ollama_dash_core::live::gpu::{GpuReport, GpuSource, parse_smi_gpus};

    /// Two GPUs as `nvidia-smi` reports them; the second has no memory-copy utilisation.
    const TWO_GPUS: &str = "\
0, GPU-5f8c2a1e-7d0b-4c4f-9a57-0c1d2e3f4a5b, 37, 12, 24564, 18342, 5866, 61, 287.43, 450.00, 45, 2520, 10501, 550.54.15, NVIDIA GeForce RTX 4090
1, GPU-a1b2c3d4-0000-1111-2222-333344445555, 0, [N/A], 81559, 4, 80974, 34, 62.10, 400.00, [N/A], 210, 1593, 550.54.15, NVIDIA A100-SXM4-80GB
";

    #[derive(Debug)]
    struct Fixed(GpuReport);

    impl Collector for Fixed {
        fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
            encode_gpus(&mut encoder, &self.0, Some("gpu-box".to_owned()))
        }
    }

    #[test]
    fn classic_text_names_counters_by_their_samples() {
        let om = "# HELP reqs Requests.\n# TYPE reqs counter\nreqs_total{a=\"b\"} 3\n\
                  # HELP up Up.\n# TYPE up gauge\n# UNIT up ratio\nup 1\n# EOF\n";
        assert_eq!(
            classic_text(om),
            "# HELP reqs_total Requests.\n# TYPE reqs_total counter\nreqs_total{a=\"b\"} 3\n\
             # HELP up Up.\n# TYPE up gauge\nup 1\n"
        );
    }

    #[test]
    fn gpu_series_are_named_and_labelled_like_dcgm_exporter() {
        let (driver, devices) = parse_smi_gpus(TWO_GPUS).unwrap();
        let report = GpuReport {
            taken_at: chrono::Utc::now(),
            source: GpuSource::NvidiaSmi,
            driver_version: driver,
            devices,
            note: None,
        };
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Fixed(report)));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        let labels0 = r#"gpu="0",UUID="GPU-5f8c2a1e-7d0b-4c4f-9a57-0c1d2e3f4a5b",device="nvidia0",modelName="NVIDIA GeForce RTX 4090",Hostname="gpu-box""#;
        for line in [
            format!("DCGM_FI_DEV_GPU_UTIL{{{labels0}}} 37"),
            format!("DCGM_FI_DEV_FB_USED{{{labels0}}} 18342"),
            format!("DCGM_FI_DEV_FB_FREE{{{labels0}}} 5866"),
            format!("DCGM_FI_DEV_GPU_TEMP{{{labels0}}} 61"),
            format!("DCGM_FI_DEV_POWER_USAGE{{{labels0}}} 287.43"),
            "# TYPE DCGM_FI_DEV_GPU_UTIL gauge".to_owned(),
        ] {
            assert!(text.contains(&line), "{line} missing in\n{text}");
        }
        assert!(
            text.contains(r#"DCGM_FI_DEV_GPU_UTIL{gpu="1","#),
            "a real 0 is reported"
        );
        assert!(
            !text.contains(r#"DCGM_FI_DEV_MEM_COPY_UTIL{gpu="1""#),
            "[N/A] is left out, not sent as 0:\n{text}"
        );
        assert!(
            !text.contains("ENERGY"),
            "nvidia-smi gives no energy counter"
        );
    }
}
