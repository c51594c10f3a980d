//! The Policy Manager on the local stack: titles with business dates, versioned policies, the
//! scheduled evaluator travelling in time, dry-runs, and the refusals.

use serde_json::{Value, json};
use slm_e2e::TestStack;
use slm_local::runner::RunnerOptions;
use slm_local::session::Options;
use std::collections::BTreeMap;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(180);

/// Registers an asset of `files` small objects under its own prefix.
async fn asset(t: &TestStack, asset_id: &str, title_id: &str, asset_type: &str, phase: &str, files: usize) -> Value {
    let prefix = format!("{title_id}/{asset_type}/{asset_id}/");
    t.put_objects(&prefix, files, 64).await.unwrap();
    let body = json!({"asset_id": asset_id, "title_id": title_id, "asset_type": asset_type, "phase": phase, "bucket": t.bucket, "prefix": prefix});
    t.api_ok("POST", "/assets", Some(body)).await.unwrap()
}

async fn title(t: &TestStack, title_id: &str, dates: Value) {
    t.api_ok("PUT", &format!("/titles/{title_id}"), Some(json!({"name": title_id, "dates": dates}))).await.unwrap();
}

async fn policy(t: &TestStack, id: &str, selector: Value, anchor: &str, offset_days: i64, action: Value, priority: u32) -> Value {
    let doc = json!({"policy_id": id, "selector": selector, "anchor": anchor, "offset_days": offset_days, "action": action, "priority": priority});
    t.api_ok("POST", "/policies", Some(doc)).await.unwrap()
}

/// The tasks an evaluation created, by asset id, with the policy that caused each.
fn created(evaluation: &Value) -> BTreeMap<String, String> {
    evaluation["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["outcome"] == "created")
        .map(|a| (a["asset_id"].as_str().unwrap().to_string(), a["policy"]["policy_id"].as_str().unwrap().to_string()))
        .collect()
}

async fn wait_created(t: &TestStack, evaluation: &Value) {
    for a in evaluation["actions"].as_array().unwrap().iter().filter(|a| a["outcome"] == "created") {
        let task = t.wait_task(a["task_id"].as_str().unwrap(), WAIT).await.unwrap();
        assert_eq!(task["status"], "SUCCEEDED", "{task}");
    }
}

/// How many assets a dry-run finds due on a day.
async fn due_on(t: &TestStack, day: &str) -> u64 {
    let dry = t.api_ok("POST", "/dry-run", Some(json!({"at": day}))).await.unwrap();
    dry["totals"]["assets"].as_u64().unwrap()
}

fn classes_of(classes: &std::collections::HashMap<String, String>) -> Vec<String> {
    let mut v: Vec<String> = classes.values().cloned().collect();
    v.dedup();
    v.sort();
    v.dedup();
    v
}

/// GIVEN a title with its dates, four assets and three policies
/// WHEN the evaluator runs on several days
/// THEN each run creates exactly the tasks due that day, the objects end in the policies'
/// classes or are purged, every task names its policy version, and running again creates none.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn evaluations_on_several_days_archive_and_purge_a_production_by_policy() {
    let t = TestStack::start("policy-days").await.unwrap();
    title(&t, "tln", json!({"post_production_end": "2027-01-15", "launch": "2027-03-01"})).await;
    asset(&t, "cam", "tln", "camera_original", "final", 3).await;
    asset(&t, "edit", "tln", "editorial", "final", 3).await;
    asset(&t, "plates", "tln", "vfx_plate", "final", 3).await;
    asset(&t, "temp", "tln", "temp_render", "temp", 3).await;
    policy(&t, "camera-deep", json!({"asset_types": ["camera_original"]}), "title.post_production_end", 30, json!({"action": "archive", "storage_class": "DEEP_ARCHIVE"}), 20).await;
    policy(&t, "finals-glacier", json!({"phases": ["final"]}), "title.post_production_end", 30, json!({"action": "archive", "storage_class": "GLACIER"}), 10).await;
    policy(&t, "purge-temps", json!({"asset_types": ["temp_render"]}), "title.launch", 180, json!({"action": "purge"}), 50).await;
    t.wait_rescheduled().await.unwrap();

    let before = t.evaluate("2027-02-13T02:00:00Z").await.unwrap();
    assert_eq!((before["tasks_created"].as_u64(), before["assets_read"].as_u64()), (Some(0), Some(0)), "nothing is due the day before: {before}");

    let archive_day = t.evaluate("2027-02-14T02:00:00Z").await.unwrap();
    let expected = BTreeMap::from([
        ("cam".to_string(), "camera-deep".to_string()),
        ("edit".to_string(), "finals-glacier".to_string()),
        ("plates".to_string(), "finals-glacier".to_string()),
    ]);
    assert_eq!(created(&archive_day), expected, "{archive_day}");
    wait_created(&t, &archive_day).await;
    let cam_task = archive_day["actions"].as_array().unwrap().iter().find(|a| a["asset_id"] == "cam").unwrap()["task_id"].as_str().unwrap().to_string();
    let task = t.api_ok("GET", &format!("/tasks/{cam_task}"), None).await.unwrap();
    assert_eq!(task["policy"], json!({"policy_id": "camera-deep", "version": 1}), "the task records its policy version");
    assert_eq!(classes_of(&t.classes("tln/camera_original/").await.unwrap()), ["DEEP_ARCHIVE"]);
    assert_eq!(classes_of(&t.classes("tln/editorial/").await.unwrap()), ["GLACIER"]);
    assert_eq!(classes_of(&t.classes("tln/vfx_plate/").await.unwrap()), ["GLACIER"]);
    assert_eq!(classes_of(&t.classes("tln/temp_render/").await.unwrap()), ["STANDARD"]);

    let again = t.evaluate("2027-02-14T03:00:00Z").await.unwrap();
    assert_eq!(again["tasks_created"], 0, "re-evaluation creates nothing: {again}");
    let quiet = t.evaluate("2027-02-15T02:00:00Z").await.unwrap();
    assert_eq!((quiet["tasks_created"].as_u64(), quiet["assets_read"].as_u64()), (Some(0), Some(0)), "archived assets left the due index: {quiet}");

    let purge_day = t.evaluate("2027-08-28T02:00:00Z").await.unwrap();
    assert_eq!(created(&purge_day), BTreeMap::from([("temp".to_string(), "purge-temps".to_string())]), "{purge_day}");
    wait_created(&t, &purge_day).await;
    assert!(t.classes("tln/temp_render/").await.unwrap().is_empty(), "temporary renders purged");
    assert_eq!(t.classes("tln/editorial/").await.unwrap().len(), 3, "nothing else deleted");
    let after = t.evaluate("2027-08-29T02:00:00Z").await.unwrap();
    assert_eq!(after["tasks_created"], 0, "{after}");
    t.stop().await;
}

