//! Tests of backfill: start_backfill and its asset, prefix and inventory steps, on the in-memory adapters.

use super::{BackfillRequest, BackfillStep};
use crate::adapters::memory::Put;
use crate::domain::{AssetState, StorageClass};
use crate::error::Error;
use crate::messages::ReconcileMessage;
use crate::ports::{AssetStore, FileStore};
use crate::service::reconcile::ReconcileReport;
use crate::service::testing::{BUCKET, MemoryCore, config, core, core_with, new_asset, policy_doc, now};

fn asset_request(id: &str) -> BackfillRequest {
    BackfillRequest { bucket: None, prefix: None, inventory_key: None, inventory_schema: None, asset: Some(new_asset(id)) }
}

fn prefix_request(bucket: &str, prefix: &str) -> BackfillRequest {
    BackfillRequest { bucket: Some(bucket.into()), prefix: Some(prefix.into()), inventory_key: None, inventory_schema: None, asset: None }
}

fn inventory_request(key: &str) -> BackfillRequest {
    BackfillRequest { bucket: Some(BUCKET.into()), prefix: None, inventory_key: Some(key.into()), inventory_schema: None, asset: None }
}

/// Handles every reconcile message sent, and those they send, until none is left; each
/// message is delivered `deliveries` times (a redelivery of SQS). Returns each step.
async fn run_backfill(core: &MemoryCore, deliveries: usize) -> Vec<BackfillStep> {
    let mut steps = Vec::new();
    loop {
        let messages = core.queues.take_reconcile();
        if messages.is_empty() {
            return steps;
        }
        for m in messages {
            for _ in 0..deliveries {
                match core.handle_reconcile(m.clone()).await.expect("a backfill message is handled") {
                    ReconcileReport::Backfilled(step) => steps.push(step),
                    other => panic!("not a backfill: {other:?}"),
                }
            }
        }
    }
}

/// `n` objects of 1,000 bytes under `prefix`, named f000, f001, ... in `class`.
fn put_objects(core: &MemoryCore, prefix: &str, n: usize, class: StorageClass) {
    for i in 0..n {
        core.objects.put(BUCKET, &format!("{prefix}f{i:03}.exr"), Put::body(vec![b'x'; 1000]).class(class));
    }
}

#[tokio::test]
async fn an_asset_backfill_registers_its_files_a_page_a_message_and_releases_the_asset_at_the_end() {
    // GIVEN 25 objects under cam-1/ (ten keys a message)
    let core = core();
    put_objects(&core, "cam-1/", 25, StorageClass::Standard);
    // WHEN a backfill of the asset is started
    let started = core.start_backfill(asset_request("cam-1"), now()).await.unwrap();
    assert_eq!((started.kind, started.bucket.as_str(), started.source.as_str()), ("asset", BUCKET, "cam-1/"));
    // THEN the asset is registering, hidden from tasks and policies, until its pages are done
    assert!(core.meta.get_asset("cam-1").await.unwrap().is_none());
    assert!(core.meta.get_registering("cam-1").await.unwrap().is_some());
    // WHEN its messages are handled
    let steps = run_backfill(&core, 1).await;
    // THEN three pages (ten keys listed, the last held back as maybe cut) registered the 25
    // files once, and the asset is released with their counts
    assert_eq!(steps.iter().map(|s| (s.registered, s.more)).collect::<Vec<_>>(), vec![(9, true), (9, true), (7, false)]);
    let a = core.asset("cam-1").await;
    assert_eq!((a.file_count, a.total_bytes, a.storage_class.as_str(), a.state), (25, 25_000, "STANDARD", AssetState::Active));
    assert_eq!(core.files_of("cam-1").await.len(), 25);
}

#[tokio::test]
async fn an_asset_backfill_delivered_twice_counts_each_file_once() {
    // GIVEN 25 objects under cam-1/ and a backfill of the asset started
    let core = core();
    put_objects(&core, "cam-1/", 25, StorageClass::Standard);
    core.start_backfill(asset_request("cam-1"), now()).await.unwrap();
    // WHEN every message is delivered twice
    run_backfill(&core, 2).await;
    // THEN each page was counted once: the asset counts 25 files of 1,000 bytes
    let a = core.asset("cam-1").await;
    assert_eq!((a.file_count, a.total_bytes), (25, 25_000));
    assert_eq!(core.files_of("cam-1").await.len(), 25);
}

