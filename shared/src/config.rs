//! Typed configuration, read once at start from the environment (or, on the local stack, from the
//! template's environment variables of the function), failing fast with the variable's name.

use crate::error::{Error, Result};
use std::str::FromStr;

/// Names of the DynamoDB tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    pub assets: String,
    pub files: String,
    pub tasks: String,
    pub titles: String,
    pub policies: String,
    pub accesses: String,
    pub repairs: String,
    pub applications: String,
    pub audit: String,
    pub holds: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub tables: Tables,
    pub control_queue_url: String,
    pub work_queue_url: String,
    pub reconcile_queue_url: String,
    pub state_machine_arn: String,
    /// Files per work message (and per DynamoDB transaction of their transitions).
    pub batch_size: usize,
    /// Pages (of 10 work batches) one planner invocation plans before handing over to the next.
    pub plan_pages_per_invocation: usize,
    /// Partitions an asset's file items are spread over.
    pub file_shards: u32,
    /// S3 calls a worker runs at once within one batch.
    pub worker_concurrency: usize,
    /// Objects larger than this are copied part by part, resumably across invocations.
    pub multipart_threshold_bytes: u64,
    pub multipart_part_bytes: u64,
    /// Time a worker keeps before its invocation's deadline: no object action or part copy
    /// starts later than this before it (one part or one single copy must fit in it).
    pub work_deadline_margin: std::time::Duration,
    /// Most tasks one policy evaluation starts; the rest wait for the next scheduled run.
    pub evaluation_max_starts: usize,
    /// Time the evaluator keeps before its invocation's deadline: no task starts later.
    pub evaluation_deadline_margin: std::time::Duration,
    /// How long a task may stand still (or a PENDING or QUEUED task wait) before the reconciler
    /// looks at it.
    pub reconcile_grace_seconds: i64,
    /// Keys one reconcile or backfill message compares or registers before handing over (an
    /// asset's sweep takes more for assets of many shards: see `domain::repair::window_keys`).
    pub reconcile_keys_per_message: usize,
    /// How long a sweep may stand still before a scheduled run takes it for dead and starts
    /// another; until then a scheduled run starts none.
    pub reconcile_sweep_lease_seconds: i64,
    /// How long a task standing still, once looked at in full, waits before the next full look
    /// unless it moves (a restore waiting hours for S3).
    pub reconcile_recheck_seconds: i64,
    /// Bytes of an inventory file one backfill message reads.
    pub inventory_chunk_bytes: u64,
    /// How object keys name their title, type and asset (registration on arrival and backfills).
    pub asset_key_layout: crate::domain::layout::KeyLayout,
    /// The media buckets slm manages (empty: not checked); requests naming another are refused.
    pub media_buckets: Vec<String>,
    /// The first administrator (the template's AdminPrincipal), as a registry key: every
    /// permission, whatever the registry holds. None: only the registry's applications.
    pub admin_principal: Option<String>,
    /// Days an audit entry is kept (its TTL).
    pub audit_retention_days: i64,
    /// The stack-wide S3 request rates the workers share.
    pub rates: Rates,
    /// The completion events' topic, for the reconciler's republishing (None elsewhere).
    pub events_topic_arn: Option<String>,
}

/// Stack-wide S3 request rates per action (per second), shared by the worker invocations: each
/// paces itself at its share, the rate divided by `worker_max_concurrency`. 0: not paced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rates {
    pub copy_per_second: u32,
    pub restore_per_second: u32,
    pub delete_per_second: u32,
    pub worker_max_concurrency: u32,
}

/// Largest batch: 99 files keep a work message far under SQS's 256 KB with the longest keys.
pub const MAX_BATCH: usize = 99;

