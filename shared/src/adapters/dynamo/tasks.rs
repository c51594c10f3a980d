//! Tasks: creation with the asset's lock or queue slot, planning, counters and completion.

use super::*;
use crate::ports::{Committed, TaskStore};
use crate::domain::{Created, Transition};
use crate::domain::{Asset, FileStep, TaskStatus};
use crate::ports::AssetStore;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};

/// Spent count tokens one counter update removes at most.
const COUNT_TOKENS_REMOVED: usize = 8;
/// Tasks whose spent count tokens one store remembers: a warm function counts for many tasks in
/// its life, and holds no more than these.
const TASKS_REMEMBERED: usize = 256;

/// By task, the tokens of this store's counter updates that applied and are still on the task.
/// Past [`TASKS_REMEMBERED`] tasks the one counted longest ago is forgotten: its tokens stay on
/// its item, a few bytes each.
#[derive(Clone, Debug, Default)]
pub(super) struct SpentTokens(std::sync::Arc<std::sync::Mutex<SpentByTask>>);

#[derive(Debug, Default)]
struct SpentByTask {
    /// Task -> (when last counted, its tokens oldest first).
    tasks: HashMap<String, (u64, Vec<String>)>,
    clock: u64,
}

impl SpentTokens {
    /// The task's oldest tokens, at most [`COUNT_TOKENS_REMOVED`], taken to be removed.
    fn take(&self, task: &str) -> Vec<String> {
        let mut all = self.0.lock().expect("count tokens");
        let Some((_, mine)) = all.tasks.get_mut(task) else { return vec![] };
        let n = mine.len().min(COUNT_TOKENS_REMOVED);
        mine.drain(..n).collect()
    }

    /// Tokens left on the task (new ones, or taken ones an update did not remove).
    fn put_back(&self, task: &str, tokens: Vec<String>) {
        let mut all = self.0.lock().expect("count tokens");
        all.clock += 1;
        let now = all.clock;
        let entry = all.tasks.entry(task.to_string()).or_default();
        entry.0 = now;
        entry.1.extend(tokens);
        if all.tasks.len() > TASKS_REMEMBERED {
            let oldest = all.tasks.iter().min_by_key(|(_, (at, _))| *at).map(|(t, _)| t.clone());
            if let Some(oldest) = oldest {
                all.tasks.remove(&oldest);
            }
        }
    }
}


impl DynamoStore {
    /// Puts a new task and changes its asset (takes its lock, or its queue slot) in one
    /// transaction. When a condition stops it, reads back why: the same task made before, or
    /// another task holding (or waiting for) the asset.
    async fn put_task_with(&self, task: &Task, asset: Update, what: &'static str) -> Result<Created> {
        let put = Put::builder()
            .table_name(&self.tables.tasks)
            .set_item(Some(task_to_item(task)))
            .condition_expression("attribute_not_exists(task_id)")
            .build()
            .map_err(|e| Error::dependency("build task put", e))?;
        if self.transact([TransactWriteItem::builder().put(put).build(), TransactWriteItem::builder().update(asset).build()], what).await? {
            return Ok(Created::New(task.clone()));
        }
        if let Some(existing) = self.get_task(&task.task_id).await? {
            return Ok(Created::Existing(existing));
        }
        self.busy(task).await
    }

    /// What stopped a task from taking (or queueing for) an asset, read back.
    async fn busy(&self, task: &Task) -> Result<Created> {
        match self.get_asset(&task.asset_id).await? {
            Some(Asset { active_task: Some(active), active_action, queued_task, .. }) if active != task.task_id.as_str() => {
                Ok(Created::AssetBusy { active_task: active, active_action: active_action.unwrap_or_default(), queued_task })
            }
            // Between a task's end and its queued successor's start, the successor holds the asset.
            Some(Asset { active_task: None, queued_task: Some(queued), .. }) => {
                Ok(Created::AssetBusy { active_task: queued.clone(), active_action: String::new(), queued_task: Some(queued) })
            }
            None => Err(Error::NotFound(format!("asset {}", task.asset_id))),
            Some(_) => Err(Error::retryable("create task", "transaction cancelled by a concurrent change")),
        }
    }
}

