//! History: a bounded ring of samples in memory (sparklines) and one averaged point per
//! `history_step_secs` in SQLite (`stats_history`), pruned to `history_days`.

use std::collections::VecDeque;

use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::gpu::GpuReport;
use super::system::SystemStats;

/// One point of history. Averages when downsampled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistorySample {
    /// Unix milliseconds (the bucket start when downsampled).
    pub ts: i64,
    /// CPU use, percent.
    pub cpu_percent: Option<f32>,
    /// Memory in use, bytes.
    pub memory_used: u64,
    /// Memory total, bytes.
    pub memory_total: u64,
    /// Swap in use, bytes.
    pub swap_used: u64,
    /// Mean GPU utilisation over devices, percent (None without a GPU).
    pub gpu_percent: Option<f32>,
    /// VRAM in use over all devices, bytes (None without a GPU).
    pub vram_used: Option<u64>,
    /// Network receive rate, bytes/s.
    pub net_rx_per_sec: Option<f64>,
    /// Network send rate, bytes/s.
    pub net_tx_per_sec: Option<f64>,
}

impl HistorySample {
    pub(crate) fn new(system: &SystemStats, gpu: Option<&GpuReport>) -> Self {
        let utils: Vec<f32> = gpu
            .iter()
            .flat_map(|g| g.devices.iter())
            .filter_map(|d| d.utilization_percent.map(|u| u as f32))
            .collect();
        Self {
            ts: system.taken_at.timestamp_millis(),
            cpu_percent: system.cpu_percent,
            memory_used: system.memory.used,
            memory_total: system.memory.total,
            swap_used: system.swap.used,
            gpu_percent: (!utils.is_empty())
                .then(|| utils.iter().sum::<f32>() / utils.len() as f32),
            vram_used: gpu.and_then(GpuReport::memory_used),
            net_rx_per_sec: system.network.received_per_sec,
            net_tx_per_sec: system.network.transmitted_per_sec,
        }
    }
}

fn mean_f32(values: impl Iterator<Item = Option<f32>>) -> Option<f32> {
    let v: Vec<f32> = values.flatten().collect();
    (!v.is_empty()).then(|| v.iter().sum::<f32>() / v.len() as f32)
}

