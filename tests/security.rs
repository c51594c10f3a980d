//! Only designated applications: callers are authorized against the application registry by
//! their IAM principal, per action and within their scopes; every request lands in the audit
//! trail; legal holds stop purges asked by request, by policy, or already running.

use serde_json::{Value, json};
use slm_e2e::{CALLER, Defect, Options, TestStack, later, stopped_by};
use slm_local::session::ADMIN;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(180);
const ARCHIVER: &str = "arn:aws:iam::123456789012:role/archiver";
/// A session of the archiver's role, as API Gateway names an assumed role's caller.
const ARCHIVER_SESSION: &str = "arn:aws:sts::123456789012:assumed-role/archiver/nightly-1";
const STRANGER: &str = "arn:aws:iam::123456789012:role/stranger";

/// Registers an asset of `title` and `asset_type` under `prefix` with `files` objects.
async fn asset(t: &TestStack, id: &str, title: &str, asset_type: &str, files: usize) {
    let prefix = format!("{title}/{asset_type}/{id}/");
    t.put_objects(&prefix, files, 16).await.unwrap();
    let body = json!({"asset_id": id, "title_id": title, "asset_type": asset_type, "bucket": t.bucket, "prefix": prefix});
    t.api_ok("POST", "/assets", Some(body)).await.unwrap();
}

/// Calls as `caller` and checks the status and that the message says `says`.
async fn expect(t: &TestStack, caller: &str, method: &str, path: &str, body: Option<Value>, status: i64, says: &str) -> Value {
    let (got, out) = t.api_as(caller, method, path, body).await;
    assert_eq!(got, status, "{caller} {method} {path}: {out}");
    let text = out["message"].as_str().unwrap_or_default();
    assert!(text.contains(says), "{caller} {method} {path}: expected {says:?} in {out}");
    out
}