impl TaskStore for DynamoStore {
    async fn create_task(&self, task: &Task) -> Result<Created> {
        let lock = Update::builder()
            .table_name(&self.tables.assets)
            .key("asset_id", s(&task.asset_id))
            .update_expression("SET active_task = :t, active_action = :a")
            // A queued task goes first: nothing else takes the asset while one waits.
            .condition_expression(
                "attribute_exists(asset_id) AND attribute_not_exists(registering) AND (attribute_not_exists(active_task) OR active_task = :t) AND attribute_not_exists(queued_task)",
            )
            .expression_attribute_values(":t", s(task.task_id.as_str()))
            .expression_attribute_values(":a", s(task.action.name()))
            .build()
            .map_err(|e| Error::dependency("build asset lock", e))?;
        self.put_task_with(task, lock, "create task").await
    }

    async fn queue_task(&self, task: &Task) -> Result<Created> {
        let slot = Update::builder()
            .table_name(&self.tables.assets)
            .key("asset_id", s(&task.asset_id))
            .update_expression("SET queued_task = :t")
            .condition_expression("attribute_exists(active_task) AND active_task <> :t AND attribute_not_exists(queued_task)")
            .expression_attribute_values(":t", s(task.task_id.as_str()))
            .build()
            .map_err(|e| Error::dependency("build queue slot", e))?;
        self.put_task_with(task, slot, "queue task").await
    }

    async fn promote_queued(&self, asset_id: &str) -> Result<Option<Task>> {
        let Some(asset) = self.get_asset(asset_id).await? else { return Ok(None) };
        let (active, queued) = (asset.active_task.as_deref().map(TaskId::parse).transpose()?, asset.queued_task.as_deref().map(TaskId::parse).transpose()?);
        let task_id = match (active, queued) {
            (Some(active), _) => {
                // A task holds the asset: start it only if its start was lost (still PENDING).
                return Ok(self.get_task(&active).await?.filter(|t| t.status == TaskStatus::Pending));
            }
            (None, Some(queued)) => queued,
            (None, None) => return Ok(None),
        };
        let Some(task) = self.get_task(&task_id).await? else {
            return Err(Error::dependency("promote queued task", format!("asset {asset_id} names queued task {task_id}, which does not exist")));
        };
        let take = Update::builder()
            .table_name(&self.tables.assets)
            .key("asset_id", s(asset_id))
            .update_expression("SET active_task = :t, active_action = :a REMOVE queued_task")
            .condition_expression("queued_task = :t AND attribute_not_exists(active_task)")
            .expression_attribute_values(":t", s(task_id.as_str()))
            .expression_attribute_values(":a", s(task.action.name()))
            .build()
            .map_err(|e| Error::dependency("build promotion", e))?;
        let pending = Update::builder()
            .table_name(&self.tables.tasks)
            .key("task_id", s(task_id.as_str()))
            .update_expression("SET task_status = :pending")
            .condition_expression("task_status = :queued")
            .expression_attribute_values(":pending", s(TaskStatus::Pending.as_str()))
            .expression_attribute_values(":queued", s(TaskStatus::Queued.as_str()))
            .build()
            .map_err(|e| Error::dependency("build promotion", e))?;
        let items = [TransactWriteItem::builder().update(take).build(), TransactWriteItem::builder().update(pending).build()];
        // Cancelled: another promotion won, or a task took the asset first: nothing for this caller.
        Ok(self.transact(items, "promote queued task").await?.then_some(Task { status: TaskStatus::Pending, ..task }))
    }