/// GIVEN a purge due 180 days after launch
/// WHEN the launch moves three months later
/// THEN the old due day creates nothing, and the new one does.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_moved_launch_date_moves_eligibility() {
    let t = TestStack::start("policy-launch").await.unwrap();
    title(&t, "show", json!({"launch": "2027-03-01"})).await;
    asset(&t, "renders", "show", "temp_render", "temp", 2).await;
    policy(&t, "purge-temps", json!({"asset_types": ["temp_render"]}), "title.launch", 180, json!({"action": "purge"}), 50).await;
    t.wait_rescheduled().await.unwrap();
    let dry = t.api_ok("POST", "/dry-run", Some(json!({"at": "2027-09-01"}))).await.unwrap();
    assert_eq!(dry["actions"][0]["due"], "2027-08-28", "{dry}");

    title(&t, "show", json!({"launch": "2027-06-01"})).await;
    t.wait_rescheduled().await.unwrap();
    let dry = t.api_ok("POST", "/dry-run", Some(json!({"at": "2027-09-01"}))).await.unwrap();
    assert_eq!(dry["actions"], json!([]), "not due any more on the old day: {dry}");
    let old_day = t.evaluate("2027-09-01T02:00:00Z").await.unwrap();
    assert_eq!(old_day["tasks_created"], 0, "{old_day}");
    let new_day = t.evaluate("2027-11-28T02:00:00Z").await.unwrap();
    assert_eq!(created(&new_day).len(), 1, "{new_day}");
    assert_eq!(new_day["actions"][0]["due"], "2027-11-28");
    wait_created(&t, &new_day).await;
    assert!(t.classes("show/temp_render/").await.unwrap().is_empty());
    t.stop().await;
}

/// GIVEN an asset whose files were deleted outside slm, and an archive policy due for it
/// WHEN the policy's task fails and the evaluator runs again
/// THEN the asset is held (reported, no second task) and leaves the due index.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_policy_task_is_held_not_retried() {
    let t = TestStack::start("policy-held").await.unwrap();
    title(&t, "show", json!({"launch": "2027-01-01"})).await;
    asset(&t, "edit", "show", "editorial", "final", 2).await;
    for key in t.classes("show/editorial/").await.unwrap().keys() {
        t.clients.s3.delete_object().bucket(&t.bucket).key(key).send().await.unwrap();
    }
    policy(&t, "archive-edit", json!({"asset_types": ["editorial"]}), "title.launch", 0, json!({"action": "archive", "storage_class": "GLACIER"}), 10).await;
    t.wait_rescheduled().await.unwrap();
    let first = t.evaluate("2027-02-01T02:00:00Z").await.unwrap();
    let task_id = first["actions"][0]["task_id"].as_str().unwrap().to_string();
    assert_eq!(t.wait_task(&task_id, WAIT).await.unwrap()["status"], "FAILED");

    let again = t.evaluate("2027-02-01T03:00:00Z").await.unwrap();
    assert_eq!((again["tasks_created"].as_u64(), again["actions"][0]["outcome"].as_str()), (Some(0), Some("held")), "{again}");
    assert_eq!(again["actions"][0]["task_id"].as_str(), Some(task_id.as_str()), "the held task is named");
    let later = t.evaluate("2027-02-02T02:00:00Z").await.unwrap();
    assert_eq!((later["assets_read"].as_u64(), later["tasks_created"].as_u64()), (Some(0), Some(0)), "not read again: {later}");
    assert_eq!(t.count_items("TasksTable").await.unwrap(), 1);
    t.stop().await;
}