fn archive(request_id: &str) -> Value {
    json!({"action": "archive", "storage_class": "GLACIER", "request_id": request_id})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_registered_applications_act_within_their_grants_and_every_request_is_audited() {
    // GIVEN camera originals and VFX of one title, camera originals of another, and an
    // application that may archive and restore camera originals of the first title only
    let t = TestStack::start("security").await.unwrap();
    asset(&t, "cam-1", "show", "camera_original", 3).await;
    asset(&t, "vfx-1", "show", "vfx", 2).await;
    asset(&t, "cam-2", "other", "camera_original", 2).await;
    let app = json!({"principal": ARCHIVER, "name": "archiver", "grants": [
        {"actions": ["archive", "restore"], "asset_types": ["camera_original"], "title_ids": ["show"]}]});
    let (status, out) = t.api_as(ADMIN, "PUT", "/applications", Some(app)).await;
    assert_eq!(status, 201, "{out}");
    let before = t.snapshot().await.unwrap();

    // WHEN an unknown caller, a caller that is no IAM principal, and the archiver beyond its
    // grants ask for anything
    for (method, path, body) in [
        ("POST", "/assets/cam-1/tasks", Some(json!({"action": "purge", "request_id": "x"}))),
        ("GET", "/assets/cam-1", None),
        ("PUT", "/assets/cam-1/hold", Some(json!({"reason": "mine"}))),
        ("PUT", "/applications", Some(json!({"principal": STRANGER, "name": "me", "grants": [{"actions": ["admin"]}]}))),
        ("GET", "/audit?asset=cam-1", None),
        ("POST", "/assets/nope/tasks", Some(json!({"oversized": "x".repeat(100_000)}))),
    ] {
        expect(&t, STRANGER, method, path, body.clone(), 403, "is not a registered application").await;
        expect(&t, "anonymous", method, path, body, 403, "is not a registered application").await;
    }
    let beyond = [
        ("POST", "/assets/cam-1/tasks", Some(json!({"action": "purge", "request_id": "p"})), "no purge grant on assets of type camera_original in title show"),
        ("POST", "/assets/vfx-1/tasks", Some(archive("v")), "no archive grant on assets of type vfx in title show"),
        ("POST", "/assets/cam-2/tasks", Some(archive("c")), "no archive grant on assets of type camera_original in title other"),
        ("PATCH", "/assets/cam-1", Some(json!({"phase": "final"})), "no register grant"),
        ("POST", "/assets/cam-1/accesses", Some(json!({"day": "2027-01-01", "count": 1})), "no access grant"),
        ("PUT", "/assets/cam-1/hold", Some(json!({"reason": "case 1"})), "no hold grant"),
        ("PUT", "/titles/show", Some(json!({"dates": {"launch": "2027-01-01"}})), "no titles grant on title show"),
        ("POST", "/policies", Some(json!({"policy_id": "p", "anchor": "title.launch", "offset_days": 1, "action": {"action": "purge"}})), "no policies grant"),
        ("PUT", "/applications", Some(json!({"principal": ARCHIVER, "name": "archiver", "grants": [{"actions": ["purge"]}]})), "no admin grant"),
        ("GET", "/applications", None, "no admin grant"),
        ("GET", "/audit?caller=arn:aws:iam::123456789012:role/archiver", None, "no audit grant"),
        ("POST", "/backfills", Some(json!({"bucket": t.bucket, "prefix": "show/"})), "no register grant on everything"),
    ];
    for (method, path, body, says) in &beyond {
        expect(&t, ARCHIVER_SESSION, method, path, body.clone(), 403, says).await;
    }

    // THEN nothing changed but the audit trail
    assert_eq!(t.snapshot().await.unwrap(), before, "a refused request changed something");

    // WHEN the archiver asks for what it may: reads, and an archive of its camera originals
    let (status, _) = t.api_as(ARCHIVER_SESSION, "GET", "/assets/cam-1", None).await;
    assert_eq!(status, 200);
    let out = expect(&t, ARCHIVER_SESSION, "POST", "/assets/cam-1/tasks", Some(archive("a1")), 202, "").await;
    let task_id = out["task"]["task_id"].as_str().unwrap().to_string();
    assert_eq!(out["task"]["requested_by"], ARCHIVER, "the task names the application's principal");
    assert_eq!(t.wait_task(&task_id, WAIT).await.unwrap()["status"], "SUCCEEDED");

    // THEN the asset's trail holds every request on it, newest first: the refused ones with
    // their reason and status, the accepted archive with its task
    let trail = t.audit("asset=cam-1").await.unwrap();
    let times: Vec<&str> = trail.iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first: {times:?}");
    let by = |caller: &str, action: &str| -> Vec<&Value> { trail.iter().filter(|e| e["caller"] == caller && e["action"].as_str().unwrap().starts_with(action)).collect() };
    let accepted = by(ARCHIVER_SESSION, "POST /assets/cam-1/tasks archive");
    assert_eq!(accepted.len(), 1, "{trail:#?}");
    assert_eq!((&accepted[0]["decision"], &accepted[0]["status"], &accepted[0]["task_ids"]), (&json!("allowed"), &json!(202), &json!([task_id])));
    assert_eq!((&accepted[0]["principal"], &accepted[0]["application"]), (&json!(ARCHIVER), &json!("archiver")));
    let refused = by(ARCHIVER_SESSION, "POST /assets/cam-1/tasks purge");
    assert_eq!(refused.len(), 1, "{trail:#?}");
    assert_eq!((&refused[0]["decision"], &refused[0]["status"]), (&json!("refused"), &json!(403)));
    assert!(refused[0]["reason"].as_str().unwrap().contains("no purge grant"), "{:?}", refused[0]);
    assert_eq!(by(STRANGER, "").len(), 3, "the stranger's three requests naming cam-1: {trail:#?}");
    assert_eq!(by("anonymous", "").len(), 3, "{trail:#?}");
    assert!(by(STRANGER, "").iter().all(|e| e["decision"] == "refused" && e["status"] == 403 && e.get("application").is_none()));
    // ...and requests naming an asset that does not exist have a trail too
    let nope = t.audit("asset=nope").await.unwrap();
    assert!(nope.len() == 2 && nope.iter().all(|e| e["decision"] == "refused" && e["status"] == 403), "{nope:#?}");
    // ...and the registration of the asset, by the session's application
    assert_eq!(by(CALLER, "POST /assets").len(), 1, "{trail:#?}");

    // AND the archiver's trail holds every request it made, under its role whatever its session
    let mine = t.audit(&format!("caller={ARCHIVER}")).await.unwrap();
    assert_eq!(mine.len(), beyond.len() + 2, "{mine:#?}");
    assert_eq!(t.audit(&format!("caller={ARCHIVER_SESSION}")).await.unwrap().len(), mine.len(), "a session's ARN finds its role's trail");
    assert!(mine.iter().all(|e| e["principal"] == ARCHIVER));
    let strangers = t.audit(&format!("caller={STRANGER}")).await.unwrap();
    assert_eq!(strangers.len(), 6, "{strangers:#?}");
    // the task's reads while it ran (the harness polls as the session's app) sit under the asset too
    assert!(trail.iter().any(|e| e["action"] == format!("GET /tasks/{task_id}")), "task reads are found under their asset");

    // AND paging the trail gives every entry once; a cursor that is not the API's is refused
    let (_, page) = t.api_as(ADMIN, "GET", "/audit?asset=cam-1&limit=3", None).await;
    assert_eq!(page["entries"].as_array().unwrap().len(), 3);
    let (_, second) = t.api_as(ADMIN, "GET", &format!("/audit?asset=cam-1&limit=3&after={}", page["next"].as_str().unwrap()), None).await;
    assert_eq!(second["entries"][0], trail[3], "the second page starts after the first");
    for bad in ["/audit?asset=cam-1&after=zz", "/audit?asset=cam-1&after=7b7d", "/audit?asset=cam-1&limit=0", "/audit", "/audit?asset=cam-1&caller=x"] {
        let (status, out) = t.api_as(ADMIN, "GET", bad, None).await;
        assert_eq!(status, 400, "{bad}: {out}");
    }

    // AND an auditor of one title reads the trails of that title and its assets, and no other
    const AUDITOR: &str = "arn:aws:iam::123456789012:user/auditor";
    let (status, _) = t.api_as(ADMIN, "PUT", "/applications", Some(json!({"principal": AUDITOR, "name": "auditor", "grants": [{"actions": ["audit"], "title_ids": ["show"]}]}))).await;
    assert_eq!(status, 201);
    for (target, status) in [("asset=cam-1", 200), ("title=show", 200), ("asset=cam-2", 403), ("title=other", 403), ("asset=nope", 403), (&format!("caller={ARCHIVER}") as &str, 403), ("policy=p", 403)] {
        let (got, out) = t.api_as(AUDITOR, "GET", &format!("/audit?{target}"), None).await;
        assert_eq!(got, status, "{target}: {out}");
    }

    // WHEN the administrator removes the archiver, THEN it is a stranger; bad registrations are refused
    let (status, out) = t.api_as(ADMIN, "DELETE", &format!("/applications?principal={ARCHIVER}"), None).await;
    assert_eq!((status, &out["removed"]["name"]), (200, &json!("archiver")), "{out}");
    expect(&t, ARCHIVER_SESSION, "GET", "/assets/cam-1", None, 403, "is not a registered application").await;
    expect(&t, ADMIN, "DELETE", &format!("/applications?principal={ARCHIVER}"), None, 404, "archiver").await;
    for (body, says) in [
        (json!({"principal": ADMIN, "name": "me", "grants": [{"actions": ["archive"]}]}), "AdminPrincipal"),
        (json!({"principal": "arn:aws:iam::123456789012:root", "name": "r", "grants": [{"actions": ["archive"]}]}), "not an IAM role"),
        (json!({"principal": ARCHIVER, "name": "a", "grants": [{"actions": ["everything"]}]}), "everything"),
        (json!({"principal": ARCHIVER, "name": "a", "grants": [{"actions": ["archive"], "title_ids": ["../x"]}]}), "title_ids"),
        (json!({"principal": ARCHIVER, "name": "a", "grants": [{"actions": ["archive"]}], "superuser": true}), "superuser"),
    ] {
        expect(&t, ADMIN, "PUT", "/applications", Some(body), 400, says).await;
    }
    let (_, apps) = t.api_as(ADMIN, "GET", "/applications", None).await;
    let names: Vec<&str> = apps["applications"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["post-production", "auditor"], "the archiver is gone");
    t.stop().await;
}

/// The task's current counters.
async fn task(t: &TestStack, task_id: &str) -> Value {
    t.api_ok("GET", &format!("/tasks/{task_id}"), None).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn legal_holds_stop_purges_by_request_by_policy_and_while_running() {
    // GIVEN temporary renders of two titles, both launched, and a policy that purges temporary
    // renders ten days after launch
    let t = TestStack::start("holds").await.unwrap();
    for (id, title, files) in [("held-1", "show", 2), ("held-2", "show", 2), ("free-1", "other", 2), ("late-1", "other", 4)] {
        asset(&t, id, title, "temp_render", files).await;
    }
    for title in ["show", "other"] {
        t.api_ok("PUT", &format!("/titles/{title}"), Some(json!({"dates": {"launch": "2027-01-01"}}))).await.unwrap();
    }

    // WHEN a hold is placed on asset held-1 and on title show (a second placing keeps the first)
    let placed = expect(&t, CALLER, "PUT", "/assets/held-1/hold", Some(json!({"reason": "case 2027-17"})), 201, "").await;
    assert_eq!(placed["hold"]["subject"], json!({"kind": "asset", "id": "held-1"}));
    let again = expect(&t, CALLER, "PUT", "/assets/held-1/hold", Some(json!({"reason": "another"})), 200, "").await;
    assert_eq!((&again["placed"], &again["hold"]["reason"]), (&json!(false), &json!("case 2027-17")));
    expect(&t, CALLER, "PUT", "/titles/show/hold", Some(json!({"reason": "litigation"})), 201, "").await;
    for (path, body, status, says) in [
        ("/assets/nope/hold", json!({"reason": "x"}), 404, "asset nope"),
        ("/assets/held-1/hold", json!({"reason": ""}), 400, "reason"),
        ("/assets/held-1/hold", json!({"reason": "a\u{0007}b"}), 400, "control"),
        ("/assets/held-1/hold", json!({"reason": 5}), 400, "reason"),
        ("/assets/held-1/hold", json!({"reason": "x", "until": "2030-01-01"}), 400, "until"),
        ("/titles/..%2F/hold", json!({"reason": "x"}), 400, "title_id"),
    ] {
        expect(&t, CALLER, "PUT", path, Some(body), status, says).await;
    }
    let (_, holds) = t.api("GET", "/holds", None).await;
    assert_eq!(holds["holds"].as_array().unwrap().len(), 2, "{holds}");

    // THEN a purge of either held asset is refused and changes nothing
    let before = t.snapshot().await.unwrap();
    let purge = |r: &str| json!({"action": "purge", "request_id": r});
    expect(&t, CALLER, "POST", "/assets/held-1/tasks", Some(purge("p1")), 409, "asset held-1 is under legal hold (case 2027-17").await;
    expect(&t, CALLER, "POST", "/assets/held-2/tasks", Some(purge("p2")), 409, "title show is under legal hold (litigation").await;
    assert_eq!(t.snapshot().await.unwrap(), before, "a refused purge changed something");

    // WHEN the policy is evaluated after its day
    let doc = json!({"policy_id": "purge-temps", "selector": {"asset_types": ["temp_render"]}, "anchor": "title.launch", "offset_days": 10, "action": {"action": "purge"}});
    t.api_ok("POST", "/policies", Some(doc)).await.unwrap();
    t.wait_rescheduled().await.unwrap();
    t.runner().pause("slm-worker");
    let evaluation = t.evaluate("2027-02-01T02:00:00Z").await.unwrap();

    // THEN it skips the held assets and reports why, and purges the others
    let outcome = |id: &str| evaluation["actions"].as_array().unwrap().iter().find(|a| a["asset_id"] == id).cloned().unwrap_or(Value::Null);
    assert_eq!((outcome("held-1")["outcome"].as_str(), outcome("held-2")["outcome"].as_str()), (Some("legal_hold"), Some("legal_hold")), "{evaluation}");
    assert!(outcome("held-2")["reason"].as_str().unwrap().contains("title show is under legal hold"), "{evaluation}");
    assert_eq!((evaluation["legal_holds"].as_u64(), evaluation["tasks_created"].as_u64()), (Some(2), Some(2)), "{evaluation}");
    let late = outcome("late-1")["task_id"].as_str().unwrap().to_string();
    let free = outcome("free-1")["task_id"].as_str().unwrap().to_string();

    // WHEN a hold is placed on late-1 after its purge was planned, before any worker ran
    let start = std::time::Instant::now();
    while task(&t, &late).await["counters"]["planned"] != 4 {
        assert!(start.elapsed() < WAIT, "late-1 never planned: {}", task(&t, &late).await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    expect(&t, CALLER, "PUT", "/assets/late-1/hold", Some(json!({"reason": "late subpoena"})), 201, "").await;
    t.runner().resume("slm-worker");

    // THEN the workers delete nothing of it: its task fails with the hold as every file's reason
    let ended = t.wait_task(&late, WAIT).await.unwrap();
    assert_eq!((ended["status"].as_str(), &ended["counters"]["failed"]), (Some("FAILED"), &json!(4)), "{ended}");
    let files = t.file_items("late-1").await.unwrap();
    assert!(files.values().all(|f| f.get("reason").is_some_and(|r| r.contains("LegalHold: asset late-1 is under legal hold"))), "{files:?}");
    assert_eq!(t.classes("other/temp_render/late-1/").await.unwrap().len(), 4, "a held asset lost objects");
    // ...while the asset without a hold is purged
    assert_eq!(t.wait_task(&free, WAIT).await.unwrap()["status"], "SUCCEEDED");
    assert!(t.classes("other/temp_render/free-1/").await.unwrap().is_empty());
    assert_eq!(t.classes("show/temp_render/").await.unwrap().len(), 4, "held assets lost objects");

    // AND the skipped purges are in the held assets' audit trail, with the reason
    let trail = t.audit("asset=held-2").await.unwrap();
    let skipped: Vec<&Value> = trail.iter().filter(|e| e["caller"] == "slm:policy-evaluator").collect();
    assert_eq!(skipped.len(), 1, "{trail:#?}");
    assert_eq!(skipped[0]["decision"], "refused");
    assert!(skipped[0]["reason"].as_str().unwrap().contains("legal hold"), "{skipped:?}");
    let free_trail = t.audit("asset=free-1").await.unwrap();
    assert!(free_trail.iter().any(|e| e["caller"] == "slm:policy-evaluator" && e["decision"] == "allowed" && e["task_ids"] == json!([free])), "{free_trail:#?}");
    let title_trail = t.audit("title=show").await.unwrap();
    assert!(title_trail.iter().any(|e| e["action"] == "PUT /titles/show/hold" && e["status"] == 201), "{title_trail:#?}");

    // AND the skipped assets left the due index (not read again every run while held)
    let due = |id: &'static str| {
        let t = &t;
        async move { t.api_ok("GET", &format!("/assets/{id}"), None).await.unwrap()["due_at"].clone() }
    };
    assert_eq!((due("held-1").await, due("held-2").await), (Value::Null, Value::Null));
    // ...so the next run reads only late-1 (its failed purge marked it for a fresh look), skips it
    // the same way, and takes it out too
    let next = t.evaluate("2027-02-02T02:00:00Z").await.unwrap();
    let skipped: Vec<&str> = next["actions"].as_array().unwrap().iter().filter(|a| a["outcome"] == "legal_hold").map(|a| a["asset_id"].as_str().unwrap()).collect();
    assert_eq!((skipped, next["tasks_created"].as_u64()), (vec!["late-1"], Some(0)), "{next}");
    assert_eq!(due("late-1").await, Value::Null);

    // WHEN a purge waits in the queue slot behind an archive, and a hold lands before its turn
    asset(&t, "queued-1", "other", "temp_render", 3).await;
    t.runner().pause("slm-worker");
    let archive = expect(&t, CALLER, "POST", "/assets/queued-1/tasks", Some(json!({"action": "archive", "storage_class": "GLACIER", "request_id": "q1"})), 202, "").await;
    let queued = expect(&t, CALLER, "POST", "/assets/queued-1/tasks", Some(purge("q2")), 202, "").await;
    assert_eq!(queued["task"]["status"], "QUEUED", "{queued}");
    expect(&t, CALLER, "PUT", "/assets/queued-1/hold", Some(json!({"reason": "case 9"})), 201, "").await;
    t.runner().resume("slm-worker");

    // THEN the archive runs, and the purge, when its turn comes, is refused before any delete
    assert_eq!(t.wait_task(archive["task"]["task_id"].as_str().unwrap(), WAIT).await.unwrap()["status"], "SUCCEEDED");
    let refused = t.wait_task(queued["task"]["task_id"].as_str().unwrap(), WAIT).await.unwrap();
    assert_eq!(refused["status"], "FAILED", "{refused}");
    assert!(refused["reason"].as_str().unwrap().contains("asset queued-1 is under legal hold (case 9"), "{refused}");
    assert_eq!(t.classes("other/temp_render/queued-1/").await.unwrap().len(), 3, "a held asset lost objects");

    // WHEN the holds are released, THEN the assets are due again and the policy purges them;
    // releasing twice is a 404
    expect(&t, CALLER, "DELETE", "/assets/held-1/hold", None, 200, "").await;
    expect(&t, CALLER, "DELETE", "/assets/held-1/hold", None, 404, "legal hold on asset held-1").await;
    assert_eq!(due("held-1").await, "2027-01-11", "an asset's release puts it back in the due index");
    expect(&t, CALLER, "POST", "/assets/held-1/tasks", Some(purge("p3")), 409, "title show is under legal hold").await;
    expect(&t, CALLER, "DELETE", "/titles/show/hold", None, 200, "").await;
    t.wait_rescheduled().await.unwrap();
    assert_eq!(due("held-2").await, "2027-01-11", "a title's release puts its assets back in the due index");
    let after = t.evaluate("2027-02-03T02:00:00Z").await.unwrap();
    for id in ["held-1", "held-2"] {
        let action = after["actions"].as_array().unwrap().iter().find(|a| a["asset_id"] == id).unwrap_or_else(|| panic!("{id} not purged: {after}"));
        assert_eq!(action["outcome"], "created", "{after}");
        assert_eq!(t.wait_task(action["task_id"].as_str().unwrap(), WAIT).await.unwrap()["status"], "SUCCEEDED");
    }
    assert!(t.classes("show/temp_render/").await.unwrap().is_empty());
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_bodies_and_paths_get_a_clear_error_change_nothing_and_are_audited() {
    // GIVEN an asset and a title
    let t = TestStack::start("hostile").await.unwrap();
    asset(&t, "cam-1", "show", "camera_original", 2).await;
    t.api_ok("PUT", "/titles/show", Some(json!({"dates": {"launch": "2027-01-01"}}))).await.unwrap();
    let before = t.snapshot().await.unwrap();
    let audited_before = t.audit("asset=cam-1").await.unwrap().len();

    // WHEN a registered caller sends malformed, oversized, mistyped, out-of-range and oddly
    // named input, in bodies and in paths
    let big = "x".repeat(70 * 1024);
    let long_id = "a".repeat(3000);
    let register = |id: &str, prefix: &str| json!({"asset_id": id, "title_id": "show", "asset_type": "vfx", "bucket": t.bucket, "prefix": prefix});
    let raw_cases: Vec<(&str, String, Option<String>, i64, &str)> = vec![
        ("POST", "/assets/cam-1/tasks".into(), Some(r#"{"action": "purge","#.into()), 400, "request body"),
        ("POST", "/assets/cam-1/tasks".into(), Some(format!(r#"{{"action": "purge", "request_id": "{big}"}}"#)), 400, "larger than 65536 bytes"),
        ("POST", "/assets/cam-1/tasks".into(), Some("[]".into()), 400, "request body"),
        ("POST", "/assets/cam-1/tasks".into(), Some(String::new()), 400, "request body"),
    ];
    for (method, path, body, status, says) in raw_cases {
        let (got, out) = t.raw_api(CALLER, method, &path, body).await;
        assert_eq!(got, status, "{method} {path}: {out}");
        assert!(out["message"].as_str().unwrap_or_default().contains(says), "{method} {path}: {says:?} not in {out}");
    }
    let cases: Vec<(&str, String, Option<Value>, i64, &str)> = vec![
        ("POST", "/assets/cam-1/tasks".into(), Some(json!({"action": "restore", "days": "seven", "tier": "Bulk", "request_id": "r"})), 400, "days"),
        ("POST", "/assets/cam-1/tasks".into(), Some(json!({"action": "restore", "days": -1, "tier": "Bulk", "request_id": "r"})), 400, "days"),
        ("POST", "/assets/cam-1/tasks".into(), Some(json!({"action": "archive", "storage_class": "GLACIER", "request_id": "r\u{0}"})), 400, "request_id"),
        ("POST", "/assets/cam-1/tasks".into(), Some(json!({"action": "archive", "storage_class": "GLACIER", "request_id": "r", "priority": 1})), 400, "priority"),
        ("PUT", "/titles/show".into(), Some(json!({"dates": {"launch": "1969-12-31"}})), 400, "outside 1970-2200"),
        ("PUT", "/titles/show".into(), Some(json!({"dates": {"launch": "2201-01-01"}})), 400, "outside 1970-2200"),
        ("PUT", "/titles/show".into(), Some(json!({"dates": {"launch": "2027-02-30"}})), 400, "YYYY-MM-DD"),
        ("PUT", "/titles/show".into(), Some(json!({"dates": {"Launch!": "2027-01-01"}})), 400, "date name"),
        ("POST", "/assets/cam-1/accesses".into(), Some(json!({"day": "0001-01-01", "count": 1})), 400, "outside"),
        ("POST", "/dry-run".into(), Some(json!({"at": "9999-12-31"})), 400, "outside"),
        ("POST", "/assets".into(), Some(json!({"asset_id": "x", "title_id": "show", "asset_type": "vfx", "bucket": t.bucket, "prefix": "show/vfx/x/", "created_on": "1900-01-01"})), 400, "outside"),
        ("POST", "/assets".into(), Some(register("x", "show/../cam-1/")), 400, ".."),
        ("POST", "/assets".into(), Some(register("x", "show/\u{1b}[2J/")), 400, "control"),
        ("POST", "/assets".into(), Some(register("cam\u{202e}1", "show/vfx/y/")), 400, "asset_id"),
        ("POST", "/assets".into(), Some(register("ｃａｍ", "show/vfx/y/")), 400, "asset_id"),
        ("POST", "/assets".into(), Some(register("a\u{200b}b", "show/vfx/y/")), 400, "asset_id"),
        ("POST", "/assets".into(), Some(register("..", "show/vfx/y/")), 400, "asset_id"),
        ("PUT", "/titles/sh%C3%B6w".into(), Some(json!({"dates": {}})), 400, "title_id"),
        ("GET", "/assets/cam%E2%80%AE1".into(), None, 400, "asset_id"),
        ("GET", format!("/assets/{long_id}"), None, 400, "asset_id"),
        ("POST", format!("/assets/{long_id}/tasks"), Some(json!({"action": "purge", "request_id": "r"})), 400, "asset_id"),
        ("GET", format!("/titles/{long_id}"), None, 400, "title_id"),
        ("GET", format!("/policies/{long_id}"), None, 400, "policy_id"),
        ("GET", format!("/audit?policy={long_id}"), None, 400, "policy"),
        ("GET", "/tasks/..".into(), None, 400, "task"),
        ("DELETE", "/assets/cam-1".into(), None, 404, "no route"),
    ];
    for (method, path, body, status, says) in &cases {
        let (got, out) = t.api_as(CALLER, method, path, body.clone()).await;
        assert_eq!(got, *status, "{method} {path}: {out}");
        assert!(out["message"].as_str().unwrap_or_default().contains(says), "{method} {path}: {says:?} not in {out}");
    }

    // THEN nothing changed, and each request on cam-1 is in its trail as refused with its reason
    assert_eq!(t.snapshot().await.unwrap(), before, "hostile input changed something");
    let trail = t.audit("asset=cam-1").await.unwrap();
    let new = &trail[..trail.len() - audited_before];
    let on_cam = 4 + 4 + 1 + 1; // the raw cases, the task bodies, the access, the unknown route
    assert_eq!(new.len(), on_cam, "{new:#?}");
    assert!(new.iter().all(|e| e["decision"] == "refused" && e["reason"].as_str().is_some_and(|r| !r.is_empty())), "{new:#?}");
    let statuses: Vec<i64> = new.iter().map(|e| e["status"].as_i64().unwrap()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 400).count(), on_cam - 1, "{statuses:?}");
    // ...and the entries of the oddest paths are whole, printable and bounded
    let mine = t.audit(&format!("caller={CALLER}")).await.unwrap();
    let long = mine.iter().find(|e| e["action"].as_str().is_some_and(|a| a.starts_with("GET /assets/aaaa"))).expect("the long path's entry");
    assert!(long["action"].as_str().unwrap().len() <= 512 && long["subject"].as_str().unwrap().len() <= 512, "{long}");
    t.stop().await;
}


#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_held_asset_keeps_every_version_until_its_hold_is_released() {
    if stopped_by("a_held_asset_keeps_every_version_until_its_hold_is_released", &[Defect::VersionsListedAsStandard]).await.unwrap() {
        return;
    }
    // GIVEN an asset in a versioned bucket whose title is under a legal hold
    let t = TestStack::start_with("hold-versions", Options { versioned: true, ..Default::default() }).await.unwrap();
    asset(&t, "v-1", "show", "editorial", 2).await;
    let originals = t.all_versions("show/editorial/v-1/").await.unwrap();
    expect(&t, CALLER, "PUT", "/titles/show/hold", Some(json!({"reason": "matter 3"})), 201, "").await;

    // WHEN it is archived (allowed: nothing is lost), and the reconciler sweeps it
    let archive = expect(&t, CALLER, "POST", "/assets/v-1/tasks", Some(archive("a")), 202, "").await;
    assert_eq!(t.wait_task(archive["task"]["task_id"].as_str().unwrap(), WAIT).await.unwrap()["status"], "SUCCEEDED");
    t.reconcile(&later(1)).await.unwrap();

    // THEN the STANDARD versions the copies superseded are kept, by the worker and the reconciler
    let held = t.all_versions("show/editorial/v-1/").await.unwrap();
    assert_eq!(held.len(), 4, "{held:?}");
    assert!(originals.iter().all(|v| held.contains(v)), "an original version went under a hold: {held:?}");
    assert!(t.repairs("v-1").await.unwrap().is_empty());

    // WHEN the hold is released, THEN the next sweep deletes them and records it
    expect(&t, CALLER, "DELETE", "/titles/show/hold", None, 200, "").await;
    t.reconcile(&later(2)).await.unwrap();
    let after = t.all_versions("show/editorial/v-1/").await.unwrap();
    assert_eq!(after.len(), 2, "{after:?}");
    assert!(originals.iter().all(|v| !after.contains(v)), "{after:?}");
    let kinds: Vec<String> = t.repairs("v-1").await.unwrap().into_iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, ["deleted_superseded", "deleted_superseded"]);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_api_gateway_refuses_never_reach_the_api_and_change_nothing() {
    // GIVEN the session's API over HTTP, as API Gateway serves it with IAM authorization
    let t = TestStack::start("sigv4").await.unwrap();
    let policy = |id: &str| json!({"policy_id": id, "selector": {}, "anchor": "asset.created", "offset_days": 30, "action": {"action": "archive", "storage_class": "GLACIER"}, "priority": 1, "enabled": true});
    let body = |id: &str| Some(("application/json", policy(id).to_string().into_bytes()));
    let client = t.client_as(CALLER);
    let forbidden = |a: &slm_local::http_api::Answered, says: &str| {
        assert_eq!(a.status, 403, "{}", String::from_utf8_lossy(&a.body));
        assert!(a.json()["message"].as_str().unwrap_or_default().contains(says), "{says:?} in {}", String::from_utf8_lossy(&a.body));
    };

    // WHEN a request comes unsigned, THEN it is refused
    let unsigned = http::Request::builder().method("POST").uri(format!("{}/policies", t.api_url())).header("content-type", "application/json").body(policy("unsigned").to_string().into()).unwrap();
    forbidden(&client.send_signed(unsigned).await.unwrap(), "Forbidden");
    // WHEN it was signed more than five minutes ago
    let old = std::time::SystemTime::now() - Duration::from_secs(6 * 60);
    forbidden(&client.send_at("POST", "/policies", body("expired"), old).await.unwrap(), "Signature expired");
    // WHEN its key was never issued, or its secret is not the key's
    let stranger = client.with_key(("AKIALOCALNOBODY0000".into(), "x".repeat(40)));
    forbidden(&stranger.send("POST", "/policies", body("stranger")).await.unwrap(), "security token included in the request is invalid");
    let forged = client.with_key((t.key_of(CALLER).0, "not-the-secret".repeat(3)));
    forbidden(&forged.send("POST", "/policies", body("forged")).await.unwrap(), "signature we calculated does not match");
    // WHEN its body was changed after signing
    let mut tampered = http::Request::builder().method("POST").uri(format!("{}/policies", t.api_url())).header("content-type", "application/json").body(Vec::new()).unwrap();
    *tampered.body_mut() = policy("signed").to_string().into_bytes();
    client.sign(&mut tampered, std::time::SystemTime::now()).unwrap();
    let tampered = tampered.map(|_| policy("tampered").to_string().into());
    forbidden(&client.send_signed(tampered).await.unwrap(), "signature we calculated does not match");

    // THEN none reached the API: no policy exists and the trail has no entry of them
    let policies = t.api_ok("GET", "/policies", None).await.unwrap();
    assert_eq!(policies["policies"].as_array().map(Vec::len), Some(0), "{policies}");
    let trail = t.audit("caller=arn:aws:iam::123456789012:role/post-production-app").await.unwrap();
    assert!(trail.iter().all(|e| !e["action"].as_str().unwrap_or_default().starts_with("POST /policies")), "{trail:#?}");

    // WHEN a signed request sends its JSON as a binary content type, THEN API Gateway passes it
    // base64-encoded and the API reads it; a payload over 10 MB never reaches the API
    let binary = client.send("POST", "/policies", Some(("application/octet-stream", policy("binary").to_string().into_bytes()))).await.unwrap();
    assert_eq!(binary.status, 201, "{}", String::from_utf8_lossy(&binary.body));
    let huge = client.send("POST", "/policies", Some(("application/json", vec![b' '; 10 * 1024 * 1024 + 1]))).await.unwrap();
    assert_eq!(huge.status, 413, "{}", String::from_utf8_lossy(&huge.body));
    t.stop().await;
}
