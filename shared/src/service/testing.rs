//! The core on the in-memory adapters, for unit tests of the use cases: a media bucket, an
//! asset registered from its objects, and a task driven through what the state machine does
//! (claim, plan with a token, the workers' batches, the completion's signal, the release).

use super::Core;
use crate::adapters::memory::{MemoryMeta, MemoryObjects, MemoryOrchestrator, MemoryQueues, Put};
use crate::config::Config;
use crate::domain::{Action, Asset, NewAsset, Outcome, Task, TaskId};
use crate::messages::{ControlMessage, ExecutionInput};
use crate::ports::{AssetStore, TaskStore};

pub(crate) type MemoryCore = Core<MemoryMeta, MemoryObjects, MemoryQueues, MemoryOrchestrator>;

/// The media bucket of the tests (versioned).
pub(crate) const BUCKET: &str = "media";
/// The requests' time.
pub(crate) const NOW: &str = "2027-01-04T10:00:00Z";
/// The requests' time, as the edge gives it to the use cases.
pub(crate) fn now() -> chrono::DateTime<chrono::Utc> {
    at(NOW)
}

/// A time the tests name (RFC 3339).
pub(crate) fn at(time: &str) -> chrono::DateTime<chrono::Utc> {
    time.parse().expect("a test's time")
}

/// The administrator the configuration names.
pub(crate) const ADMIN: &str = "arn:aws:iam::123456789012:role/slm-admin";

/// The configuration of the tests: the defaults, small batches and two shards so that a few
/// files make several messages and pages.
pub(crate) fn config() -> Config {
    Config::from_lookup(|name| {
        let value = match name {
            "BATCH_SIZE" => "3",
            "FILE_SHARDS" => "2",
            "PLAN_PAGES_PER_INVOCATION" => "1",
            "MEDIA_BUCKETS" => BUCKET,
            "ADMIN_PRINCIPAL" => ADMIN,
            "WORK_DEADLINE_MARGIN_MS" => "0",
            "RECONCILE_KEYS_PER_MESSAGE" => "10",
            n if n.ends_with("_TABLE") || n.ends_with("_URL") || n.ends_with("_ARN") => n,
            _ => return None,
        };
        Some(value.to_string())
    })
    .expect("the tests' configuration is valid")
}

pub(crate) fn core() -> MemoryCore {
    core_with(config())
}

pub(crate) fn core_with(config: Config) -> MemoryCore {
    let objects = MemoryObjects::new();
    objects.versioned_bucket(BUCKET);
    Core {
        meta: MemoryMeta::default(),
        objects,
        queues: MemoryQueues::new(),
        orchestrator: MemoryOrchestrator::new(),
        paces: std::sync::Arc::new(crate::pace::Paces::share(&config.rates)),
        config,
    }
}

/// A new asset of `files` objects of 1,000 bytes each under `<id>/`, of type "editorial" in
/// title "tln".
pub(crate) fn new_asset(id: &str) -> NewAsset {
    NewAsset {
        asset_id: id.into(),
        title_id: "tln".into(),
        asset_type: "editorial".into(),
        bucket: BUCKET.into(),
        prefix: format!("{id}/"),
        phase: "final".into(),
        tags: Default::default(),
        created_on: Some("2026-06-01".into()),
        expected_files: None,
    }
}

impl MemoryCore {
    /// Puts `files` STANDARD objects under the asset's prefix and registers the asset from them.
    pub(crate) async fn asset_of(&self, id: &str, files: usize) -> Asset {
        for i in 0..files {
            self.objects.put(BUCKET, &format!("{id}/f{i:03}.exr"), Put::body(vec![b'x'; 1000]));
        }
        self.register_asset(new_asset(id), now()).await.expect("the asset registers")
    }

    pub(crate) async fn asset(&self, id: &str) -> Asset {
        self.meta.get_asset(id).await.unwrap().expect("the asset exists")
    }

    pub(crate) async fn task(&self, id: &TaskId) -> Task {
        self.meta.get_task(id).await.unwrap().expect("the task exists")
    }

    /// Requests `action` on the asset as the administrator, and returns the task.
    pub(crate) async fn request(&self, asset_id: &str, action: Action, request_id: &str) -> Task {
        let asset = self.asset(asset_id).await;
        self.request_task(&asset, action, &format!("request:{ADMIN}:{request_id}"), ADMIN, now()).await.expect("the request is accepted").task
    }