/// GIVEN an archived asset with a requested restore still running, and a policy due for it
/// WHEN the evaluator runs THEN it leaves the busy asset alone;
/// WHEN the restore ends THEN the next run creates the policy's task.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_busy_asset_waits_for_its_running_task() {
    let t = TestStack::start("policy-busy").await.unwrap();
    title(&t, "show", json!({"launch": "2027-01-01"})).await;
    asset(&t, "edit", "show", "editorial", "final", 2).await;
    let archive = t.request("edit", json!({"action": "archive", "storage_class": "GLACIER", "request_id": "a"})).await.unwrap();
    t.wait_task(&archive, WAIT).await.unwrap();
    // (S3's completion events wait, so the restore runs on every emulator: LocalStack completes
    // restores at once)
    t.runner().pause("slm-completion");
    let restore = t.request("edit", json!({"action": "restore", "days": 1, "tier": "Bulk", "request_id": "r"})).await.unwrap();
    t.wait_files("edit", WAIT, |f| f.values().all(|i| i.get("step").is_some_and(|s| s == "REQUESTED"))).await.unwrap();
    policy(&t, "deep-edit", json!({"asset_types": ["editorial"]}), "title.launch", 0, json!({"action": "archive", "storage_class": "DEEP_ARCHIVE"}), 10).await;
    t.wait_rescheduled().await.unwrap();

    let busy = t.evaluate("2027-02-01T02:00:00Z").await.unwrap();
    assert_eq!((busy["tasks_created"].as_u64(), busy["actions"][0]["outcome"].as_str()), (Some(0), Some("busy")), "{busy}");
    assert_eq!(busy["actions"][0]["task_id"].as_str(), Some(restore.as_str()), "names the task that holds the asset");
    t.runner().resume("slm-completion");
    t.complete_restores("edit", &restore, WAIT).await.unwrap();
    assert_eq!(t.wait_task(&restore, WAIT).await.unwrap()["status"], "SUCCEEDED");

    let after = t.evaluate("2027-02-01T03:00:00Z").await.unwrap();
    assert_eq!(created(&after).len(), 1, "{after}");
    wait_created(&t, &after).await;
    assert_eq!(classes_of(&t.classes("show/editorial/").await.unwrap()), ["DEEP_ARCHIVE"]);
    t.stop().await;
}

/// GIVEN "archive 90 days after launch unless read in the last 30 days" and two assets
/// WHEN one is read 80 days after launch
/// THEN the unread one is archived 90 days after launch, the read one 30 days after its read;
/// accesses add up per day, an older read does not move the last access, bad records are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn recent_reads_hold_an_archive_back() {
    let t = TestStack::start("policy-reads-recent").await.unwrap();
    title(&t, "show", json!({"launch": "2027-03-01"})).await;
    asset(&t, "quiet", "show", "editorial", "final", 1).await;
    asset(&t, "read", "show", "editorial", "final", 1).await;
    let doc = json!({"policy_id": "quiet-archive", "anchor": "title.launch", "offset_days": 90, "not_accessed_days": 30,
        "selector": {"asset_types": ["editorial"]}, "action": {"action": "archive", "storage_class": "GLACIER_IR"}});
    t.api_ok("POST", "/policies", Some(doc)).await.unwrap();
    t.wait_rescheduled().await.unwrap();

    let may_20: chrono::DateTime<chrono::Utc> = "2027-05-20T12:00:00Z".parse().unwrap();
    let (status, out) = t.api_at(may_20, "POST", "/assets/read/accesses", Some(json!({"day": "2027-05-20", "count": 12}))).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!((out["last_access_on"].as_str(), out["due_at"].as_str()), (Some("2027-05-20"), Some("2027-06-19")), "{out}");
    t.api_at(may_20, "POST", "/assets/read/accesses", Some(json!({"day": "2027-05-20", "count": 3}))).await;
    let (_, out) = t.api_at(may_20, "POST", "/assets/read/accesses", Some(json!({"day": "2027-04-01", "count": 1}))).await;
    assert_eq!(out["last_access_on"], "2027-05-20", "an older read does not move the last access");
    for (name, body, status) in [
        ("zero", json!({"day": "2027-05-20", "count": 0}), 400),
        ("future", json!({"day": "2027-06-20", "count": 1}), 400),
        ("bad day", json!({"day": "2027-02-30", "count": 1}), 400),
        ("unknown field", json!({"day": "2027-05-20", "count": 1, "user": "x"}), 400),
    ] {
        let (got, out) = t.api_at(may_20, "POST", "/assets/read/accesses", Some(body)).await;
        assert_eq!(got, status, "{name}: {out}");
    }
    let (got, _) = t.api_at(may_20, "POST", "/assets/nope/accesses", Some(json!({"day": "2027-05-20", "count": 1}))).await;
    assert_eq!(got, 404);
    let days = t.api_ok("GET", "/assets/read/accesses", None).await.unwrap();
    assert_eq!(days["accesses"], json!([{"day": "2027-04-01", "count": 1}, {"day": "2027-05-20", "count": 15}]), "refused records added nothing");

    let first = t.evaluate("2027-05-30T02:00:00Z").await.unwrap();
    assert_eq!(created(&first).keys().cloned().collect::<Vec<_>>(), ["quiet"], "{first}");
    wait_created(&t, &first).await;
    let early = t.evaluate("2027-06-18T02:00:00Z").await.unwrap();
    assert_eq!(early["tasks_created"], 0, "{early}");
    let quiet_enough = t.evaluate("2027-06-19T02:00:00Z").await.unwrap();
    assert_eq!(created(&quiet_enough).keys().cloned().collect::<Vec<_>>(), ["read"], "{quiet_enough}");
    wait_created(&t, &quiet_enough).await;
    assert_eq!(classes_of(&t.classes("show/editorial/").await.unwrap()), ["GLACIER_IR"]);
    t.stop().await;
}

