//! Unit tests of the reconciler's sweep: drift between the registry and S3 repaired once, an
//! asset's own windows, and one sweep at a time.

use super::tests::{kinds, later, planned, run_sweep, soon, swept};
use crate::adapters::memory::Put;
use crate::domain::repair::RepairKind;
use crate::messages::ReconcileMessage;
use crate::ports::{FileStore, RepairStore};
use crate::service::testing::{BUCKET, NOW, core};
use chrono::Duration;

// Drift between the registry and S3

#[tokio::test]
async fn an_object_replaced_behind_slms_back_is_taken_by_the_registry_and_recorded() {
    // GIVEN an asset of three files, one replaced in S3 by a new version
    let core = core();
    core.asset_of("cam-1", 3).await;
    let key = "cam-1/f001.exr";
    let old = core.meta.find_by_object(BUCKET, key).await.unwrap().unwrap().file;
    let new = core.objects.put(BUCKET, key, Put::body(vec![b'y'; 1500]));
    // WHEN the reconciler runs and its sweep is delivered
    let out = core.reconcile(later()).await.unwrap();
    let sweep = run_sweep(&core).await;
    // THEN the registry holds the new version, and the repair is recorded for that key
    assert_eq!(out.sweep.as_deref(), Some("started"));
    assert_eq!(sweep.iter().map(|r| r.keys_compared).sum::<usize>(), 3);
    let file = core.meta.find_by_object(BUCKET, key).await.unwrap().unwrap().file;
    assert_eq!((file.version_id.as_str(), file.etag.as_str(), file.size), (new.version_id.as_str(), new.etag.as_str(), 1500));
    assert_ne!(file.version_id, old.version_id);
    assert_eq!(core.asset("cam-1").await.total_bytes, 3500);
    let repairs = core.meta.repairs("cam-1").await.unwrap();
    assert_eq!(repairs.iter().map(|r| (r.kind, r.subject.as_str())).collect::<Vec<_>>(), [(RepairKind::TookChange, key)]);
}

#[tokio::test]
async fn an_object_whose_creation_was_not_registered_is_registered_to_its_asset() {
    // GIVEN an asset, and an object written under its prefix whose notification was lost
    let core = core();
    core.asset_of("cam-1", 2).await;
    core.objects.put(BUCKET, "cam-1/late.exr", Put::body(vec![b'z'; 500]));
    // WHEN a sweep runs
    core.reconcile(later()).await.unwrap();
    run_sweep(&core).await;
    // THEN the object is registered to the asset, which counts it, and the repair is recorded
    let file = core.meta.find_by_object(BUCKET, "cam-1/late.exr").await.unwrap().expect("registered").file;
    assert_eq!((file.asset_id.as_str(), file.size), ("cam-1", 500));
    let asset = core.asset("cam-1").await;
    assert_eq!((asset.file_count, asset.total_bytes), (3, 2500));
    let repairs = core.meta.repairs("cam-1").await.unwrap();
    assert_eq!(repairs.iter().map(|r| (r.kind, r.subject.as_str())).collect::<Vec<_>>(), [(RepairKind::Registered, "cam-1/late.exr")]);
}