impl Config {
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let required = |name: &str| get(name).filter(|v| !v.is_empty()).ok_or_else(|| Error::Config(format!("{name} is not set")));
        let config = Config {
            tables: Tables {
                assets: required("ASSETS_TABLE")?,
                files: required("FILES_TABLE")?,
                tasks: required("TASKS_TABLE")?,
                titles: required("TITLES_TABLE")?,
                policies: required("POLICIES_TABLE")?,
                accesses: required("ACCESSES_TABLE")?,
                repairs: required("REPAIRS_TABLE")?,
                applications: required("APPLICATIONS_TABLE")?,
                audit: required("AUDIT_TABLE")?,
                holds: required("HOLDS_TABLE")?,
            },
            control_queue_url: required("CONTROL_QUEUE_URL")?,
            work_queue_url: required("WORK_QUEUE_URL")?,
            reconcile_queue_url: required("RECONCILE_QUEUE_URL")?,
            state_machine_arn: required("STATE_MACHINE_ARN")?,
            batch_size: optional(&get, "BATCH_SIZE", 99)?,
            plan_pages_per_invocation: optional(&get, "PLAN_PAGES_PER_INVOCATION", 4)?,
            file_shards: optional(&get, "FILE_SHARDS", 16)?,
            worker_concurrency: optional(&get, "WORKER_CONCURRENCY", 16)?,
            multipart_threshold_bytes: optional(&get, "MULTIPART_THRESHOLD_BYTES", 1 << 30)?,
            multipart_part_bytes: optional(&get, "MULTIPART_PART_BYTES", 512 * 1024 * 1024)?,
            work_deadline_margin: std::time::Duration::from_millis(optional(&get, "WORK_DEADLINE_MARGIN_MS", 60_000)?),
            evaluation_max_starts: optional(&get, "EVALUATION_MAX_STARTS", 200)?,
            evaluation_deadline_margin: std::time::Duration::from_millis(optional(&get, "EVALUATION_DEADLINE_MARGIN_MS", 10_000)?),
            reconcile_grace_seconds: optional(&get, "RECONCILE_GRACE_SECONDS", 900)?,
            reconcile_keys_per_message: optional(&get, "RECONCILE_KEYS_PER_MESSAGE", 1000)?,
            reconcile_sweep_lease_seconds: optional(&get, "RECONCILE_SWEEP_LEASE_SECONDS", 7200)?,
            reconcile_recheck_seconds: optional(&get, "RECONCILE_RECHECK_SECONDS", 21_600)?,
            inventory_chunk_bytes: optional(&get, "INVENTORY_CHUNK_BYTES", 1 << 20)?,
            asset_key_layout: get("ASSET_KEY_LAYOUT")
                .filter(|v| !v.is_empty())
                .map(|v| v.parse().map_err(|e: Error| Error::Config(format!("ASSET_KEY_LAYOUT: {e}"))))
                .transpose()?
                .unwrap_or_default(),
            admin_principal: get("ADMIN_PRINCIPAL")
                .filter(|v| !v.is_empty())
                .map(|v| crate::domain::grant::principal_of(&v).map_err(|e| Error::Config(format!("ADMIN_PRINCIPAL: {e}"))))
                .transpose()?,
            audit_retention_days: optional(&get, "AUDIT_RETENTION_DAYS", 400)?,
            // Under S3's 3,500 COPY/PUT/DELETE a second per prefix and about 1,000 RestoreObject a
            // second per account.
            rates: Rates {
                copy_per_second: optional(&get, "COPY_REQUESTS_PER_SECOND", 3000)?,
                restore_per_second: optional(&get, "RESTORE_REQUESTS_PER_SECOND", 800)?,
                delete_per_second: optional(&get, "DELETE_REQUESTS_PER_SECOND", 3000)?,
                worker_max_concurrency: optional(&get, "WORKER_MAX_CONCURRENCY", 50)?,
            },
            events_topic_arn: get("EVENTS_TOPIC_ARN").filter(|v| !v.is_empty()),
            media_buckets: get("MEDIA_BUCKETS").unwrap_or_default().split(',').map(str::trim).filter(|b| !b.is_empty()).map(str::to_string).collect(),
        };
        config.validate()
    }

    fn validate(self) -> Result<Self> {
        if self.batch_size == 0 || self.batch_size > MAX_BATCH {
            return Err(Error::Config(format!("BATCH_SIZE must be 1-{MAX_BATCH}, got {}", self.batch_size)));
        }
        if self.multipart_threshold_bytes > crate::domain::multipart::SINGLE_COPY_LIMIT {
            return Err(Error::Config("MULTIPART_THRESHOLD_BYTES must not exceed 5 GiB (the CopyObject limit)".into()));
        }
        if self.file_shards == 0 || self.plan_pages_per_invocation == 0 || self.worker_concurrency == 0 || self.evaluation_max_starts == 0 {
            return Err(Error::Config("FILE_SHARDS, PLAN_PAGES_PER_INVOCATION, WORKER_CONCURRENCY and EVALUATION_MAX_STARTS must be positive".into()));
        }
        Ok(self)
    }
}

fn optional<T: FromStr>(get: &impl Fn(&str) -> Option<String>, name: &str, default: T) -> Result<T> {
    match get(name) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| Error::Config(format!("{name} must be a number, got {v:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    const REQUIRED: [(&str, &str); 14] = [
        ("ASSETS_TABLE", "a"),
        ("FILES_TABLE", "f"),
        ("TASKS_TABLE", "t"),
        ("TITLES_TABLE", "ti"),
        ("POLICIES_TABLE", "p"),
        ("ACCESSES_TABLE", "ac"),
        ("REPAIRS_TABLE", "r"),
        ("APPLICATIONS_TABLE", "ap"),
        ("AUDIT_TABLE", "au"),
        ("HOLDS_TABLE", "h"),
        ("CONTROL_QUEUE_URL", "c"),
        ("WORK_QUEUE_URL", "w"),
        ("RECONCILE_QUEUE_URL", "rq"),
        ("STATE_MACHINE_ARN", "s"),
    ];

    #[test]
    fn a_missing_variable_is_named_in_the_error() {
        let err = Config::from_lookup(env(&REQUIRED[1..])).unwrap_err();
        assert!(err.to_string().contains("ASSETS_TABLE"), "{err}");
    }

    #[test]
    fn defaults_apply_and_numbers_are_checked() {
        let c = Config::from_lookup(env(&REQUIRED)).unwrap();
        assert_eq!((c.batch_size, c.file_shards), (99, 16));
        let mut bad = REQUIRED.to_vec();
        bad.push(("BATCH_SIZE", "lots"));
        assert!(Config::from_lookup(env(&bad)).unwrap_err().to_string().contains("BATCH_SIZE"));
        let mut too_big = REQUIRED.to_vec();
        too_big.push(("BATCH_SIZE", "100"));
        assert!(Config::from_lookup(env(&too_big)).is_err());
    }

    #[test]
    fn the_first_administrator_is_an_iam_principal() {
        let mut admin = REQUIRED.to_vec();
        admin.push(("ADMIN_PRINCIPAL", "arn:aws:sts::123456789012:assumed-role/ops/alice"));
        assert_eq!(Config::from_lookup(env(&admin)).unwrap().admin_principal.as_deref(), Some("arn:aws:iam::123456789012:role/ops"));
        let mut bad = REQUIRED.to_vec();
        bad.push(("ADMIN_PRINCIPAL", "*"));
        assert!(Config::from_lookup(env(&bad)).unwrap_err().to_string().contains("ADMIN_PRINCIPAL"));
    }
}