/// GIVEN a policy for final assets and an asset still in work
/// WHEN the asset's phase changes to final (and back)
/// THEN it comes into the policy's due list (and leaves it), with nothing else to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_changed_phase_moves_an_asset_in_and_out_of_a_policy() {
    let t = TestStack::start("policy-phase").await.unwrap();
    title(&t, "show", json!({"launch": "2027-03-01"})).await;
    asset(&t, "plates", "show", "vfx_plate", "wip", 1).await;
    policy(&t, "finals", json!({"phases": ["final"]}), "title.launch", 0, json!({"action": "archive", "storage_class": "GLACIER"}), 10).await;
    t.wait_rescheduled().await.unwrap();
    assert_eq!(due_on(&t, "2027-06-01").await, 0, "a work-in-progress asset is not selected");
    let changed = t.api_ok("PATCH", "/assets/plates", Some(json!({"phase": "final", "tags": {"hero": "yes"}}))).await.unwrap();
    assert_eq!((changed["phase"].as_str(), changed["tags"]["hero"].as_str()), (Some("final"), Some("yes")));
    assert_eq!(due_on(&t, "2027-06-01").await, 1, "a final asset is due");
    t.api_ok("PATCH", "/assets/plates", Some(json!({"phase": "wip"}))).await.unwrap();
    assert_eq!(due_on(&t, "2027-06-01").await, 0, "and leaves the due list with its phase");
    t.stop().await;
}

/// GIVEN a policy that is due
/// WHEN it is disabled (a new version) THEN the evaluator does nothing;
/// WHEN it is enabled again (another version) THEN its task names that version.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_disabled_policy_does_nothing_and_edits_make_versions() {
    let t = TestStack::start("policy-disabled").await.unwrap();
    title(&t, "show", json!({"launch": "2027-03-01"})).await;
    asset(&t, "edit", "show", "editorial", "final", 2).await;
    let v1 = policy(&t, "archive-edit", json!({"asset_types": ["editorial"]}), "title.launch", 10, json!({"action": "archive", "storage_class": "GLACIER_IR"}), 10).await;
    assert_eq!(v1["version"], 1);
    let off = t.api_ok("POST", "/policies/archive-edit/disable", None).await.unwrap();
    assert_eq!((off["policy"]["version"].as_u64(), off["policy"]["enabled"].as_bool()), (Some(2), Some(false)), "{off}");
    t.wait_rescheduled().await.unwrap();

    let disabled = t.evaluate("2027-04-01T02:00:00Z").await.unwrap();
    assert_eq!((disabled["tasks_created"].as_u64(), disabled["policies"].as_u64()), (Some(0), Some(0)), "{disabled}");
    assert_eq!(classes_of(&t.classes("show/editorial/").await.unwrap()), ["STANDARD"]);
    let first = t.api_ok("GET", "/policies/archive-edit?version=1", None).await.unwrap();
    assert_eq!((first["version"].as_u64(), first["enabled"].as_bool()), (Some(1), Some(true)), "old versions stay readable");

    let on = t.api_ok("POST", "/policies/archive-edit/enable", None).await.unwrap();
    assert_eq!(on["policy"]["version"], 3);
    t.wait_rescheduled().await.unwrap();
    let enabled = t.evaluate("2027-04-01T03:00:00Z").await.unwrap();
    assert_eq!(created(&enabled).len(), 1, "{enabled}");
    assert_eq!(enabled["actions"][0]["policy"]["version"], 3);
    wait_created(&t, &enabled).await;
    assert_eq!(classes_of(&t.classes("show/editorial/").await.unwrap()), ["GLACIER_IR"]);
    let listed = t.api_ok("GET", "/policies", None).await.unwrap();
    assert_eq!(listed["policies"].as_array().unwrap().len(), 1, "one current version per policy: {listed}");
    t.stop().await;
}