#[tokio::test]
async fn a_drift_repaired_is_not_repaired_again_by_the_next_sweep() {
    // GIVEN an object deleted behind slm's back, repaired by a sweep
    let core = core();
    core.asset_of("cam-1", 2).await;
    core.objects.delete(BUCKET, "cam-1/f000.exr");
    core.reconcile(later()).await.unwrap();
    let first = run_sweep(&core).await;
    assert_eq!(first.iter().map(|r| r.repairs.get("marked_missing").copied().unwrap_or(0)).sum::<usize>(), 1);
    // WHEN the next scheduled run starts another sweep
    let out = core.reconcile(later() + Duration::minutes(1)).await.unwrap();
    let second = run_sweep(&core).await;
    // THEN it compares the asset again and repairs nothing more
    assert_eq!(out.sweep.as_deref(), Some("started"));
    assert_eq!(second.iter().map(|r| r.assets_checked).sum::<usize>(), 1);
    assert!(second.iter().all(|r| r.repairs.is_empty()), "{second:?}");
    assert_eq!(core.meta.repairs("cam-1").await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_asset_held_by_a_task_is_not_compared() {
    // GIVEN an asset whose object was replaced while a task holds it
    let core = core();
    planned(&core, "cam-1", 2).await;
    core.objects.put(BUCKET, "cam-1/f000.exr", Put::body(vec![b'y'; 10]));
    // WHEN a sweep runs
    core.reconcile(later()).await.unwrap();
    let sweep = run_sweep(&core).await;
    // THEN the asset is not compared and nothing is recorded for its files
    assert_eq!(sweep.iter().map(|r| r.assets_checked).sum::<usize>(), 0);
    assert!(core.meta.repairs("cam-1").await.unwrap().iter().all(|r| r.kind == RepairKind::Redrove));
}

#[tokio::test]
async fn an_asset_larger_than_a_message_is_compared_in_windows_of_its_own_each_key_once() {
    // GIVEN an asset of many more keys than a message compares, its last object replaced
    let core = core();
    core.asset_of("big", 45).await;
    let last = "big/f044.exr";
    let new = core.objects.put(BUCKET, last, Put::body(vec![b'y'; 10]));
    // WHEN a sweep runs to its end
    core.reconcile(later()).await.unwrap();
    let sweep = run_sweep(&core).await;
    // THEN it took several messages, compared each key once, and repaired the last one
    assert!(sweep.len() > 2, "{sweep:?}");
    assert_eq!(sweep.iter().map(|r| r.keys_compared).sum::<usize>(), 45);
    assert_eq!(sweep.iter().flat_map(|r| r.repairs.iter()).map(|(k, n)| (k.as_str(), *n)).collect::<Vec<_>>(), [("took_change", 1)]);
    assert_eq!(core.meta.find_by_object(BUCKET, last).await.unwrap().unwrap().file.version_id, new.version_id);
    // AND the sweep ended: no page left, no asset still on its own
    let record = core.meta.sweep().await.unwrap().expect("the sweep's record");
    assert_eq!((record.cursor, record.chains), (None, 0));
    assert_eq!(core.asset("big").await.sweep_cursor, None);
}

#[tokio::test]
async fn an_asset_window_delivered_twice_is_done_once() {
    // GIVEN a large asset's sweep, at its first message of its own
    let core = core();
    core.asset_of("big", 45).await;
    core.reconcile(later()).await.unwrap();
    let page = core.queues.take_reconcile().remove(0);
    swept(core.handle_reconcile(page).await.unwrap());
    let own = core.queues.take_reconcile();
    assert!(matches!(own.as_slice(), [ReconcileMessage::Asset { .. }]), "{own:?}");
    let first = swept(core.handle_reconcile(own[0].clone()).await.unwrap());
    let next = core.queues.take_reconcile();
    // WHEN that message is delivered again
    let again = swept(core.handle_reconcile(own[0].clone()).await.unwrap());
    // THEN the second delivery compares nothing and sends nothing
    assert!(first.keys_compared > 0 && next.len() == 1, "{first:?} {next:?}");
    assert_eq!((again.sweep.as_deref(), again.keys_compared), (Some("stale"), 0));
    assert!(core.queues.take_reconcile().is_empty());
}

// One sweep at a time

#[tokio::test]
async fn a_second_run_while_a_sweep_runs_starts_none() {
    // GIVEN a sweep started by a scheduled run
    let core = core();
    core.asset_of("cam-1", 1).await;
    let first = core.reconcile(soon()).await.unwrap();
    let messages = core.queues.take_reconcile();
    // WHEN the next run comes while it has not ended
    let second = core.reconcile(soon() + Duration::minutes(1)).await.unwrap();
    // THEN the first started one (its first page sent), the second none
    assert_eq!((first.sweep.as_deref(), second.sweep.as_deref()), (Some("started"), Some("running")));
    assert_eq!(messages, [ReconcileMessage::Assets { at: first.at.clone(), cursor: None }]);
    assert!(core.queues.take_reconcile().is_empty());
}

#[tokio::test]
async fn a_run_after_the_sweep_ended_starts_the_next() {
    let core = core();
    core.asset_of("cam-1", 1).await;
    core.reconcile(soon()).await.unwrap();
    run_sweep(&core).await;
    let next = core.reconcile(soon() + Duration::minutes(1)).await.unwrap();
    assert_eq!(next.sweep.as_deref(), Some("started"));
    assert_eq!(core.queues.take_reconcile().len(), 1);
}

#[tokio::test]
async fn a_sweep_standing_still_past_its_lease_is_taken_over_and_its_messages_do_nothing() {
    // GIVEN a sweep whose first message was never delivered
    let core = core();
    core.asset_of("cam-1", 1).await;
    core.objects.put(BUCKET, "cam-1/f000.exr", Put::body(vec![b'y'; 10]));
    core.reconcile(soon()).await.unwrap();
    let dead = core.queues.take_reconcile();
    // WHEN a run comes past the sweep's lease
    let out = core.reconcile(soon() + Duration::hours(3)).await.unwrap();
    // THEN a new sweep takes over, and the dead sweep's message, delivered late, does nothing
    assert_eq!(out.sweep.as_deref(), Some("taken_over"));
    let live = core.queues.take_reconcile();
    assert_eq!(live, [ReconcileMessage::Assets { at: out.at.clone(), cursor: None }]);
    let late = swept(core.handle_reconcile(dead[0].clone()).await.unwrap());
    assert_eq!((late.sweep.as_deref(), late.assets_checked), (Some("stale"), 0));
    assert!(core.meta.repairs("cam-1").await.unwrap().is_empty());
    assert!(core.queues.take_reconcile().is_empty());
}

#[tokio::test]
async fn a_sweep_page_delivered_twice_is_done_once() {
    // GIVEN a sweep's first page, delivered and done
    let core = core();
    core.asset_of("cam-1", 1).await;
    core.objects.put(BUCKET, "cam-1/f000.exr", Put::body(vec![b'y'; 10]));
    core.reconcile(soon()).await.unwrap();
    let page = core.queues.take_reconcile().remove(0);
    let first = swept(core.handle_reconcile(page.clone()).await.unwrap());
    // WHEN it is delivered again
    let again = swept(core.handle_reconcile(page).await.unwrap());
    // THEN the second delivery does nothing: no comparison, no repair, nothing sent
    assert_eq!(kinds(&first), [("took_change", 1)]);
    assert_eq!((again.sweep.as_deref(), again.assets_checked, again.repairs.len()), (Some("stale"), 0, 0));
    assert_eq!(core.meta.repairs("cam-1").await.unwrap().len(), 1);
    assert!(core.queues.take_reconcile().is_empty());
}

#[tokio::test]
async fn a_reconcile_message_naming_an_impossible_asset_id_is_refused() {
    let core = core();
    let err = core.handle_reconcile(ReconcileMessage::Asset { at: NOW.into(), asset_id: "../x".into(), after: None }).await.unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::Validation, "{err}");
    assert!(core.queues.take_reconcile().is_empty());
}
