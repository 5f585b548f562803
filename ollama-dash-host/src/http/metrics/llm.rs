//! The LLM series of `/metrics`, named after the OpenTelemetry GenAI semantic conventions
//! rendered as Prometheus names (docs/metrics.md has the mapping).
//!
//! They are aggregated here, in memory, from the dashboard's trace events
//! ([`Event::TraceStarted`] and [`Event::TraceRecorded`]), taken by a tap
//! ([`Dashboard::tap_traces`]) on the task that records the trace: a few map updates, no task
//! woken, no event ever missed, and no scrape or request runs SQL. (A broadcast listener cost
//! two task wake-ups per request, about a tenth of a proxied request's CPU: benches/RESULTS.md,
//! issue 14.) `ollama_dash_metrics_events_missed_total` stays, at 0.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Mutex;

use ollama_dash_core::{Dashboard, Event};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::HotLabels as Labels;

type Histograms = Family<Labels, Histogram, fn() -> Histogram>;

/// `gen_ai.client.token.usage`: the semantic conventions' advisory buckets.
const TOKEN_BUCKETS: [f64; 14] = [
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];

/// Durations: the conventions' buckets (10 ms … 82 s), then on to 10 minutes, how long a
/// streamed answer of a slow model can take.
const DURATION_BUCKETS: [f64; 17] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92, 163.84,
    327.68, 600.0,
];

/// Time to first token: the conventions' buckets (1 ms … 10 s), then on to 10 minutes (a
/// model load comes before the first token).
const TTFT_BUCKETS: [f64; 21] = [
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    30.0, 60.0, 120.0, 300.0, 600.0,
];

/// `gen_ai.server.time_per_output_token`: the conventions' advisory buckets.
const TIME_PER_TOKEN_BUCKETS: [f64; 13] = [
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5,
];

/// Generated tokens per second of Ollama's generation time.
const TOKENS_PER_SECOND_BUCKETS: [f64; 14] = [
    1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 50.0, 75.0, 100.0, 150.0, 200.0, 300.0, 500.0, 1000.0,
];

fn token_histogram() -> Histogram {
    Histogram::new(TOKEN_BUCKETS)
}
fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}
fn ttft_histogram() -> Histogram {
    Histogram::new(TTFT_BUCKETS)
}
fn time_per_token_histogram() -> Histogram {
    Histogram::new(TIME_PER_TOKEN_BUCKETS)
}
fn tokens_per_second_histogram() -> Histogram {
    Histogram::new(TOKENS_PER_SECOND_BUCKETS)
}

/// The LLM series of one app and the in-flight traces they count.
#[derive(Debug)]
pub(super) struct LlmMetrics {
    requests: Family<Labels, Counter>,
    token_usage: Histograms,
    operation_duration: Histograms,
    server_duration: Histograms,
    ttft: Histograms,
    time_per_token: Histograms,
    tokens_per_second: Histograms,
    in_flight: Family<Labels, Gauge>,
    missed: Counter,
    /// Labels of each trace started and not yet recorded, by trace id.
    started: Mutex<HashMap<String, Labels>>,
}

/// Whatever a trace event says about one generation, for [`LlmMetrics::recorded`] (borrowed
/// from the event: recording runs on the request's task).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct Finished<'a> {
    pub(super) id: &'a str,
    pub(super) model: &'a str,
    pub(super) endpoint: &'a str,
    pub(super) api_key: Option<&'a str>,
    pub(super) status: &'a str,
    pub(super) prompt_tokens: Option<u64>,
    pub(super) completion_tokens: Option<u64>,
    pub(super) ttft_ms: Option<f64>,
    pub(super) duration_ms: Option<f64>,
    pub(super) eval_ns: Option<u64>,
    pub(super) total_ns: Option<u64>,
}

impl LlmMetrics {
    /// Registers the series in `registry` and taps `dashboard`'s trace events.
    pub(super) fn register(registry: &mut Registry, dashboard: &Dashboard) {
        let metrics = Self::new(registry);
        dashboard.tap_traces(move |event| apply(&metrics, event));
    }

