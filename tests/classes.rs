//! Storage classes end to end: objects in every class the emulator holds are registered (the
//! API, a backfill, a sweep, an ObjectCreated event), and an archive moves the warmer ones and
//! skips, with the reason, what S3 cannot move. Every end class is read from S3 itself. The
//! emulator refuses OUTPOSTS, SNOW and unknown classes on PutObject: those are covered by the
//! domain's unit tests. It takes EXPRESS_ONEZONE in an ordinary bucket, which AWS would not:
//! here it stands for an object in a bucket that holds no other class.

use aws_sdk_s3::error::ProvideErrorMetadata;
use serde_json::{Value, json};
use slm_e2e::{Defect, Options, TestStack, later, stopped_by};
use slm_local::archive_tiers::METADATA_KEY;
use std::collections::HashMap;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(180);

/// One object of each class the emulator holds, by key name (the class, lowercased).
const CLASSES: [&str; 7] = ["STANDARD", "INTELLIGENT_TIERING", "ONEZONE_IA", "REDUCED_REDUNDANCY", "GLACIER_IR", "GLACIER", "EXPRESS_ONEZONE"];

fn key(prefix: &str, class: &str) -> String {
    format!("{prefix}{}.exr", class.to_lowercase())
}

/// Puts one object of `bytes` bytes in `class`, in an Intelligent-Tiering archive tier if given.
async fn put(t: &TestStack, key: &str, class: &str, bytes: usize, tier: Option<&str>) {
    let put = t.clients.s3.put_object().bucket(&t.bucket).key(key).body(vec![7u8; bytes].into()).storage_class(class.into());
    let put = match tier {
        Some(tier) => put.metadata(METADATA_KEY, tier),
        None => put,
    };
    put.send().await.unwrap_or_else(|e| panic!("put {key} in {class}: {e:?}"));
}

/// The class S3 holds an object in (HeadObject; STANDARD where it says none).
async fn class_in_s3(t: &TestStack, key: &str) -> String {
    let head = t.clients.s3.head_object().bucket(&t.bucket).key(key).send().await.unwrap();
    head.storage_class().map_or("STANDARD".to_string(), |c| c.as_str().to_string())
}

async fn asset(t: &TestStack, id: &str) -> Value {
    t.api_ok("GET", &format!("/assets/{id}"), None).await.unwrap()
}

fn counters(task: &Value) -> (&str, i64, i64, i64) {
    let c = &task["counters"];
    (task["status"].as_str().unwrap_or_default(), c["succeeded"].as_i64().unwrap_or(-1), c["skipped"].as_i64().unwrap_or(-1), c["failed"].as_i64().unwrap_or(-1))
}