/// GIVEN due assets
/// WHEN a dry-run asks what would happen on their day
/// THEN it lists each action with its files, bytes, estimate and where it loses money, and no
/// table item and no object changed; a policy that would cost an early deletion says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dry_run_reports_and_changes_nothing() {
    let t = TestStack::start("policy-dry").await.unwrap();
    title(&t, "show", json!({"post_production_end": "2027-01-15", "launch": "2027-03-01"})).await;
    asset(&t, "cam", "show", "camera_original", "final", 4).await;
    asset(&t, "temp", "show", "temp_render", "temp", 2).await;
    policy(&t, "camera-deep", json!({"asset_types": ["camera_original"]}), "title.post_production_end", 30, json!({"action": "archive", "storage_class": "DEEP_ARCHIVE"}), 20).await;
    policy(&t, "purge-temps", json!({"asset_types": ["temp_render"]}), "title.launch", 60, json!({"action": "purge"}), 50).await;
    t.wait_rescheduled().await.unwrap();
    let before = t.snapshot().await.unwrap();

    let dry = t.api_ok("POST", "/dry-run", Some(json!({"at": "2027-06-01"}))).await.unwrap();
    assert_eq!(dry["dry_run"], true);
    let actions = dry["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 2, "{dry}");
    let cam = actions.iter().find(|a| a["asset_id"] == "cam").unwrap();
    assert_eq!((cam["action"].as_str(), cam["storage_class"].as_str(), cam["due"].as_str()), (Some("archive"), Some("DEEP_ARCHIVE"), Some("2027-02-14")));
    assert_eq!((cam["files"].as_u64(), cam["bytes"].as_u64(), cam["outcome"].as_str()), (Some(4), Some(256), Some("would_create")));
    let transition = cam["estimate"]["transition_cost"].as_f64().unwrap();
    assert!((transition - 4.0 / 1000.0 * 0.05).abs() < 1e-12, "4 DEEP_ARCHIVE transitions: {cam}");
    // 64-byte objects cost more in DEEP_ARCHIVE than in STANDARD: the 40 KB overhead per object.
    assert!(cam["estimate"]["monthly_saving"].as_f64().unwrap() < 0.0, "{cam}");
    let warnings = cam["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{cam}");
    let small = warnings[0].as_str().unwrap();
    assert!(small.starts_with("4 files under 128 KB cost $") && small.contains("more in DEEP_ARCHIVE than in STANDARD, break-even 9."), "{small}");
    let temp = actions.iter().find(|a| a["asset_id"] == "temp").unwrap();
    assert!(temp.get("warnings").is_none(), "a purge of STANDARD files loses nothing: {temp}");
    assert_eq!((temp["action"].as_str(), temp["due"].as_str()), (Some("purge"), Some("2027-04-30")));
    assert!(temp["estimate"]["monthly_saving"].as_f64().unwrap() > 0.0);
    assert_eq!(dry["totals"]["assets"], 2);

    let (status, out) = t.api("POST", "/dry-run", Some(json!({"at": "someday"}))).await;
    assert_eq!(status, 400, "{out}");
    let after = t.snapshot().await.unwrap();
    let changed: Vec<&String> = after.iter().filter(|l| !before.contains(l)).chain(before.iter().filter(|l| !after.contains(l))).collect();
    assert!(changed.is_empty(), "a dry-run writes nothing, but these differ: {changed:#?}");
    assert_eq!(after.len(), before.len());

    // A purge that outranks the archive 60 days after it, within DEEP_ARCHIVE's 180: the answer
    // says what it costs; an edit past the minimum says nothing.
    let out = policy(&t, "camera-purge", json!({"asset_types": ["camera_original"]}), "title.post_production_end", 90, json!({"action": "purge"}), 30).await;
    assert_eq!(out["version"], 1);
    assert_eq!(
        out["warnings"],
        json!(["policy camera-purge purges what policy camera-deep archived to DEEP_ARCHIVE 60 days before, within DEEP_ARCHIVE's minimum of 180 days: 120 days of early-deletion charge"])
    );
    let doc = json!({"policy_id": "camera-purge", "selector": {"asset_types": ["camera_original"]}, "anchor": "title.post_production_end", "offset_days": 240, "action": {"action": "purge"}, "priority": 30});
    let out = t.api_ok("PUT", "/policies/camera-purge", Some(doc)).await.unwrap();
    assert_eq!((out["changed"].clone(), out["warnings"].clone()), (json!(true), json!([])), "{out}");
    t.stop().await;
}

