//! How plugins join the dashboard: every detector plugin is a `CapabilityDetector` in the core's
//! capability chain (its flags carry the plugin's name as their source), and the collectors run
//! on the live collector's system schedule.

use std::sync::Arc;

use async_trait::async_trait;
use ollama_dash_core::capabilities::{self, CapabilityDetector};
use ollama_dash_core::{Dashboard, Probe};

use super::{
    HostSnapshot, PluginHost, Provides, ReloadReport, facts_from_chain, snapshot_from, trace_window,
};

/// One detector plugin, by name, in the capability chain. The plugin behind the name may be
/// replaced or removed by a reload: a missing or disabled plugin adds nothing.
#[derive(Debug)]
struct PluginDetector {
    host: PluginHost,
    plugin: String,
}

#[async_trait]
impl CapabilityDetector for PluginDetector {
    fn name(&self) -> &str {
        &self.plugin
    }

    async fn detect(
        &self,
        facts: &capabilities::ModelFacts,
    ) -> ollama_dash_core::Result<Vec<String>> {
        let facts = facts_from_chain(facts);
        let host = self.host.clone();
        let plugin = self.plugin.clone();
        // A call is bounded by its fuel (a few ms at most), but it is CPU work: off the async
        // threads.
        let flags = tokio::task::spawn_blocking(move || host.detect_one(&plugin, &facts))
            .await
            .ok()
            .flatten();
        Ok(flags.unwrap_or_default())
    }
}

impl PluginHost {
    /// Registers detector plugins not registered yet with the dashboard's capability chain,
    /// makes it recompute every model's capabilities, and refreshes the model lists so the new
    /// flags show at once.
    pub async fn join_capability_chain(&self, dashboard: &Dashboard) {
        let names = self.providing(Provides::Detector);
        {
            let mut registered = self
                .inner
                .registered
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            for plugin in names {
                if registered.insert(plugin.clone()) {
                    let detector = PluginDetector {
                        host: self.clone(),
                        plugin,
                    };
                    dashboard.register_capability_detector(Arc::new(detector));
                }
            }
        }
        dashboard.forget_capabilities();
        dashboard.refresh(&[Probe::Installed, Probe::Running]).await;
    }

    /// After a reload: announce it, and re-run the capability chain when detectors changed.
    pub async fn after_reload(&self, dashboard: &Dashboard, report: &ReloadReport) {
        let failed = report.failed.iter().map(|(file, _)| file.clone()).collect();
        dashboard.announce_plugins_changed(report.loaded.clone(), failed);
        self.join_capability_chain(dashboard).await;
    }

    /// Runs the collectors on the live collector's system schedule (every
    /// `system_interval_secs`), keeping the metrics for `/api/stats`, `/metrics` and
    /// `/api/plugins/metrics`, and announcing them as `Event::PluginMetrics`.
    ///
    /// On a clock of its own, not on the event stream: that carries two events per traced
    /// request, and waking this task for each cost every request a hop to another thread.
    pub fn collect_on_schedule(&self, dashboard: &Dashboard) {
        let host = self.clone();
        let dashboard = dashboard.clone();
        let every = std::time::Duration::from_secs_f64(
            dashboard.config().live.system_interval_secs.max(0.1),
        );
        let task = tokio::spawn(async move {
            let mut clock = tokio::time::interval(every);
            clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            clock.tick().await; // the first tick is now: let the first sample come first
            loop {
                clock.tick().await;
                if let Some(metrics) = host.collect_round(&dashboard).await {
                    dashboard.publish_plugin_metrics(metrics);
                }
            }
        });
        self.keep_task(task);
    }

    /// One collection round on a snapshot of the live cache, off the async threads. `None`
    /// when no plugin collects.
    pub async fn collect_round(&self, dashboard: &Dashboard) -> Option<Vec<super::PluginMetric>> {
        let any = self
            .loaded()
            .iter()
            .any(|p| p.callable(Provides::Collector));
        if !any {
            return None;
        }
        let snapshot = HostSnapshot {
            traces: trace_window(dashboard),
            ..snapshot_from(dashboard)
        };
        let host = self.clone();
        tokio::task::spawn_blocking(move || host.collect(&snapshot))
            .await
            .ok()
    }
}