fn field<'a>(files: &'a HashMap<String, HashMap<String, String>>, key: &str, name: &str) -> &'a str {
    files[key].get(name).map_or("-", String::as_str)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn objects_of_every_class_register_and_an_archive_moves_only_the_warmer_ones() {
    if stopped_by("objects_of_every_class_register_and_an_archive_moves_only_the_warmer_ones", &[Defect::VersionsListedAsStandard]).await.unwrap() {
        return;
    }
    // GIVEN two prefixes, each with one object of every class the emulator holds
    let t = TestStack::start("classes").await.unwrap();
    for prefix in ["t1/editorial/C1/", "t1/editorial/C2/"] {
        for class in CLASSES {
            put(&t, &key(prefix, class), class, 16, None).await;
        }
    }

    // WHEN one is registered through the API and the other by a backfill of its prefix
    let c1 = t.register("C1", "t1/editorial/C1/", "editorial").await.unwrap();
    t.api_ok("POST", "/backfills", Some(json!({"bucket": t.bucket, "prefix": "t1/editorial/C2/"}))).await.unwrap();
    t.wait_idle(&["ReconcileQueue"], WAIT).await.unwrap();

    // THEN every object is registered in its class
    assert_eq!((c1["file_count"].as_u64(), c1["storage_class"].as_str()), (Some(7), Some("MIXED")), "{c1}");
    assert_eq!(asset(&t, "C2").await["file_count"], 7);
    for (id, prefix) in [("C1", "t1/editorial/C1/"), ("C2", "t1/editorial/C2/")] {
        let files = t.file_items(id).await.unwrap();
        for class in CLASSES {
            assert_eq!(field(&files, &key(prefix, class), "storage_class"), class, "{id}");
        }
    }

    // WHEN an INTELLIGENT_TIERING object arrives unregistered and the reconciler sweeps
    let late = "t1/editorial/C1/late.exr";
    put(&t, late, "INTELLIGENT_TIERING", 16, None).await;
    t.reconcile(&later(1)).await.unwrap();

    // THEN the sweep registers it, and nothing went to a dead-letter queue
    assert_eq!(t.repairs("C1").await.unwrap(), vec![("registered".to_string(), late.to_string())]);
    assert_eq!(t.queue_depth("ReconcileDLQ").await.unwrap(), 0);

    // WHEN both are archived to GLACIER_IR
    for id in ["C1", "C2"] {
        let task = t.request(id, json!({"action": "archive", "storage_class": "GLACIER_IR", "request_id": "a"})).await.unwrap();
        let task = t.wait_task(&task, WAIT).await.unwrap();

        // THEN the warmer four (five with the late one) move; GLACIER_IR, GLACIER and
        // EXPRESS_ONEZONE are skipped with their reasons; nothing fails
        let moved = if id == "C1" { 5 } else { 4 };
        assert_eq!(counters(&task), ("SUCCEEDED", moved, 3, 0), "{task}");
    }
    for (id, prefix) in [("C1", "t1/editorial/C1/"), ("C2", "t1/editorial/C2/")] {
        let files = t.file_items(id).await.unwrap();
        for class in CLASSES {
            let k = key(prefix, class);
            let (end, reason) = match class {
                "GLACIER_IR" => ("GLACIER_IR", "already in the target class"),
                "GLACIER" => ("GLACIER", "already in a colder class"),
                "EXPRESS_ONEZONE" => ("EXPRESS_ONEZONE", "EXPRESS_ONEZONE objects live in a directory bucket, which holds no other class: not moved"),
                _ => ("GLACIER_IR", "-"),
            };
            assert_eq!(class_in_s3(&t, &k).await, end, "{k} in S3");
            assert_eq!((field(&files, &k, "storage_class"), field(&files, &k, "reason")), (end, reason), "{k} in the registry");
        }
    }
    assert_eq!(class_in_s3(&t, late).await, "GLACIER_IR");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_intelligent_tiering_object_in_an_archive_tier_is_skipped_while_its_neighbours_are_archived() {
    if stopped_by("an_intelligent_tiering_object_in_an_archive_tier_is_skipped_while_its_neighbours_are_archived", &[Defect::VersionsListedAsStandard]).await.unwrap() {
        return;
    }
    // GIVEN objects over 100 bytes copied in parts (the threshold lowered from 5 GiB), and
    // INTELLIGENT_TIERING objects in its archive tiers, one copied whole and one in parts
    let mut options = Options::default();
    options.runner.env_overrides.insert("MULTIPART_THRESHOLD_BYTES".into(), "100".into());
    let t = TestStack::start_with("archive-tier", options).await.unwrap();
    let (archived, deep, it, standard, large) = ("t1/x/T1/archived.exr", "t1/x/T1/deep.exr", "t1/x/T1/it.exr", "t1/x/T1/std.exr", "t1/x/T1/large.exr");
    put(&t, archived, "INTELLIGENT_TIERING", 16, Some("ARCHIVE_ACCESS")).await;
    put(&t, deep, "INTELLIGENT_TIERING", 200, Some("DEEP_ARCHIVE_ACCESS")).await;
    put(&t, it, "INTELLIGENT_TIERING", 16, None).await;
    put(&t, standard, "STANDARD", 16, None).await;
    put(&t, large, "STANDARD", 200, None).await;

    // the local stack answers as S3 does for an object in an archive tier
    let head = t.clients.s3.head_object().bucket(&t.bucket).key(archived).send().await.unwrap();
    assert_eq!(head.archive_status().map(|s| s.as_str()), Some("ARCHIVE_ACCESS"));
    let copy = t.clients.s3.copy_object().bucket(&t.bucket).key(archived).copy_source(format!("{}/{archived}", t.bucket)).storage_class("GLACIER".into()).send().await;
    let err = copy.expect_err("a copy of an archived INTELLIGENT_TIERING object is refused");
    assert_eq!((err.raw_response().map(|r| r.status().as_u16()), err.as_service_error().and_then(|e| e.code())), (Some(403), Some("InvalidObjectState")));
    let head = t.clients.s3.head_object().bucket(&t.bucket).key(it).send().await.unwrap();
    assert_eq!(head.archive_status(), None);

    // WHEN the asset is archived to GLACIER
    t.register("T1", "t1/x/T1/", "editorial").await.unwrap();
    let task = t.request("T1", json!({"action": "archive", "storage_class": "GLACIER", "request_id": "a"})).await.unwrap();
    let task = t.wait_task(&task, WAIT).await.unwrap();

    // THEN the two in archive tiers are skipped with the reason and stay where they are; the
    // others are archived
    let files = t.file_items("T1").await.unwrap();
    assert_eq!(counters(&task), ("SUCCEEDED", 3, 2, 0), "{task} {files:?}");
    for (k, tier) in [(archived, "ARCHIVE_ACCESS"), (deep, "DEEP_ARCHIVE_ACCESS")] {
        assert_eq!(class_in_s3(&t, k).await, "INTELLIGENT_TIERING", "{k}");
        assert_eq!(field(&files, k, "step"), "SKIPPED", "{k}");
        assert_eq!(field(&files, k, "storage_class"), "INTELLIGENT_TIERING", "{k}");
        let why = format!("INTELLIGENT_TIERING object in its {tier} tier must be restored before it can be copied: not moved");
        assert_eq!(field(&files, k, "reason"), why, "{k}");
    }
    for k in [it, standard, large] {
        assert_eq!(class_in_s3(&t, k).await, "GLACIER", "{k}");
        assert_eq!((field(&files, k, "step"), field(&files, k, "storage_class")), ("DONE", "GLACIER"), "{k}");
    }
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_object_created_event_registers_an_intelligent_tiering_object() {
    // GIVEN a bucket that sends ObjectCreated events
    let t = TestStack::start_with("class-events", Options { register_new: true, ..Default::default() }).await.unwrap();

    // WHEN INTELLIGENT_TIERING and ONEZONE_IA objects arrive
    let (it, ia) = ("t1/camera_original/A1/it.ari", "t1/camera_original/A1/ia.ari");
    put(&t, it, "INTELLIGENT_TIERING", 16, None).await;
    put(&t, ia, "ONEZONE_IA", 16, None).await;
    t.wait_registered("A1", 2, WAIT).await.unwrap();

    // THEN both are registered in their classes, and no event went to the dead-letter queue
    let a = asset(&t, "A1").await;
    assert_eq!((a["file_count"].as_u64(), a["storage_class"].as_str()), (Some(2), Some("MIXED")), "{a}");
    let files = t.file_items("A1").await.unwrap();
    assert_eq!((field(&files, it, "storage_class"), field(&files, it, "file_state")), ("INTELLIGENT_TIERING", "ARCHIVED"));
    assert_eq!(field(&files, ia, "storage_class"), "ONEZONE_IA");
    assert_eq!(t.queue_depth("S3EventsDLQ").await.unwrap(), 0);
    t.stop().await;
}