/// GIVEN a registered title with its assets, reads and policies
/// WHEN the savings case is asked of the API
/// THEN every strategy is priced on its assets month by month (the status quo to the cent of
/// the price table), the same question gets the same answer, nothing is written, and bad
/// questions are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_savings_case_of_a_registered_title_prices_each_strategy_and_changes_nothing() {
    let t = TestStack::start("policy-savings").await.unwrap();
    title(&t, "film", json!({"post_production_end": "2026-04-15", "launch": "2026-06-01"})).await;
    let prefix = "film/camera_original/cam/";
    t.put_objects(prefix, 4, 256 * 1024).await.unwrap();
    let body = json!({"asset_id": "cam", "title_id": "film", "asset_type": "camera_original", "bucket": t.bucket, "prefix": prefix, "created_on": "2026-03-01"});
    t.api_ok("POST", "/assets", Some(body)).await.unwrap();
    asset(&t, "other", "show", "editorial", "final", 2).await;
    for (day, count) in [("2026-05-20", 3), ("2026-06-05", 2)] {
        t.api_ok("POST", "/assets/cam/accesses", Some(json!({"day": day, "count": count}))).await.unwrap();
    }
    policy(&t, "camera-ir", json!({"asset_types": ["camera_original"]}), "title.launch", 10, json!({"action": "archive", "storage_class": "GLACIER_IR"}), 10).await;
    t.wait_rescheduled().await.unwrap();
    let before = t.snapshot().await.unwrap();

    let ask = "/savings?title=film&months=12&start=2026-06-01";
    let c = t.api_ok("GET", ask, None).await.unwrap();
    assert_eq!((c["assets"].as_u64(), c["files"].as_u64(), c["bytes"].as_u64()), (Some(1), Some(4), Some(4 * 256 * 1024)), "only the title's asset: {c}");
    assert_eq!(c["assumptions"]["start"], "2026-06-01");
    let names: Vec<&str> = c["strategies"].as_array().unwrap().iter().map(|s| s["strategy"].as_str().unwrap()).collect();
    assert_eq!(names, ["status quo", "slm", "Intelligent-Tiering", "Intelligent-Tiering with archive tiers", "best age-only lifecycle rule", "best age-only rule, reads instant"]);
    let strategy = |name: &str| c["strategies"].as_array().unwrap().iter().find(|s| s["strategy"] == name).unwrap().clone();
    let month = 4.0 * 256.0 * 1024.0 / (1u64 << 30) as f64 * 0.023;
    let quo = strategy("status quo");
    assert_eq!(quo["monthly"].as_array().unwrap().len(), 12);
    for m in quo["monthly"].as_array().unwrap() {
        assert!((m.as_f64().unwrap() - month).abs() < 1e-12, "{m} against {month}");
    }
    let slm = strategy("slm");
    assert_eq!(slm["detail"], "1 policy on the titles' dates");
    let cost = |s: &Value, what: &str| s["costs"][what].as_f64().unwrap();
    assert!(cost(&slm, "storage") < cost(&quo, "storage") / 4.0, "GLACIER_IR from day 10 of 360: {slm}");
    // 1 MiB in all: the task's own requests (its state machine above all) cost more than the
    // storage it saves, and the answer says so in its figures.
    assert!(cost(&slm, "transitions") > 0.0 && cost(&slm, "running") > cost(&quo, "storage") - cost(&slm, "storage"), "{slm}");
    let parts: f64 = ["storage", "monitoring", "transitions", "retrieval", "early_deletion", "running"].iter().map(|w| cost(&slm, w)).sum();
    assert!((parts - slm["total"].as_f64().unwrap()).abs() < 1e-12);
    assert_eq!(t.api_ok("GET", ask, None).await.unwrap(), c, "the same question, the same answer");
    let all = t.api_ok("GET", "/savings?months=3&start=2026-06-01", None).await.unwrap();
    assert_eq!((all["assets"].as_u64(), all["assumptions"]["months"].as_u64()), (Some(2), Some(3)), "every title's assets: {all}");

    for (bad, status) in [
        ("/savings?title=film&months=0", 400),
        ("/savings?title=film&months=121", 400),
        ("/savings?title=film&months=lots", 400),
        ("/savings?title=film&start=someday", 400),
        ("/savings?title=no-such-title", 404),
        ("/savings?title=a%20b", 400),
    ] {
        let (got, out) = t.api("GET", bad, None).await;
        assert_eq!(got, status, "{bad}: {out}");
    }
    // Any registered application may ask; a caller that is none may not.
    let (got, out) = t.api_as("arn:aws:iam::123456789012:role/stranger", "GET", ask, None).await;
    assert_eq!(got, 403, "{out}");
    assert!(out["message"].as_str().unwrap_or_default().contains("is not a registered application"), "{out}");
    let after = t.snapshot().await.unwrap();
    let changed: Vec<&String> = after.iter().filter(|l| !before.contains(l)).chain(before.iter().filter(|l| !after.contains(l))).collect();
    assert!(changed.is_empty(), "the savings case writes nothing, but these differ: {changed:#?}");
    t.stop().await;
}

/// GIVEN twelve assets of which three are due
/// WHEN the evaluator runs
/// THEN it reads exactly the three due asset items (and the one title they belong to).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_evaluation_reads_only_the_due_assets() {
    let t = TestStack::start("policy-reads").await.unwrap();
    title(&t, "early", json!({"launch": "2027-01-01"})).await;
    title(&t, "late", json!({"launch": "2028-01-01"})).await;
    for i in 0..3 {
        asset(&t, &format!("early-{i}"), "early", "editorial", "final", 1).await;
    }
    for i in 0..9 {
        asset(&t, &format!("late-{i}"), "late", "editorial", "final", 1).await;
    }
    asset(&t, "unmanaged", "early", "audio_stem", "final", 1).await;
    policy(&t, "archive-edit", json!({"asset_types": ["editorial"]}), "title.launch", 30, json!({"action": "archive", "storage_class": "GLACIER_IR"}), 10).await;
    t.wait_rescheduled().await.unwrap();

    let e = t.evaluate("2027-06-01T02:00:00Z").await.unwrap();
    assert_eq!(e["assets_read"], 3, "only the due assets are read: {e}");
    assert_eq!(e["titles_read"], 1, "{e}");
    assert_eq!(created(&e).keys().cloned().collect::<Vec<_>>(), ["early-0", "early-1", "early-2"]);
    wait_created(&t, &e).await;
    t.stop().await;
}

