//! The local stack's CloudWatch: the Embedded Metric Format lines slm's functions write
//! (`slm_core::metrics`), kept by the runner as Lambda's log would keep them, and read back as
//! CloudWatch would extract them: data points by metric, dimensions and time. `slm report
//! activity` and the tests read them here.

use anyhow::{Context, Result, anyhow};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// How often the runner writes what the functions recorded.
const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// The lines written so far, in memory and, when a file is named, appended to it.
#[derive(Clone, Debug, Default)]
pub struct MetricsLog {
    lines: Arc<Mutex<Vec<String>>>,
    file: Option<PathBuf>,
}

impl MetricsLog {
    pub fn new(file: Option<PathBuf>) -> Self {
        slm_core::metrics::init(slm_core::metrics::DEFAULT_NAMESPACE);
        MetricsLog { lines: Arc::default(), file }
    }

    /// Writes what the process's functions recorded since the last flush. On Lambda each
    /// process writes its own at the end of each invocation; here every function shares one
    /// process and one recorder, so the sums are the same and the lines fewer.
    pub fn flush(&self) -> Result<()> {
        let mut out = Vec::new();
        slm_core::metrics::flush_into(&mut out)?;
        if out.is_empty() {
            return Ok(());
        }
        let text = String::from_utf8(out)?;
        if let Some(path) = &self.file {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).with_context(|| format!("opening {}", path.display()))?;
            f.write_all(text.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
        }
        self.lines.lock().expect("metrics lines").extend(text.lines().map(str::to_string));
        Ok(())
    }

    /// Flushes every [`FLUSH_EVERY`] until `stop` is set, then once more.
    pub async fn keep(self, stop: Arc<std::sync::atomic::AtomicBool>) {
        loop {
            let stopping = stop.load(std::sync::atomic::Ordering::Relaxed);
            if let Err(e) = self.flush() {
                tracing::warn!(error = %format!("{e:#}"), "metrics not kept");
            }
            if stopping {
                return;
            }
            tokio::time::sleep(FLUSH_EVERY).await;
        }
    }

    /// Every line kept so far, parsed.
    pub fn points(&self) -> Result<Vec<Point>> {
        self.flush()?;
        let lines = self.lines.lock().expect("metrics lines");
        lines.iter().map(|l| Point::parse_line(l)).collect::<Result<Vec<_>>>().map(|p| p.into_iter().flatten().collect())
    }
}

/// Where the local stack at `endpoint` keeps its functions' metrics.
pub fn file_for(endpoint: &str) -> PathBuf {
    let port = endpoint.rsplit(':').next().unwrap_or("stack").trim_end_matches('/');
    crate::files::data_dir().join("metrics").join(format!("{port}.jsonl"))
}

/// Reads the points of a metrics file or a function's log (none when there is no file yet).
pub fn read(path: &Path) -> Result<Vec<Point>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut points = Vec::new();
    // A function's log holds its other lines between the metrics' (an exported log, say).
    for (i, line) in text.lines().enumerate().filter(|(_, l)| l.contains("\"_aws\"")) {
        points.extend(Point::parse_line(line).with_context(|| format!("{}:{}", path.display(), i + 1))?);
    }
    Ok(points)
}

/// One metric's values at one time with one set of dimensions, as CloudWatch extracts it from
/// an EMF line.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub namespace: String,
    pub at: DateTime<Utc>,
    pub metric: String,
    pub dimensions: BTreeMap<String, String>,
    pub values: Vec<f64>,
}

