//! What the plugin host (in `ollama-dash-host`) reports back: plugin metrics as plain data, and
//! the events announcing them. Core itself never runs plugins.

use serde::Serialize;

/// Prometheus type of a [`PluginMetric`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// Goes up and down.
    Gauge,
    /// Only goes up.
    Counter,
}

/// A metric a plugin's collector returned, already checked by the host.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginMetric {
    /// Plugin that produced it.
    pub plugin: String,
    /// Name as the plugin gave it (`/metrics` shows it as `ollama_dash_plugin_<name>`).
    pub name: String,
    /// One line of help.
    pub help: String,
    /// A finite value.
    pub value: f64,
    /// Labels, without the `plugin` label.
    pub labels: Vec<(String, String)>,
    /// Gauge or counter.
    pub kind: MetricKind,
}