/// GIVEN five due assets and a cap of two starts per run
/// WHEN the evaluator runs three times
/// THEN it starts two, two and one: the burst is bounded and nothing is started twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_capped_evaluation_leaves_the_rest_for_the_next_run() {
    let mut runner = RunnerOptions::default();
    runner.env_overrides.insert("EVALUATION_MAX_STARTS".into(), "2".into());
    let t = TestStack::start_with("policy-cap", Options { runner, ..Default::default() }).await.unwrap();
    title(&t, "show", json!({"launch": "2027-01-01"})).await;
    for i in 0..5 {
        asset(&t, &format!("edit-{i}"), "show", "editorial", "final", 1).await;
    }
    policy(&t, "archive-edit", json!({"asset_types": ["editorial"]}), "title.launch", 0, json!({"action": "archive", "storage_class": "GLACIER"}), 10).await;
    t.wait_rescheduled().await.unwrap();
    let mut started = Vec::new();
    for (hour, expected, more) in [(1, 2, true), (2, 2, true), (3, 1, false)] {
        let e = t.evaluate(&format!("2027-02-01T0{hour}:00:00Z")).await.unwrap();
        assert_eq!((e["tasks_created"].as_u64(), e["more_due"].as_bool()), (Some(expected), Some(more)), "run {hour}: {e}");
        started.extend(created(&e).into_keys());
    }
    started.sort();
    assert_eq!(started, ["edit-0", "edit-1", "edit-2", "edit-3", "edit-4"]);
    let tasks = t.count_items("TasksTable").await.unwrap();
    assert_eq!(tasks, 5);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_evaluation_out_of_time_stops_and_the_next_run_goes_on() {
    // GIVEN an evaluator whose margin exceeds its timeout: each run evaluates one asset and stops
    let mut runner = RunnerOptions::default();
    runner.env_overrides.insert("EVALUATION_DEADLINE_MARGIN_MS".into(), "120000".into());
    runner.timeouts.insert("slm-evaluator".into(), Duration::from_secs(60));
    let t = TestStack::start_with("policy-deadline", Options { runner, ..Default::default() }).await.unwrap();
    title(&t, "show", json!({"launch": "2027-01-01"})).await;
    for i in 0..3 {
        asset(&t, &format!("edit-{i}"), "show", "editorial", "final", 1).await;
    }
    policy(&t, "archive-edit", json!({"asset_types": ["editorial"]}), "title.launch", 0, json!({"action": "archive", "storage_class": "GLACIER"}), 10).await;
    t.wait_rescheduled().await.unwrap();

    // WHEN the schedule fires three times, then once more
    let mut started = Vec::new();
    for (hour, more) in [(1, true), (2, true), (3, false)] {
        let e = t.evaluate(&format!("2027-02-01T0{hour}:00:00Z")).await.unwrap();
        // THEN each run starts one task and says more is due until none is
        assert_eq!((e["tasks_created"].as_u64(), e["more_due"].as_bool()), (Some(1), Some(more)), "run {hour}: {e}");
        started.extend(created(&e).into_keys());
    }
    let last = t.evaluate("2027-02-01T04:00:00Z").await.unwrap();
    assert_eq!((last["tasks_created"].as_u64(), last["more_due"].as_bool()), (Some(0), Some(false)), "{last}");
    started.sort();
    assert_eq!(started, ["edit-0", "edit-1", "edit-2"]);
    assert_eq!(t.count_items("TasksTable").await.unwrap(), 3);
    t.stop().await;
}

/// Bad policies, titles, asset changes and dry-runs get a 4xx that says what is wrong, and
/// nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_policies_titles_and_changes_are_refused_and_store_nothing() {
    let t = TestStack::start("policy-refusals").await.unwrap();
    asset(&t, "edit", "show", "editorial", "final", 1).await;
    let good = json!({"policy_id": "p1", "anchor": "title.launch", "offset_days": 30, "action": {"action": "archive", "storage_class": "GLACIER"}});
    let with = |field: &str, value: Value| {
        let mut doc = good.clone();
        doc[field] = value;
        doc
    };
    let cases = [
        ("negative offset", with("offset_days", json!(-5)), "offset_days"),
        ("unknown class", with("action", json!({"action": "archive", "storage_class": "GLACIERR"})), "GLACIERR"),
        ("archive to STANDARD", with("action", json!({"action": "archive", "storage_class": "STANDARD"})), "STANDARD"),
        ("unknown anchor", with("anchor", json!("asset.modified")), "asset.modified"),
        ("restore by policy", with("action", json!({"action": "restore", "days": 3, "tier": "Bulk"})), "restore"),
        ("unknown field", with("colour", json!("red")), "colour"),
        ("unknown selector field", with("selector", json!({"kinds": ["x"]})), "kinds"),
        ("wrong type", with("priority", json!("high")), "priority"),
        ("priority out of range", with("priority", json!(5000)), "priority"),
        ("bad id", with("policy_id", json!("a b")), "policy_id"),
    ];
    for (name, body, says) in cases {
        let (status, out) = t.api("POST", "/policies", Some(body)).await;
        assert_eq!(status, 400, "{name}: {out}");
        assert!(out["message"].as_str().unwrap_or_default().contains(says), "{name}: {out} does not name {says}");
    }
    assert_eq!(t.count_items("PoliciesTable").await.unwrap(), 0, "no refused policy was stored");

    t.api_ok("POST", "/policies", Some(good.clone())).await.unwrap();
    // The same create again by the same caller is its retry: answered with the policy it made.
    let (status, out) = t.api("POST", "/policies", Some(good.clone())).await;
    assert_eq!((status, out["version"].as_u64()), (200, Some(1)), "created twice: {out}");
    let (status, out) = t.api("POST", "/policies", Some(with("offset_days", json!(60)))).await;
    assert_eq!(status, 409, "another policy of the same id: {out}");
    let (status, out) = t.api("PUT", "/policies/p2", Some(good.clone())).await;
    assert_eq!(status, 400, "id in body and path differ: {out}");
    let (status, out) = t.api("PUT", "/policies/p1", Some(with("offset_days", json!(-1)))).await;
    assert_eq!(status, 400, "{out}");
    let mut unknown = good.clone();
    unknown["policy_id"] = json!("nope");
    let (status, out) = t.api("PUT", "/policies/nope", Some(unknown)).await;
    assert_eq!(status, 404, "{out}");
    assert_eq!(t.api_ok("GET", "/policies/p1", None).await.unwrap()["version"], 1, "refused edits made no version");
    let (_, same) = t.api("PUT", "/policies/p1", Some(good.clone())).await;
    assert_eq!((same["changed"].as_bool(), same["policy"]["version"].as_u64()), (Some(false), Some(1)), "an identical edit makes no version");

    for (name, dates, says) in [
        ("bad month", json!({"launch": "2027-13-01"}), "dates.launch"),
        ("out of range", json!({"launch": "9999-01-01"}), "dates.launch"),
        ("bad name", json!({"Launch Day": "2027-01-01"}), "Launch Day"),
    ] {
        let (status, out) = t.api("PUT", "/titles/show", Some(json!({"dates": dates}))).await;
        assert_eq!(status, 400, "{name}: {out}");
        assert!(out["message"].as_str().unwrap_or_default().contains(says), "{name}: {out}");
    }
    let (status, out) = t.api("PUT", "/titles/show", Some(json!({"dates": {}, "genre": "noir"}))).await;
    assert_eq!(status, 400, "{out}");
    assert_eq!(t.count_items("TitlesTable").await.unwrap(), 0, "no refused title was stored");

    let (status, out) = t.api("PATCH", "/assets/edit", Some(json!({"phase": "fin al"}))).await;
    assert_eq!(status, 400, "{out}");
    let (status, out) = t.api("PATCH", "/assets/nope", Some(json!({"phase": "final"}))).await;
    assert_eq!(status, 404, "{out}");
    let (status, out) = t.api("PATCH", "/assets/edit", Some(json!({}))).await;
    assert_eq!(status, 400, "nothing to change: {out}");
    let (status, out) = t.api("PATCH", "/assets/edit", Some(json!({"tags": {"k\u{7}": "v"}}))).await;
    assert_eq!(status, 400, "a control character in a tag: {out}");
    assert_eq!(t.api_ok("GET", "/assets/edit", None).await.unwrap()["phase"], "final");
    for body in [json!({"at": "2027-02-30"}), json!({"at": "2027-01-01", "limit": 0}), json!({"at": "2027-01-01", "when": "now"})] {
        let (status, out) = t.api("POST", "/dry-run", Some(body.clone())).await;
        assert_eq!(status, 400, "{body}: {out}");
    }
    t.stop().await;
}