impl Point {
    /// The points of one EMF line: each metric its directive names, with the directive's
    /// dimensions (the first dimension set).
    pub fn parse_line(line: &str) -> Result<Vec<Point>> {
        let v: serde_json::Value = serde_json::from_str(line).context("an EMF line is a JSON object")?;
        let aws = v.get("_aws").ok_or_else(|| anyhow!("no _aws member"))?;
        let ms = aws.get("Timestamp").and_then(|t| t.as_i64()).ok_or_else(|| anyhow!("no _aws.Timestamp"))?;
        let at = DateTime::from_timestamp_millis(ms).ok_or_else(|| anyhow!("timestamp {ms} out of range"))?;
        let mut points = Vec::new();
        for directive in aws.get("CloudWatchMetrics").and_then(|d| d.as_array()).ok_or_else(|| anyhow!("no CloudWatchMetrics"))? {
            let namespace = directive.get("Namespace").and_then(|n| n.as_str()).unwrap_or_default().to_string();
            let names: Vec<&str> = directive["Dimensions"].get(0).and_then(|d| d.as_array()).into_iter().flatten().filter_map(|d| d.as_str()).collect();
            let dimensions = names.iter().map(|n| (n.to_string(), v.get(*n).and_then(|d| d.as_str()).unwrap_or_default().to_string())).collect::<BTreeMap<_, _>>();
            for m in directive.get("Metrics").and_then(|m| m.as_array()).into_iter().flatten() {
                let name = m.get("Name").and_then(|n| n.as_str()).ok_or_else(|| anyhow!("a metric without a Name"))?;
                let values = match v.get(name) {
                    Some(serde_json::Value::Array(a)) => a.iter().filter_map(|x| x.as_f64()).collect(),
                    Some(x) => x.as_f64().into_iter().collect(),
                    None => return Err(anyhow!("metric {name} has no value")),
                };
                points.push(Point { namespace: namespace.clone(), at, metric: name.to_string(), dimensions: dimensions.clone(), values });
            }
        }
        Ok(points)
    }

    pub fn sum(&self) -> f64 {
        self.values.iter().sum()
    }
}

/// The sum of a metric's values over the points whose dimensions include `having`.
pub fn sum(points: &[Point], metric: &str, having: &[(&str, &str)]) -> f64 {
    points
        .iter()
        .filter(|p| p.metric == metric && having.iter().all(|(k, v)| p.dimensions.get(*k).map(String::as_str) == Some(*v)))
        .map(Point::sum)
        .sum()
}

/// Files and bytes moved on one day (UTC) by one action into or out of one class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActivityRow {
    pub day: NaiveDate,
    pub action: String,
    pub class: String,
    pub files: u64,
    pub bytes: u64,
}

/// The Files and Bytes metrics by day, action and class.
pub fn activity(points: &[Point]) -> Vec<ActivityRow> {
    let (files, bytes) = (slm_core::metrics::FILES.name, slm_core::metrics::BYTES.name);
    let mut rows: BTreeMap<(NaiveDate, String, String), (u64, u64)> = BTreeMap::new();
    for p in points.iter().filter(|p| p.metric == files || p.metric == bytes) {
        let key = (p.at.date_naive(), p.dimensions.get("Action").cloned().unwrap_or_default(), p.dimensions.get("Class").cloned().unwrap_or_default());
        let slot = rows.entry(key).or_default();
        match p.metric == files {
            true => slot.0 += p.sum() as u64,
            false => slot.1 += p.sum() as u64,
        }
    }
    rows.into_iter().map(|((day, action, class), (files, bytes))| ActivityRow { day, action, class, files, bytes }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emf_line_is_read_as_cloudwatch_extracts_it() {
        let line = r#"{"_aws":{"Timestamp":1796558400000,"CloudWatchMetrics":[{"Namespace":"slm","Dimensions":[["Action","Class"]],"Metrics":[{"Name":"Files","Unit":"Count"},{"Name":"Bytes","Unit":"Bytes"}]}]},"Action":"archive","Class":"GLACIER","Files":3,"Bytes":3072}"#;
        let points = Point::parse_line(line).unwrap();
        assert_eq!(points.len(), 2);
        assert_eq!(points[0].metric, "Files");
        assert_eq!(points[0].dimensions.get("Class").map(String::as_str), Some("GLACIER"));
        assert_eq!(sum(&points, "Bytes", &[("Action", "archive")]), 3072.0);
        assert_eq!(sum(&points, "Bytes", &[("Action", "purge")]), 0.0);
        let rows = activity(&points);
        assert_eq!(rows, vec![ActivityRow { day: NaiveDate::from_ymd_opt(2026, 12, 6).unwrap(), action: "archive".into(), class: "GLACIER".into(), files: 3, bytes: 3072 }]);
        let values = r#"{"_aws":{"Timestamp":0,"CloudWatchMetrics":[{"Namespace":"slm","Dimensions":[["Tier"]],"Metrics":[{"Name":"RestoreLatency","Unit":"Seconds"}]}]},"Tier":"Bulk","RestoreLatency":[4.0,6.5]}"#;
        assert_eq!(sum(&Point::parse_line(values).unwrap(), "RestoreLatency", &[("Tier", "Bulk")]), 10.5);
        assert!(Point::parse_line(r#"{"level":"INFO"}"#).is_err());
    }
}