    fn new(registry: &mut Registry) -> Self {
        let metrics = Self {
            requests: Family::default(),
            token_usage: Histograms::new_with_constructor(token_histogram),
            operation_duration: Histograms::new_with_constructor(duration_histogram),
            server_duration: Histograms::new_with_constructor(duration_histogram),
            ttft: Histograms::new_with_constructor(ttft_histogram),
            time_per_token: Histograms::new_with_constructor(time_per_token_histogram),
            tokens_per_second: Histograms::new_with_constructor(tokens_per_second_histogram),
            in_flight: Family::default(),
            missed: Counter::default(),
            started: Mutex::default(),
        };
        registry.register(
            "ollama_dash_gen_ai_requests",
            "Traced generations ended, by model, key, operation and status (ok, error, cancelled)",
            metrics.requests.clone(),
        );
        registry.register(
            "gen_ai_client_token_usage",
            "Input and output tokens of a generation (gen_ai.client.token.usage)",
            metrics.token_usage.clone(),
        );
        registry.register(
            "gen_ai_client_operation_duration_seconds",
            "Whole generation as ollama-dash saw it, seconds (gen_ai.client.operation.duration)",
            metrics.operation_duration.clone(),
        );
        registry.register(
            "gen_ai_server_request_duration_seconds",
            "Whole request as Ollama timed it, seconds (gen_ai.server.request.duration)",
            metrics.server_duration.clone(),
        );
        registry.register(
            "gen_ai_server_time_to_first_token_seconds",
            "Time to the first token of a successful stream, seconds (gen_ai.server.time_to_first_token)",
            metrics.ttft.clone(),
        );
        registry.register(
            "gen_ai_server_time_per_output_token_seconds",
            "Ollama's generation time per output token, seconds (gen_ai.server.time_per_output_token)",
            metrics.time_per_token.clone(),
        );
        registry.register(
            "ollama_dash_gen_ai_output_tokens_per_second",
            "Output tokens per second of Ollama's generation time",
            metrics.tokens_per_second.clone(),
        );
        registry.register(
            "ollama_dash_gen_ai_requests_in_flight",
            "Traced generations started and not yet ended",
            metrics.in_flight.clone(),
        );
        registry.register(
            "ollama_dash_metrics_events_missed",
            "Trace events the LLM series missed (always 0: they are tapped as traces are recorded)",
            metrics.missed.clone(),
        );
        metrics
    }

    /// A generation started: one more in flight.
    pub(super) fn started(&self, id: &str, model: &str, endpoint: &str, api_key: Option<&str>) {
        let labels = base_labels(model, endpoint, api_key);
        self.in_flight.get_or_create(&labels).inc();
        self.started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_owned(), labels);
    }

    /// A generation ended: counted, timed, and no longer in flight.
    pub(super) fn recorded(&self, trace: &Finished<'_>) {
        let started = self
            .started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(trace.id);
        if let Some(labels) = started {
            // The labels it started with, even if the model was corrected since.
            self.in_flight.get_or_create(&labels).dec();
        }
        // One list: a label is pushed for the series that has it and popped after.
        let mut labels = base_labels(trace.model, trace.endpoint, trace.api_key);
        let status = status_label(trace.status);
        labels.push(("status", status.clone()));
        self.requests.get_or_create(&labels).inc();
        labels.pop();
        for (kind, tokens) in [
            ("input", trace.prompt_tokens),
            ("output", trace.completion_tokens),
        ] {
            if let Some(tokens) = tokens {
                labels.push(("gen_ai_token_type", Cow::Borrowed(kind)));
                self.token_usage
                    .get_or_create(&labels)
                    .observe(tokens as f64);
                labels.pop();
            }
        }
        // `error.type` only on failures, as the conventions ask.
        let failed = trace.status != "ok";
        if failed {
            labels.push(("error_type", status));
        }
        if let Some(ms) = trace.duration_ms {
            self.operation_duration
                .get_or_create(&labels)
                .observe(ms / 1000.0);
        }
        if let Some(ns) = trace.total_ns.filter(|ns| *ns > 0) {
            self.server_duration
                .get_or_create(&labels)
                .observe(ns as f64 / 1e9);
        }
        if failed {
            return; // the token timings describe successful responses only
        }
        if let Some(ms) = trace.ttft_ms {
            self.ttft.get_or_create(&labels).observe(ms / 1000.0);
        }
        if let (Some(ns), Some(tokens)) = (
            trace.eval_ns.filter(|ns| *ns > 0),
            trace.completion_tokens.filter(|t| *t > 0),
        ) {
            let seconds = ns as f64 / 1e9;
            self.time_per_token
                .get_or_create(&labels)
                .observe(seconds / tokens as f64);
            self.tokens_per_second
                .get_or_create(&labels)
                .observe(tokens as f64 / seconds);
        }
    }
}

/// The labels every LLM series shares: semantic-convention attributes plus the key's name.
/// Room for one label more (status, token type or error type).
fn base_labels(model: &str, endpoint: &str, api_key: Option<&str>) -> Labels {
    let mut labels = Vec::with_capacity(5);
    labels.extend([
        ("gen_ai_operation_name", Cow::Borrowed(operation(endpoint))),
        ("gen_ai_provider_name", Cow::Borrowed("ollama")),
        ("gen_ai_request_model", Cow::Owned(model.to_owned())),
        (
            "api_key",
            Cow::Owned(api_key.unwrap_or_default().to_owned()),
        ),
    ]);
    labels
}

/// A trace's status as a label value, not copied when it is one of the usual ones.
fn status_label(status: &str) -> Cow<'static, str> {
    match status {
        "ok" => Cow::Borrowed("ok"),
        "error" => Cow::Borrowed("error"),
        "cancelled" => Cow::Borrowed("cancelled"),
        other => Cow::Owned(other.to_owned()),
    }
}