    async fn get_task(&self, task_id: &TaskId) -> Result<Option<Task>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.tasks)
            .key("task_id", s(task_id.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("get task", e))?;
        out.item.as_ref().map(item_to_task).transpose()
    }

    async fn task_with_steps(&self, task_id: &TaskId, asset_id: &str, files: &[FileRecord]) -> Result<(Option<Task>, crate::ports::Registry)> {
        // One BatchGetItem (the task and up to 99 files) instead of a GetItem and another.
        let task_key = (self.tables.tasks.clone(), Item::from([("task_id".to_string(), s(task_id.as_str()))]));
        let keys = std::iter::once(task_key).chain(files.iter().map(|f| (self.tables.files.clone(), super::files::file_key(asset_id, f)))).collect();
        let mut found = self.batch_get(keys, "read task and file steps").await?;
        let task = found.remove(&self.tables.tasks).unwrap_or_default().first().map(item_to_task).transpose()?;
        Ok((task, super::files::registry(found.remove(&self.tables.files).unwrap_or_default())?))
    }

    async fn store_token(&self, task_id: &TaskId, token: &str) -> Result<bool> {
        let res = self
            .client
            .update_item()
            .table_name(&self.tables.tasks)
            .key("task_id", s(task_id.as_str()))
            .update_expression("SET task_token = :tok, progress_at = :now")
            .condition_expression("task_status = :running")
            .expression_attribute_values(":tok", s(token))
            .expression_attribute_values(":now", s(now_rfc3339()))
            .expression_attribute_values(":running", s(TaskStatus::Running.as_str()))
            .send()
            .await;
        Ok(conditional("store task token", res)?.is_some())
    }

    async fn advance_plan(&self, task_id: &TaskId, prev: Option<&str>, next: &str, planned: i64) -> Result<bool> {
        let token = write_token();
        let mut req = self
            .client
            .update_item()
            .table_name(&self.tables.tasks)
            .key("task_id", s(task_id.as_str()))
            .update_expression("SET plan_cursor = :next, plan_token = :pt, progress_at = :now ADD planned :n, outstanding :n")
            .expression_attribute_values(":next", s(next))
            .expression_attribute_values(":pt", s(&token))
            .expression_attribute_values(":now", s(now_rfc3339()))
            .expression_attribute_values(":n", n(planned));
        req = match prev {
            Some(p) => req.condition_expression("plan_cursor = :prev").expression_attribute_values(":prev", s(p)),
            None => req.condition_expression("attribute_not_exists(plan_cursor)"),
        };
        // Applied with its answer lost, the SDK's retry fails the fence it moved itself: the
        // token says so, and planning goes on (without it, planning stopped until the
        // reconciler continued it).
        Ok(own_write(req, "advance plan", "plan_token", &token).await?.is_some())
    }

    async fn finish_planning(&self, task_id: &TaskId) -> Result<()> {
        self.client
            .update_item()
            .table_name(&self.tables.tasks)
            .key("task_id", s(task_id.as_str()))
            .update_expression("SET planning_done = :t")
            .expression_attribute_values(":t", AV::Bool(true))
            .send()
            .await
            .map_err(|e| sdk_error("finish planning", e))?;
        Ok(())
    }

    async fn commit(&self, task_id: &TaskId, transitions: &[Transition]) -> Result<Committed> {
        // Each file moves by its own conditional write; the task's counters then move once for
        // the transitions that really happened (a redelivery or duplicate event finds its files
        // moved already and counts nothing). See docs/architecture.md for why this is not one
        // transaction, and how the reconciler closes the gap a crash between the two can leave.
        let mut results = Vec::with_capacity(transitions.len());
        for chunk in transitions.chunks(16) {
            let pending: Vec<_> = chunk.iter().map(|t| self.apply(task_id, t)).collect();
            results.extend(futures::future::try_join_all(pending).await?);
        }
        let missed: Vec<usize> = results.iter().enumerate().filter(|(_, file)| file.is_none()).map(|(i, _)| i).collect();
        let applied: Vec<&Transition> = transitions.iter().zip(&results).filter(|(_, file)| file.is_some()).map(|(t, _)| t).collect();
        // ADD is not idempotent: an attempt applied but answered with an error would count
        // twice on the SDK's retry. The update leaves a token in an attribute of its own name
        // and applies only where the task has no such attribute; a retry that finds it was
        // applied already. (One attribute shared by every update would not do: another
        // delivery's update in between replaces the token, and the retry counts again.) The
        // tokens this store left on the task before are removed by the same update.
        let token = write_token();
        let spent = self.spent_tokens.take(task_id.as_str());
        let Some(counter) = self.counter_request(task_id, &applied, &token, &spent) else {
            self.spent_tokens.put_back(task_id.as_str(), spent);
            return Ok(Committed { applied: applied.len(), missed, maybe_complete: true, written: results });
        };
        // The condition fails only where this call's own token is: the item is the one it counted.
        let attribute = format!("count_token_{token}");
        let written = own_write(counter.return_values(ReturnValue::AllNew), "count file transitions", &attribute, &token).await;
        match &written {
            Ok(_) => self.spent_tokens.put_back(task_id.as_str(), vec![token]),
            // Not removed: they are removed by a later update (or stay, a few bytes each).
            Err(_) => self.spent_tokens.put_back(task_id.as_str(), spent),
        }
        let task = written?.unwrap_or_default();
        let maybe_complete = get_bool(&task, "planning_done") && get_n::<i64>(&task, "outstanding") <= 0;
        Ok(Committed { applied: applied.len(), missed, maybe_complete, written: results })
    }

    async fn claim_signal(&self, task_id: &TaskId) -> Result<Option<Task>> {
        let token = write_token();
        let request = self
            .client
            .update_item()
            .table_name(&self.tables.tasks)
            .key("task_id", s(task_id.as_str()))
            .update_expression("SET signalled = :claim")
            .condition_expression(
                "planning_done = :t AND outstanding = :zero AND attribute_exists(task_token) AND attribute_not_exists(signalled) AND task_status = :running",
            )
            .expression_attribute_values(":t", AV::Bool(true))
            .expression_attribute_values(":claim", s(&token))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":running", s(TaskStatus::Running.as_str()))
            .return_values(ReturnValue::AllNew);
        // The claim is this call's when its write applied, even if the answer was lost and the
        // SDK's retry then found the claim taken: by this call's token.
        own_write(request, "claim completion", "signalled", &token).await?.as_ref().map(item_to_task).transpose()
    }

    async fn release_signal(&self, task_id: &TaskId) -> Result<()> {
        self.client
            .update_item()
            .table_name(&self.tables.tasks)
            .key("task_id", s(task_id.as_str()))
            .update_expression("REMOVE signalled")
            .send()
            .await
            .map_err(|e| sdk_error("release completion claim", e))?;
        Ok(())
    }

    async fn failed_files(&self, task: &Task, limit: usize) -> Result<Vec<(String, String)>> {
        let Some(asset) = self.get_asset(&task.asset_id).await? else { return Ok(vec![]) };
        let mut out = Vec::new();
        for shard in 0..asset.shards {
            let mut pages = self
                .client
                .query()
                .table_name(&self.tables.files)
                .key_condition_expression("pk = :pk")
                .filter_expression("task_id = :t AND step = :failed")
                .expression_attribute_values(":pk", s(file_pk(&asset.asset_id, shard)))
                .expression_attribute_values(":t", s(task.task_id.as_str()))
                .expression_attribute_values(":failed", s(FileStep::Failed.as_str()))
                .into_paginator()
                .items()
                .send();
            while let Some(item) = pages.next().await {
                let item = item.map_err(|e| sdk_error("read failed files", e))?;
                out.push((get_s(&item, "object_key")?, opt_s(&item, "reason").unwrap_or_default()));
                if out.len() >= limit {
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn a_store_removes_its_spent_count_tokens_a_few_at_a_time_and_remembers_a_bounded_number_of_tasks() {
        let spent = SpentTokens::default();
        let tokens = |n: usize, tag: &str| (0..n).map(|i| format!("{tag}{i}")).collect::<Vec<_>>();
        // A task's tokens come back oldest first, at most the number one update removes
        spent.put_back("task-0", tokens(10, "a"));
        assert_eq!(spent.take("task-0"), tokens(8, "a"));
        assert_eq!(spent.take("task-0"), vec!["a8".to_string(), "a9".to_string()]);
        assert_eq!(spent.take("task-0"), Vec::<String>::new());
        assert_eq!(spent.take("never-counted"), Vec::<String>::new());
        // Past the bound, the task counted longest ago is forgotten, not the busy one
        spent.put_back("task-0", tokens(1, "b"));
        for t in 1..=TASKS_REMEMBERED {
            spent.put_back(&format!("task-{t}"), tokens(1, "c"));
            spent.put_back("task-1", tokens(1, "d"));
        }
        let held = spent.0.lock().unwrap().tasks.len();
        assert_eq!(held, TASKS_REMEMBERED);
        assert_eq!(spent.take("task-0"), Vec::<String>::new(), "the oldest task is forgotten");
        assert_eq!(spent.take("task-1").len(), COUNT_TOKENS_REMOVED, "the busy task is kept");
    }
}
