//! Measuring: a row of results (with its JSON line), per-operation latency percentiles, and
//! the peak resident set read from /proc.

use std::time::Instant;

use serde_json::{Map, Value};

/// One measured row.
#[derive(Debug, Default, Clone)]
pub(super) struct Row {
    pub(super) workload: String,
    pub(super) engine: &'static str,
    pub(super) variant: String,
    pub(super) ops: u64,
    pub(super) secs: f64,
    pub(super) bytes: u64,
    pub(super) p50_us: Option<f64>,
    pub(super) p99_us: Option<f64>,
    pub(super) peak_rss_kib: u64,
    pub(super) extra: Vec<(&'static str, f64)>,
}

impl Row {
    pub(super) fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.secs
    }
    pub(super) fn mb_per_sec(&self) -> f64 {
        self.bytes as f64 / self.secs / 1e6
    }
    /// The row as one JSON line (what `--json` writes and the parent reads from a child).
    pub(super) fn json(&self) -> String {
        let mut m = Map::new();
        m.insert("workload".into(), self.workload.clone().into());
        m.insert("engine".into(), self.engine.into());
        m.insert("variant".into(), self.variant.clone().into());
        m.insert("ops".into(), self.ops.into());
        m.insert("secs".into(), self.secs.into());
        m.insert("ops_per_sec".into(), self.ops_per_sec().into());
        m.insert("mb_per_sec".into(), self.mb_per_sec().into());
        m.insert("peak_rss_kib".into(), self.peak_rss_kib.into());
        for (k, v) in [("p50_us", self.p50_us), ("p99_us", self.p99_us)] {
            if let Some(v) = v {
                m.insert(k.into(), v.into());
            }
        }
        for (k, v) in &self.extra {
            m.insert((*k).into(), (*v).into());
        }
        Value::Object(m).to_string()
    }

    /// A row from a line of [`json`](Self::json); `None` for any other line.
    pub(super) fn parse(line: &str) -> Option<Row> {
        let Value::Object(m) = serde_json::from_str(line).ok()? else {
            return None;
        };
        let mut row = Row::default();
        let mb = m.get("mb_per_sec").and_then(Value::as_f64)?;
        for (k, v) in m {
            match k.as_str() {
                "workload" => row.workload = v.as_str()?.to_string(),
                "engine" => {
                    row.engine = if v.as_str()? == "raw" {
                        "raw"
                    } else {
                        "logcache"
                    }
                }
                "variant" => row.variant = v.as_str()?.to_string(),
                "ops" => row.ops = v.as_u64()?,
                "secs" => row.secs = v.as_f64()?,
                "peak_rss_kib" => row.peak_rss_kib = v.as_u64()?,
                "p50_us" => row.p50_us = v.as_f64(),
                "p99_us" => row.p99_us = v.as_f64(),
                "ops_per_sec" | "mb_per_sec" => {}
                // Names of extra figures live as long as the runner: a handful per row.
                _ => row.extra.push((Box::leak(k.into_boxed_str()), v.as_f64()?)),
            }
        }
        // Bytes are not in the line: derived from the MB/s and the time.
        row.bytes = (mb * 1e6 * row.secs) as u64;
        Some(row)
    }
}

/// A field of /proc/self/status in KiB.
pub(super) fn proc_status(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Per-operation latencies: records every op, reports p50/p99 in microseconds.
pub(super) struct Latency(Vec<u32>);

impl Latency {
    pub(super) fn with_capacity(n: u64) -> Self {
        Latency(Vec::with_capacity(n as usize))
    }
    pub(super) fn time<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let t = Instant::now();
        let out = f();
        self.0
            .push(t.elapsed().as_nanos().min(u32::MAX as u128) as u32);
        out
    }
    /// A row of `ops` operations over `secs` moving `bytes`, with these latencies.
    pub(super) fn row(self, variant: &str, ops: u64, secs: f64, bytes: u64) -> Row {
        let (p50_us, p99_us) = self.percentiles();
        Row {
            variant: variant.into(),
            ops,
            secs,
            bytes,
            p50_us,
            p99_us,
            ..Row::default()
        }
    }

    pub(super) fn percentiles(mut self) -> (Option<f64>, Option<f64>) {
        if self.0.is_empty() {
            return (None, None);
        }
        self.0.sort_unstable();
        let at = |q: f64| self.0[((self.0.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
        (Some(at(0.5)), Some(at(0.99)))
    }
}