/// GIVEN reads recorded for two asset types of a launched title (editorial read for three weeks
/// after launch, plates again in week ten)
/// WHEN the access report runs
/// THEN it recommends archiving editorial 21 days and plates 77 days after launch, with the
/// projected saving, as text and as a chart with a line per type.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_access_report_recommends_an_archive_offset_per_asset_type() {
    let t = TestStack::start("policy-report").await.unwrap();
    title(&t, "show", json!({"launch": "2027-03-01"})).await;
    for i in 0..4 {
        asset(&t, &format!("edit-{i}"), "show", "editorial", "final", 2).await;
    }
    for i in 0..2 {
        asset(&t, &format!("plates-{i}"), "show", "vfx_plate", "final", 1).await;
    }
    let launch: chrono::NaiveDate = "2027-03-01".parse().unwrap();
    let read = |asset: String, days: i64| {
        let t = &t;
        async move {
            let day = launch + chrono::Days::new(days as u64);
            let now = day.and_hms_opt(12, 0, 0).unwrap().and_utc();
            let (status, out) = t.api_at(now, "POST", &format!("/assets/{asset}/accesses"), Some(json!({"day": day.to_string(), "count": 7}))).await;
            assert_eq!(status, 200, "{out}");
        }
    };
    for i in 0..4 {
        for days in [0, 7, 14] {
            read(format!("edit-{i}"), days).await;
        }
    }
    for i in 0..2 {
        for days in [0, 70] {
            read(format!("plates-{i}"), days).await;
        }
    }
    let config = slm_local::runner::function_config(t.stack.function("slm-api").unwrap(), &Default::default()).unwrap();
    let core = slm_core::adapters::AwsCore::new(&t.clients, config);
    let prices = slm_core::domain::pricing::PriceTable::bundled();
    let report = core.access_report("launch", 7, 182, 0.01, slm_core::domain::StorageClass::GlacierIr, prices).await.unwrap();
    let by: BTreeMap<&str, _> = report.types.iter().map(|c| (c.asset_type.as_str(), c)).collect();
    assert_eq!(by["editorial"].recommended_offset_days, Some(21));
    assert_eq!(by["vfx_plate"].recommended_offset_days, Some(77));
    assert_eq!((by["editorial"].assets, by["vfx_plate"].assets), (4, 2));
    assert!((by["editorial"].points[0].1 - 1.0).abs() < 1e-12, "7 reads of each asset in a 7-day bin: {:?}", by["editorial"].points[0]);
    let projected = by["editorial"].projected.unwrap();
    assert!((projected.transition_cost - 8.0 / 1000.0 * 0.02).abs() < 1e-12, "8 files to GLACIER_IR: {projected:?}");
    assert!(report.text().contains("21 days"), "{}", report.text());
    let svg = slm_local::charts::access(&report).unwrap();
    assert!(svg.contains("editorial (archive after 21 d)") && svg.contains("vfx_plate (archive after 77 d)"), "{svg}");
    let (status, _) = t.api_at(launch.and_hms_opt(0, 0, 0).unwrap().and_utc(), "POST", "/assets/edit-0/accesses", Some(json!({"day": "2027-03-05", "count": 1}))).await;
    assert_eq!(status, 400, "a day after tomorrow is refused");
    t.stop().await;
}