fn mean_f64(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let v: Vec<f64> = values.flatten().collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

fn mean_u64(values: impl Iterator<Item = u64>) -> u64 {
    let v: Vec<u64> = values.collect();
    if v.is_empty() {
        0
    } else {
        (v.iter().map(|&x| u128::from(x)).sum::<u128>() / v.len() as u128) as u64
    }
}

/// Averages samples into one point stamped `ts`.
pub(crate) fn average(ts: i64, samples: &[HistorySample]) -> HistorySample {
    let vram: Vec<u64> = samples.iter().filter_map(|s| s.vram_used).collect();
    HistorySample {
        ts,
        cpu_percent: mean_f32(samples.iter().map(|s| s.cpu_percent)),
        memory_used: mean_u64(samples.iter().map(|s| s.memory_used)),
        memory_total: mean_u64(samples.iter().map(|s| s.memory_total)),
        swap_used: mean_u64(samples.iter().map(|s| s.swap_used)),
        gpu_percent: mean_f32(samples.iter().map(|s| s.gpu_percent)),
        vram_used: (!vram.is_empty()).then(|| mean_u64(vram.into_iter())),
        net_rx_per_sec: mean_f64(samples.iter().map(|s| s.net_rx_per_sec)),
        net_tx_per_sec: mean_f64(samples.iter().map(|s| s.net_tx_per_sec)),
    }
}

/// The in-memory ring and the bucket being filled for SQLite.
#[derive(Debug)]
pub(crate) struct History {
    ring: VecDeque<HistorySample>,
    cap: usize,
    step_ms: i64,
    bucket: Option<(i64, Vec<HistorySample>)>,
}

impl History {
    pub(crate) fn new(cap: usize, step_secs: u64) -> Self {
        Self {
            ring: VecDeque::with_capacity(cap),
            cap,
            step_ms: i64::try_from(step_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
            bucket: None,
        }
    }

    /// Adds a sample; returns the averaged point of a bucket it closed, to be stored.
    pub(crate) fn push(&mut self, sample: HistorySample) -> Option<HistorySample> {
        if self.ring.len() == self.cap {
            self.ring.pop_front();
        }
        self.ring.push_back(sample.clone());
        let start = sample.ts - sample.ts.rem_euclid(self.step_ms);
        match &mut self.bucket {
            Some((current, samples)) if *current == start => {
                samples.push(sample);
                None
            }
            _ => {
                let closed = self.bucket.replace((start, vec![sample]));
                closed.map(|(ts, samples)| average(ts, &samples))
            }
        }
    }

    /// The samples newer than `since_ms`, oldest first.
    pub(crate) fn since(&self, since_ms: i64) -> Vec<HistorySample> {
        self.ring
            .iter()
            .filter(|s| s.ts >= since_ms)
            .cloned()
            .collect()
    }

    /// The oldest sample's time, if any.
    pub(crate) fn oldest(&self) -> Option<i64> {
        self.ring.front().map(|s| s.ts)
    }
}

/// Stores one downsampled point and prunes by age and by count.
pub(crate) fn store_point(
    conn: &rusqlite::Connection,
    point: &HistorySample,
    keep_ms: i64,
    max_rows: i64,
) -> rusqlite::Result<()> {
    let payload = serde_json::to_string(point).unwrap_or_default();
    conn.execute(
        "INSERT OR REPLACE INTO stats_history (ts, payload) VALUES (?1, ?2)",
        params![point.ts, payload],
    )?;
    conn.execute(
        "DELETE FROM stats_history WHERE ts < ?1",
        params![point.ts - keep_ms],
    )?;
    conn.execute(
        "DELETE FROM stats_history WHERE ts NOT IN \
         (SELECT ts FROM stats_history ORDER BY ts DESC LIMIT ?1)",
        params![max_rows],
    )?;
    Ok(())
}

/// Stored points since `since_ms`, oldest first.
pub(crate) fn load_points(
    conn: &rusqlite::Connection,
    since_ms: i64,
) -> rusqlite::Result<Vec<HistorySample>> {
    let mut stmt =
        conn.prepare_cached("SELECT payload FROM stats_history WHERE ts >= ?1 ORDER BY ts")?;
    let rows = stmt.query_map(params![since_ms], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for row in rows {
        if let Ok(point) = serde_json::from_str(&row?) {
            out.push(point);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn sample(ts: i64, cpu: f32) -> HistorySample {
        HistorySample {
            ts,
            cpu_percent: Some(cpu),
            memory_used: 100,
            memory_total: 200,
            swap_used: 0,
            gpu_percent: None,
            vram_used: None,
            net_rx_per_sec: None,
            net_tx_per_sec: None,
        }
    }

    #[test]
    fn the_ring_is_bounded_and_buckets_close_into_averages() {
        let mut h = History::new(3, 60);
        assert!(h.push(sample(60_000, 10.0)).is_none());
        assert!(h.push(sample(90_000, 30.0)).is_none());
        let closed = h.push(sample(120_000, 50.0)).unwrap();
        assert_eq!(closed.ts, 60_000);
        assert_eq!(closed.cpu_percent, Some(20.0));
        assert_eq!(closed.gpu_percent, None, "no GPU stays unknown");
        h.push(sample(121_000, 50.0));
        assert_eq!(h.since(0).len(), 3, "capped at 3");
        assert_eq!(h.oldest(), Some(90_000));
        assert_eq!(h.since(120_500).len(), 1);
    }

    #[test]
    fn stored_points_are_pruned_by_age_and_count() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE stats_history (ts INTEGER PRIMARY KEY, payload TEXT NOT NULL)",
        )
        .unwrap();
        for i in 0..10 {
            store_point(&conn, &sample(i * 60_000, i as f32), 1_000_000, 5).unwrap();
        }
        let points = load_points(&conn, 0).unwrap();
        assert_eq!(
            points.iter().map(|p| p.ts / 60_000).collect::<Vec<_>>(),
            [5, 6, 7, 8, 9]
        );
        store_point(&conn, &sample(100 * 60_000, 1.0), 120_000, 5).unwrap();
        assert_eq!(
            load_points(&conn, 0).unwrap().len(),
            1,
            "older than 2 min dropped"
        );
    }
}