#[tokio::test]
async fn an_asset_backfill_whose_pages_disagree_on_the_class_makes_the_asset_mixed() {
    // GIVEN a first page of STANDARD objects (nine whole keys of ten listed) and a second of GLACIER ones
    let core = core();
    put_objects(&core, "cam-1/a-", 9, StorageClass::Standard);
    put_objects(&core, "cam-1/b-", 3, StorageClass::Glacier);
    // WHEN the asset is backfilled
    core.start_backfill(asset_request("cam-1"), now()).await.unwrap();
    let steps = run_backfill(&core, 1).await;
    // THEN it took two pages, each of one class, and the asset's class is MIXED
    assert_eq!(steps.iter().map(|s| s.registered).collect::<Vec<_>>(), vec![9, 3]);
    let a = core.asset("cam-1").await;
    assert_eq!((a.file_count, a.storage_class.as_str()), (12, "MIXED"));
}

#[tokio::test]
async fn an_asset_backfill_puts_the_asset_at_its_due_day_when_done() {
    // GIVEN a policy archiving final assets 30 days after creation
    let core = core();
    let doc = policy_doc(r#"{"policy_id":"p1","anchor":"asset.created","offset_days":30,"action":{"action":"archive","storage_class":"GLACIER"}}"#);
    core.create_policy(doc, "tester", now()).await.unwrap();
    put_objects(&core, "cam-1/", 3, StorageClass::Standard);
    // WHEN an asset created on 2026-06-01 is backfilled
    core.start_backfill(asset_request("cam-1"), now()).await.unwrap();
    run_backfill(&core, 1).await;
    // THEN it is due on 2026-07-01
    assert_eq!(core.asset("cam-1").await.due_at.as_deref(), Some("2026-07-01"));
}

#[tokio::test]
async fn an_asset_backfill_of_a_registered_asset_is_a_conflict_and_sends_nothing() {
    // GIVEN an asset registered with two files
    let core = core();
    core.asset_of("cam-1", 2).await;
    put_objects(&core, "cam-1/more-", 3, StorageClass::Standard);
    // WHEN it is backfilled
    let err = core.start_backfill(asset_request("cam-1"), now()).await.unwrap_err();
    // THEN it is refused, no message is sent, and the asset is as it was
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");
    assert!(core.queues.take_reconcile().is_empty());
    assert_eq!(core.asset("cam-1").await.file_count, 2);
}

#[tokio::test]
async fn an_asset_backfill_in_a_bucket_slm_does_not_manage_is_refused_and_nothing_is_written() {
    // GIVEN an asset in a bucket outside MEDIA_BUCKETS
    let core = core();
    let new = crate::domain::NewAsset { bucket: "other-bucket".into(), ..new_asset("cam-1") };
    let request = BackfillRequest { asset: Some(new), ..asset_request("cam-1") };
    // WHEN it is backfilled
    let err = core.start_backfill(request, now()).await.unwrap_err();
    // THEN it is refused, with no asset begun and no message sent
    assert!(matches!(err, Error::Validation(_)), "{err:?}");
    assert!(core.meta.get_registering("cam-1").await.unwrap().is_none());
    assert!(core.queues.take_reconcile().is_empty());
}

#[tokio::test]
async fn a_prefix_backfill_places_each_object_by_the_layout_a_page_a_message() {
    // GIVEN 8 objects of asset A001 and 7 of B001 under tln/camera/, and one outside the layout
    let core = core();
    put_objects(&core, "tln/camera/A001/", 8, StorageClass::Standard);
    put_objects(&core, "tln/camera/B001/", 7, StorageClass::Glacier);
    core.objects.put(BUCKET, "tln/camera/loose.exr", Put::body(vec![b'x'; 10]));
    // WHEN the prefix tln/ is backfilled
    let started = core.start_backfill(prefix_request(BUCKET, "tln/"), now()).await.unwrap();
    assert_eq!((started.kind, started.source.as_str()), ("prefix", "tln/"));
    let steps = run_backfill(&core, 1).await;
    // THEN two pages registered 15 files into two new assets and ignored the loose object
    assert_eq!(steps.len(), 2, "{steps:?}");
    let total = steps.iter().fold((0, 0, 0), |t, s| (t.0 + s.registered, t.1 + s.ignored, t.2 + s.assets_created));
    assert_eq!(total, (15, 1, 2));
    let (a, b) = (core.asset("A001").await, core.asset("B001").await);
    assert_eq!((a.file_count, a.storage_class.as_str(), a.created_on.to_string()), (8, "STANDARD", "2027-01-04".to_string()));
    assert_eq!((b.file_count, b.storage_class.as_str()), (7, "GLACIER"));
}

#[tokio::test]
async fn a_prefix_backfill_run_again_registers_nothing_twice() {
    // GIVEN a prefix backfilled once
    let core = core();
    put_objects(&core, "tln/camera/A001/", 4, StorageClass::Standard);
    core.start_backfill(prefix_request(BUCKET, "tln/"), now()).await.unwrap();
    run_backfill(&core, 1).await;
    // WHEN it is backfilled again
    core.start_backfill(prefix_request(BUCKET, "tln/"), now()).await.unwrap();
    let steps = run_backfill(&core, 1).await;
    // THEN every object is ignored, and the asset still counts four files
    assert_eq!((steps[0].registered, steps[0].ignored), (0, 4));
    assert_eq!(core.asset("A001").await.file_count, 4);
}

#[tokio::test]
async fn a_prefix_backfill_of_a_bucket_slm_does_not_manage_is_refused_and_sends_nothing() {
    // GIVEN a bucket outside MEDIA_BUCKETS
    let core = core();
    // WHEN a prefix of it is backfilled
    let err = core.start_backfill(prefix_request("other-bucket", "tln/"), now()).await.unwrap_err();
    // THEN it is refused and no message is sent
    assert!(matches!(err, Error::Validation(_)), "{err:?}");
    assert!(core.queues.take_reconcile().is_empty());
}

#[tokio::test]
async fn a_prefix_with_a_parent_segment_is_refused() {
    // GIVEN a prefix with a '..' segment
    let core = core();
    // WHEN it is backfilled
    let err = core.start_backfill(prefix_request(BUCKET, "tln/../x/"), now()).await.unwrap_err();
    // THEN it is refused and no message is sent
    assert!(matches!(err, Error::Validation(_)), "{err:?}");
    assert!(core.queues.take_reconcile().is_empty());
}

/// An inventory line of the default schema for a current object of 1,000 bytes.
fn line(key: &str, class: &str) -> String {
    format!("\"{BUCKET}\",\"{key}\",\"v-{key}\",\"true\",\"false\",\"1000\",\"2026-11-01T00:00:00.000Z\",\"d41d8cd98f00b204e9800998ecf8427e\",\"{class}\"\n")
}

#[tokio::test]
async fn an_inventory_backfill_registers_the_current_objects_it_lists_a_chunk_a_message() {
    // GIVEN an inventory of six objects of two assets, read 300 bytes a message
    let mut config = config();
    config.inventory_chunk_bytes = 300;
    let core = core_with(config);
    let mut csv = String::new();
    for i in 0..4 {
        csv += &line(&format!("tln/camera/A001/f{i}.ari"), "GLACIER");
    }
    for i in 0..2 {
        csv += &line(&format!("tln/vfx/B001/f{i}.exr"), "STANDARD");
    }
    core.objects.put(BUCKET, "inventory/data.csv", Put::body(csv.into_bytes()));
    // WHEN the inventory is backfilled
    let started = core.start_backfill(inventory_request("inventory/data.csv"), now()).await.unwrap();
    assert_eq!(started.kind, "inventory");
    let steps = run_backfill(&core, 1).await;
    // THEN it took several messages, and each listed object is a file of its asset with the listed version
    assert!(steps.len() > 1, "{steps:?}");
    assert_eq!(steps.iter().map(|s| s.registered).sum::<usize>(), 6);
    let a = core.asset("A001").await;
    assert_eq!((a.file_count, a.storage_class.as_str()), (4, "GLACIER"));
    assert_eq!(core.asset("B001").await.file_count, 2);
    let file = core.meta.find_by_object(BUCKET, "tln/camera/A001/f0.ari").await.unwrap().expect("registered").file;
    assert_eq!(file.version_id, "v-tln/camera/A001/f0.ari");
}

#[tokio::test]
async fn a_compressed_inventory_is_refused_and_sends_nothing() {
    // GIVEN an inventory file named .csv.gz
    let core = core();
    // WHEN it is backfilled
    let err = core.start_backfill(inventory_request("inventory/data.csv.gz"), now()).await.unwrap_err();
    // THEN it is refused, saying to give the uncompressed CSV
    assert!(matches!(&err, Error::Validation(m) if m.contains("uncompressed")), "{err:?}");
    assert!(core.queues.take_reconcile().is_empty());
}

#[tokio::test]
async fn an_inventory_schema_without_the_fields_registering_needs_is_refused() {
    // GIVEN a schema without ETag and StorageClass
    let core = core();
    let request = BackfillRequest { inventory_schema: Some("Bucket, Key, Size".into()), ..inventory_request("inventory/data.csv") };
    // WHEN it is backfilled
    let err = core.start_backfill(request, now()).await.unwrap_err();
    // THEN it is refused and no message is sent
    assert!(matches!(err, Error::Validation(_)), "{err:?}");
    assert!(core.queues.take_reconcile().is_empty());
}

#[tokio::test]
async fn a_backfill_naming_two_sources_or_none_is_refused() {
    // GIVEN requests with a prefix and an inventory, with an asset and a bucket, and with nothing
    let core = core();
    let both = BackfillRequest { inventory_key: Some("inventory/data.csv".into()), ..prefix_request(BUCKET, "tln/") };
    let asset_and_bucket = BackfillRequest { bucket: Some(BUCKET.into()), ..asset_request("cam-1") };
    let none = BackfillRequest { bucket: None, prefix: None, inventory_key: None, inventory_schema: None, asset: None };
    for request in [both, asset_and_bucket, none] {
        // WHEN each is started
        let err = core.start_backfill(request.clone(), now()).await.unwrap_err();
        // THEN it is refused, naming the three shapes, and nothing is begun or sent
        assert!(matches!(&err, Error::Validation(m) if m.contains("exactly one source")), "{request:?}: {err:?}");
    }
    assert!(core.queues.take_reconcile().is_empty());
    assert!(core.meta.get_registering("cam-1").await.unwrap().is_none());
}

#[tokio::test]
async fn a_redelivered_message_of_a_finished_asset_backfill_does_nothing() {
    // GIVEN an asset backfilled to the end
    let core = core();
    put_objects(&core, "cam-1/", 3, StorageClass::Standard);
    core.start_backfill(asset_request("cam-1"), now()).await.unwrap();
    run_backfill(&core, 1).await;
    // WHEN its first message is delivered once more
    let report = core.handle_reconcile(ReconcileMessage::BackfillAsset { asset_id: "cam-1".into() }).await.unwrap();
    // THEN it registers nothing, sends nothing, and the counts stay
    assert!(matches!(report, ReconcileReport::Backfilled(ref s) if *s == BackfillStep::default()), "{report:?}");
    assert!(core.queues.take_reconcile().is_empty());
    assert_eq!(core.asset("cam-1").await.file_count, 3);
    assert_eq!(core.files_of("cam-1").await.len(), 3);
}

#[tokio::test]
async fn an_asset_backfill_whose_next_message_failed_to_send_carries_on_when_redelivered() {
    // GIVEN 25 objects under cam-1/, a backfill of the asset started, and the next send failing once
    let core = core();
    put_objects(&core, "cam-1/", 25, StorageClass::Standard);
    core.start_backfill(asset_request("cam-1"), now()).await.unwrap();
    let first = core.queues.take_reconcile().remove(0);
    core.queues.fail_next(crate::adapters::memory::Queue::Reconcile, 1);
    // WHEN the first message is handled (its page counted, the send of the next failing), then redelivered
    let err = core.handle_reconcile(first.clone()).await.unwrap_err();
    assert!(matches!(err, Error::Retryable { .. }), "{err:?}");
    core.handle_reconcile(first).await.unwrap();
    run_backfill(&core, 1).await;
    // THEN the backfill went on from the stored cursor, and each file is counted once
    let a = core.asset("cam-1").await;
    assert_eq!((a.file_count, a.total_bytes), (25, 25_000));
    assert_eq!(core.files_of("cam-1").await.len(), 25);
}

#[tokio::test]
async fn an_asset_backfill_whose_first_message_failed_to_send_can_be_asked_again() {
    // GIVEN objects under cam-1/, and the reconcile queue failing once
    let core = core();
    put_objects(&core, "cam-1/", 3, StorageClass::Standard);
    core.queues.fail_next(crate::adapters::memory::Queue::Reconcile, 1);
    // WHEN the backfill is asked, fails, and is asked again
    core.start_backfill(asset_request("cam-1"), now()).await.unwrap_err();
    core.start_backfill(asset_request("cam-1"), now()).await.unwrap();
    run_backfill(&core, 1).await;
    // THEN the asset is registered whole
    assert_eq!(core.asset("cam-1").await.file_count, 3);
}