/// `gen_ai.operation.name` of a traced route.
fn operation(endpoint: &str) -> &'static str {
    if endpoint.ends_with("/embeddings") || endpoint.ends_with("/embed") {
        "embeddings"
    } else if endpoint.contains("chat") {
        "chat"
    } else {
        "text_completion"
    }
}

fn apply(metrics: &LlmMetrics, event: &Event) {
    match event {
        Event::TraceStarted {
            id,
            model,
            endpoint,
            api_key,
        } => metrics.started(id, model, endpoint, api_key.as_deref()),
        Event::TraceRecorded {
            id,
            model,
            status,
            endpoint,
            api_key,
            prompt_tokens,
            completion_tokens,
            ttft_ms,
            duration_ms,
            eval_ns,
            total_ns,
        } => metrics.recorded(&Finished {
            id,
            model,
            endpoint,
            api_key: api_key.as_deref(),
            status,
            prompt_tokens: *prompt_tokens,
            completion_tokens: *completion_tokens,
            ttft_ms: *ttft_ms,
            duration_ms: *duration_ms,
            eval_ns: *eval_ns,
            total_ns: *total_ns,
        }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn scrape(registry: &Registry) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
        text
    }

    #[test]
    fn a_trace_moves_every_series_of_its_model_and_key() {
        let mut registry = Registry::default();
        let metrics = LlmMetrics::new(&mut registry);
        metrics.started("t1", "llama3", "/v1/chat/completions", Some("team-a"));
        let labels = r#"gen_ai_operation_name="chat",gen_ai_provider_name="ollama",gen_ai_request_model="llama3",api_key="team-a""#;
        let text = scrape(&registry);
        assert!(
            text.contains(&format!(
                "ollama_dash_gen_ai_requests_in_flight{{{labels}}} 1"
            )),
            "{text}"
        );
        metrics.recorded(&Finished {
            id: "t1",
            model: "llama3",
            endpoint: "/v1/chat/completions",
            api_key: Some("team-a"),
            status: "ok",
            prompt_tokens: Some(12),
            completion_tokens: Some(100),
            ttft_ms: Some(250.0),
            duration_ms: Some(240_000.0),
            eval_ns: Some(2_000_000_000),
            total_ns: Some(239_000_000_000),
        });
        let text = scrape(&registry);
        for line in [
            format!("ollama_dash_gen_ai_requests_in_flight{{{labels}}} 0"),
            format!(r#"ollama_dash_gen_ai_requests_total{{{labels},status="ok"}} 1"#),
            format!(r#"gen_ai_client_token_usage_sum{{{labels},gen_ai_token_type="input"}} 12.0"#),
            format!(
                r#"gen_ai_client_token_usage_sum{{{labels},gen_ai_token_type="output"}} 100.0"#
            ),
            // Four minutes: below the 327.68 s bucket, above 163.84 s.
            format!(r#"gen_ai_client_operation_duration_seconds_bucket{{le="327.68",{labels}}} 1"#),
            format!(r#"gen_ai_client_operation_duration_seconds_bucket{{le="163.84",{labels}}} 0"#),
            format!(r#"gen_ai_server_time_to_first_token_seconds_sum{{{labels}}} 0.25"#),
            format!(r#"ollama_dash_gen_ai_output_tokens_per_second_sum{{{labels}}} 50.0"#),
            format!(r#"gen_ai_server_time_per_output_token_seconds_sum{{{labels}}} 0.02"#),
        ] {
            assert!(text.contains(&line), "{line} missing in\n{text}");
        }
    }

    #[test]
    fn a_failure_is_typed_and_not_timed_per_token() {
        let mut registry = Registry::default();
        let metrics = LlmMetrics::new(&mut registry);
        metrics.recorded(&Finished {
            id: "never-started",
            model: "m",
            endpoint: "/ollama/api/generate",
            status: "error",
            ttft_ms: Some(10.0),
            duration_ms: Some(5.0),
            eval_ns: Some(1),
            completion_tokens: Some(1),
            ..Finished::default()
        });
        let text = scrape(&registry);
        assert!(
            text.contains(r#"status="error"} 1"#),
            "an error is counted:\n{text}"
        );
        assert!(
            text.contains(r#"gen_ai_operation_name="text_completion""#),
            "{text}"
        );
        assert!(
            text.contains(r#"api_key="",error_type="error"} 1"#),
            "the duration carries error_type:\n{text}"
        );
        assert!(
            !text.contains("gen_ai_server_time_to_first_token_seconds_count"),
            "no TTFT of a failure:\n{text}"
        );
        assert!(
            !text.contains("in_flight{"),
            "an unknown id moves no gauge:\n{text}"
        );
    }

    #[test]
    fn embeddings_are_their_own_operation() {
        assert_eq!(operation("/v1/embeddings"), "embeddings");
        assert_eq!(operation("/ollama/api/embed"), "embeddings");
        assert_eq!(operation("/ollama/api/chat"), "chat");
        assert_eq!(operation("/v1/completions"), "text_completion");
    }
}