    /// Does what the state machine and the functions do with a started task until it ends:
    /// claims it, plans it with a token, runs every work batch and control message sent, and
    /// when the completion signal came, records the outcome and releases the asset. Returns the
    /// outcome (None when the task waits on S3, a restore).
    pub(crate) async fn drive(&self, task_id: &TaskId) -> Option<Outcome> {
        assert!(self.meta.claim_task(task_id), "the task is claimed once");
        let token = self.orchestrator.token(task_id.as_str());
        let mut control = vec![ControlMessage::Plan { task_id: task_id.clone(), task_token: token.clone() }];
        loop {
            for message in std::mem::take(&mut control) {
                self.handle_control(message, now()).await.expect("a control message is handled");
            }
            let work = self.queues.take_work();
            for batch in work.iter().cloned() {
                self.run_batch(batch, now(), None).await.expect("a work batch is handled");
            }
            control = self.queues.take_control();
            if control.is_empty() && work.is_empty() {
                break;
            }
        }
        let outcome = self.orchestrator.outcome(&token)?;
        let task = self.task(task_id).await;
        assert!(self.meta.record_outcome(task_id, &outcome), "the outcome is recorded once");
        self.meta.release_asset(&task.asset_id, task_id, &outcome).expect("the asset is released");
        Some(outcome)
    }

    /// The input the started execution of `task_id` was given.
    pub(crate) fn started(&self) -> Vec<ExecutionInput> {
        self.orchestrator.take_started().into_iter().map(|(_, input)| crate::json::parse("execution input", &input).unwrap()).collect()
    }
}

// ---- Helpers of the use-case tests ----

impl MemoryCore {
    /// Every file item of an asset (registering or not), with its task and step, in key order.
    pub(crate) async fn located_of(&self, asset_id: &str) -> Vec<crate::domain::LocatedFile> {
        use crate::ports::FileStore;
        let mut files = Vec::new();
        for shard in 0..crate::domain::file::MAX_SHARDS {
            let mut cursor = None;
            loop {
                let (page, next) = self.meta.files_page(asset_id, shard, cursor.as_deref(), 1000).await.unwrap();
                files.extend(page);
                let Some(next) = next else { break };
                cursor = Some(next);
            }
        }
        files.sort_by(|a, b| a.file.key.cmp(&b.file.key));
        files
    }

    /// Every file item of an asset (registering or not), in key order.
    pub(crate) async fn files_of(&self, asset_id: &str) -> Vec<crate::domain::FileRecord> {
        self.located_of(asset_id).await.into_iter().map(|l| l.file).collect()
    }

    /// An asset of one 1,000-byte object per class given (`<id>/f000.exr`, ...), registered.
    pub(crate) async fn asset_in(&self, id: &str, classes: &[crate::domain::StorageClass]) -> Asset {
        for (i, class) in classes.iter().enumerate() {
            self.objects.put(BUCKET, &format!("{id}/f{i:03}.exr"), Put::body(vec![b'x'; 1000]).class(*class));
        }
        self.register_asset(new_asset(id), now()).await.expect("the asset registers")
    }

    /// Claims the task and plans all of it (Plan with a new token, then each Continue), leaving
    /// its work batches in the work queue. Returns the token.
    pub(crate) async fn plan(&self, task_id: &TaskId) -> String {
        assert!(self.meta.claim_task(task_id), "the task is claimed once");
        let token = self.orchestrator.token(task_id.as_str());
        let mut control = vec![ControlMessage::Plan { task_id: task_id.clone(), task_token: token.clone() }];
        while !control.is_empty() {
            for message in control {
                self.handle_control(message, now()).await.expect("a control message is handled");
            }
            control = self.queues.take_control();
        }
        token
    }

    /// Runs every work batch in the work queue (and those they send) until it is empty.
    pub(crate) async fn run_work(&self) {
        loop {
            let work = self.queues.take_work();
            if work.is_empty() {
                return;
            }
            for batch in work {
                self.run_batch(batch, now(), None).await.expect("a work batch is handled");
            }
        }
    }
}

/// A policy document from JSON, as the API takes it.
pub(crate) fn policy_doc(json: &str) -> crate::domain::PolicyDoc {
    crate::domain::PolicyDoc::parse(json).expect("the test's policy is valid")
}
