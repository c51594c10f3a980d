//! Registration without the API call per asset: new objects registered as they arrive
//! (ObjectCreated, placed by the key layout), and backfills of a prefix, of an inventory CSV and
//! of one asset of many pages, each resumable a message at a time and idempotent; bad backfill
//! requests are refused and change nothing.

use serde_json::{Value, json};
use slm_e2e::{Options, TestStack};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(180);

async fn asset(t: &TestStack, id: &str) -> Value {
    t.api_ok("GET", &format!("/assets/{id}"), None).await.unwrap()
}

async fn backfill(t: &TestStack, body: Value) -> Value {
    let out = t.api_ok("POST", "/backfills", Some(body)).await.unwrap();
    t.wait_idle(&["ReconcileQueue"], WAIT).await.unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn new_objects_are_registered_as_they_arrive_and_policies_act_on_them() {
    // GIVEN a bucket that sends ObjectCreated events, and a policy for camera originals
    let t = TestStack::start_with("arrivals", Options { register_new: true, ..Default::default() }).await.unwrap();
    let policy = json!({"policy_id": "cam-ir", "selector": {"asset_types": ["camera_original"]}, "anchor": "asset.created",
        "offset_days": 0, "action": {"action": "archive", "storage_class": "GLACIER_IR"}, "priority": 1, "enabled": true});
    t.api_ok("POST", "/policies", Some(policy)).await.unwrap();
    t.wait_rescheduled().await.unwrap();

    // WHEN objects arrive: five of one asset, one of another, and three the layout does not place
    let keys = t.put_objects("t1/camera_original/A001/", 5, 16).await.unwrap();
    t.put_objects("t1/vfx_plate/P1/", 1, 16).await.unwrap();
    for stray in ["t1/stray.exr", "t1/camera_original/bad id/x.ari", "t1/camera_original/A002/"] {
        t.clients.s3.put_object().bucket(&t.bucket).key(stray).body(b"x".to_vec().into()).send().await.unwrap();
    }
    t.wait_registered("A001", 5, WAIT).await.unwrap();
    t.wait_registered("P1", 1, WAIT).await.unwrap();

    // THEN each placed object is registered once, in an asset its first object created
    let a = asset(&t, "A001").await;
    assert_eq!((a["title_id"].as_str(), a["asset_type"].as_str(), a["prefix"].as_str()), (Some("t1"), Some("camera_original"), Some("t1/camera_original/A001/")));
    assert_eq!((a["file_count"].as_u64(), a["total_bytes"].as_u64(), a["storage_class"].as_str()), (Some(5), Some(80), Some("STANDARD")), "{a}");
    assert_eq!(asset(&t, "P1").await["file_count"], 1);
    assert_eq!((t.count_items("AssetsTable").await.unwrap(), t.count_items("FilesTable").await.unwrap()), (2, 6));
    let before = t.file_items("A001").await.unwrap();

    // WHEN the same event comes again, and a registered object is replaced
    let event = json!({"Records": [{"eventName": "ObjectCreated:Put", "eventTime": chrono::Utc::now().to_rfc3339(),
        "s3": {"bucket": {"name": t.bucket}, "object": {"key": keys[0].replace('/', "%2F")}}}]});
    t.send("S3EventsQueue", &event.to_string()).await.unwrap();
    t.clients.s3.put_object().bucket(&t.bucket).key(&keys[1]).body(b"replaced".to_vec().into()).send().await.unwrap();
    t.wait_idle(&["S3EventsQueue"], WAIT).await.unwrap();

    // THEN nothing changes (a replaced file is the reconciler's to take)
    assert_eq!(t.file_items("A001").await.unwrap(), before);
    assert_eq!(asset(&t, "A001").await["file_count"], 5);

    // AND the policy acts on the new asset; the archive's copies register nothing
    let run = t.evaluate(&chrono::Utc::now().to_rfc3339()).await.unwrap();
    let actions = run["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 1, "{run}");
    assert_eq!((actions[0]["asset_id"].as_str(), actions[0]["outcome"].as_str()), (Some("A001"), Some("created")));
    let task = t.wait_task(actions[0]["task_id"].as_str().unwrap(), WAIT).await.unwrap();
    // the replaced file fails its ETag guard; the other four are archived
    assert_eq!((task["counters"]["succeeded"].as_i64(), task["counters"]["failed"].as_i64()), (Some(4), Some(1)), "{task}");
    t.wait_idle(&["S3EventsQueue"], WAIT).await.unwrap();
    assert_eq!(t.count_items("FilesTable").await.unwrap(), 6);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backfills_register_a_prefix_an_inventory_and_a_large_asset_once() {
    // GIVEN small pages (a backfill message registers 40 keys or reads 1 KiB of an inventory)
    let mut options = Options::default();
    options.runner.env_overrides.insert("RECONCILE_KEYS_PER_MESSAGE".into(), "40".into());
    options.runner.env_overrides.insert("INVENTORY_CHUNK_BYTES".into(), "1024".into());
    let t = TestStack::start_with("backfill", options).await.unwrap();
    t.put_objects("t2/editorial/E1/", 60, 16).await.unwrap();
    t.put_objects("t2/editorial/E2/", 2, 16).await.unwrap();
    t.clients.s3.put_object().bucket(&t.bucket).key("t2/notes.txt").body(b"x".to_vec().into()).send().await.unwrap();

    // WHEN a prefix is backfilled, twice
    let started = backfill(&t, json!({"bucket": t.bucket, "prefix": "t2/"})).await;
    assert_eq!(started["backfill"]["kind"], "prefix");
    backfill(&t, json!({"bucket": t.bucket, "prefix": "t2/"})).await;

    // THEN every placed object is registered once, over several messages
    assert_eq!((asset(&t, "E1").await["file_count"].as_u64(), asset(&t, "E2").await["file_count"].as_u64()), (Some(60), Some(2)));
    assert_eq!(t.count_items("FilesTable").await.unwrap(), 62);

    // WHEN an inventory lists objects (current ones, an older version and a delete marker)
    let sound = t.put_objects("t3/sound/S1/", 30, 16).await.unwrap();
    let mut csv = String::new();
    for key in &sound {
        let head = t.clients.s3.head_object().bucket(&t.bucket).key(key).send().await.unwrap();
        let etag = head.e_tag().unwrap().trim_matches('"').to_string();
        csv.push_str(&format!("\"{}\",\"{}\",\"\",\"true\",\"false\",\"16\",\"2026-11-01T00:00:00.000Z\",\"{etag}\",\"STANDARD\"\n", t.bucket, urlencoding::encode(key)));
    }
    csv.push_str(&format!("\"{}\",\"t3%2Fsound%2FS1%2Fold.wav\",\"v0\",\"false\",\"false\",\"9\",\"x\",\"e\",\"STANDARD\"\n", t.bucket));
    csv.push_str(&format!("\"{}\",\"t3%2Fsound%2FS1%2Fgone.wav\",\"v1\",\"true\",\"true\",\"\",\"x\",\"\",\"\"\n", t.bucket));
    assert!(csv.len() > 3 * 1024, "the inventory spans several messages");
    t.clients.s3.put_object().bucket(&t.bucket).key("inventory/data.csv").body(csv.into_bytes().into()).send().await.unwrap();
    backfill(&t, json!({"bucket": t.bucket, "inventory_key": "inventory/data.csv"})).await;

    // THEN its current objects are registered with what it says of them
    let s1 = asset(&t, "S1").await;
    assert_eq!((s1["file_count"].as_u64(), s1["total_bytes"].as_u64()), (Some(30), Some(30 * 16)), "{s1}");
    let files = t.file_items("S1").await.unwrap();
    assert!(files.values().all(|f| f["etag"].starts_with('"') && f["version_id"] == "null"));

    // WHEN one asset of 250 files is backfilled (7 pages)
    t.put_objects("big/one/", 250, 8).await.unwrap();
    let body = json!({"asset": {"asset_id": "big-1", "title_id": "t4", "asset_type": "vfx_plate", "bucket": t.bucket, "prefix": "big/one/"}});
    backfill(&t, body.clone()).await;

    // THEN it is registered whole, released for tasks, and a second request is refused
    let big = asset(&t, "big-1").await;
    assert_eq!((big["file_count"].as_u64(), big["total_bytes"].as_u64(), big["storage_class"].as_str()), (Some(250), Some(2000), Some("STANDARD")), "{big}");
    assert!(big.get("backfill_cursor").is_none(), "{big}");
    assert_eq!(t.file_items("big-1").await.unwrap().len(), 250);
    let (status, out) = t.api("POST", "/backfills", Some(body)).await;
    assert_eq!(status, 409, "{out}");
    let archive = t.request("big-1", json!({"action": "archive", "storage_class": "GLACIER", "request_id": "a"})).await.unwrap();
    assert_eq!(t.wait_task(&archive, WAIT).await.unwrap()["counters"]["succeeded"], 250);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_backfills_are_refused_and_change_nothing() {
    let t = TestStack::start("bad-backfill").await.unwrap();
    t.put_objects("t5/editorial/X1/", 2, 16).await.unwrap();
    let before = t.snapshot().await.unwrap();
    let b = t.bucket.clone();
    let cases = [
        ("no source", json!({"bucket": b}), "exactly one source"),
        ("two sources", json!({"bucket": b, "prefix": "t5/", "inventory_key": "i.csv"}), "exactly one source"),
        ("another bucket", json!({"bucket": "someone-elses", "prefix": "t5/"}), "not one of the media buckets"),
        ("a prefix with ..", json!({"bucket": b, "prefix": "t5/../secret/"}), "'..'"),
        ("a control character", json!({"bucket": b, "prefix": "t5/\u{0007}/"}), "control"),
        ("a compressed inventory", json!({"bucket": b, "inventory_key": "inv/data.csv.gz"}), "compressed"),
        ("a schema without keys", json!({"bucket": b, "inventory_key": "inv/data.csv", "inventory_schema": "Bucket, Size"}), "no Key field"),
        ("an unknown field", json!({"bucket": b, "prefix": "t5/", "force": true}), "force"),
        ("a bad asset", json!({"asset": {"asset_id": "a/b", "title_id": "t", "asset_type": "x", "bucket": b, "prefix": "t5/"}}), "asset_id"),
        ("a wrong type", json!({"bucket": b, "prefix": 5}), "prefix"),
    ];
    for (name, body, says) in cases {
        let (status, out) = t.api("POST", "/backfills", Some(body)).await;
        assert_eq!(status, 400, "{name}: {out}");
        assert!(out["message"].as_str().unwrap_or_default().contains(says), "{name}: {out}");
    }
    assert_eq!(t.queue_depth("ReconcileQueue").await.unwrap(), 0, "a refused backfill sent a message");
    assert_eq!(t.snapshot().await.unwrap(), before, "a refused backfill changed something");
    t.stop().await;
}
