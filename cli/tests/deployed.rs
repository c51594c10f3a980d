//! The CLI against a stack as a deployed one is driven: `--api-url` and the AWS credential chain
//! (here the environment's keys), over HTTP, signed, to a local stack serving its API as API
//! Gateway would. The sequence of the README's "From zero to the first archive": the
//! administrator registers an application, which registers an asset, archives it and watches
//! the task; refusals and unknown ids end with their exit codes.

use slm_local::session::{ADMIN, Session};
use std::process::{Command, Output};

const APP: &str = "arn:aws:iam::123456789012:role/post-production";

/// Runs the `slm` binary against the session's API with `key`'s credentials.
async fn slm(s: &Session, key: &(String, String), args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_slm"));
    command
        .args(["--api-url", s.api_url(), "--region", "us-east-1", "--output", "json"])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", &key.0)
        .env("AWS_SECRET_ACCESS_KEY", &key.1)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("SLM_AS");
    tokio::task::spawn_blocking(move || command.output().expect("the slm binary runs")).await.unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "exit {:?}: {}", out.status.code(), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_application_registered_by_the_administrator_archives_an_asset_through_the_cli() {
    let s = Session::start("cli-deployed").await.unwrap();
    let (admin, app) = (s.key_of(ADMIN), s.key_of(APP));

    // The administrator registers the application with its grants
    let put = json(&slm(&s, &admin, &["app", "put", "--principal", APP, "--name", "post-production", "--grant", "register,archive,restore"]).await);
    assert_eq!(put["application"]["principal"], APP, "{put}");

    // The application registers an asset of the media bucket, archives it and watches the task
    s.put_objects("show/camera_original/cam-1/", 4, 64).await.unwrap();
    let register = ["asset", "register", "--bucket", &s.bucket, "--asset-id", "cam-1", "--title-id", "show", "--asset-type", "camera_original", "--prefix", "show/camera_original/cam-1/"];
    let asset = json(&slm(&s, &app, &register).await);
    assert_eq!(asset["file_count"], 4, "{asset}");
    let task = json(&slm(&s, &app, &["task", "request", "--asset-id", "cam-1", "--action", "archive", "--class", "GLACIER"]).await);
    let task_id = task["task"]["task_id"].as_str().unwrap().to_string();
    let watched = slm(&s, &app, &["task", "watch", &task_id]).await;
    assert!(watched.status.success(), "{}", String::from_utf8_lossy(&watched.stderr));
    assert!(String::from_utf8_lossy(&watched.stdout).contains("SUCCEEDED"), "{}", String::from_utf8_lossy(&watched.stdout));

    // A task whose execution ended without recording it (here a copy of the task, still
    // RUNNING, whose execution finds it already claimed and ends at once): the watch says so
    // and exits 6 rather than waiting for a status that never comes
    let tasks_table = &s.stack.tables["TasksTable"];
    let key = aws_sdk_dynamodb::types::AttributeValue::S(task_id.clone());
    let mut item = s.clients.dynamodb.get_item().table_name(tasks_table).key("task_id", key).send().await.unwrap().item.unwrap();
    let stuck = format!("t-{}", uuid::Uuid::new_v4().simple());
    item.insert("task_id".into(), aws_sdk_dynamodb::types::AttributeValue::S(stuck.clone()));
    item.insert("task_status".into(), aws_sdk_dynamodb::types::AttributeValue::S("RUNNING".into()));
    item.remove("execution_name");
    s.clients.dynamodb.put_item().table_name(tasks_table).set_item(Some(item)).send().await.unwrap();
    let input = serde_json::json!({"task_id": stuck, "asset_id": "cam-1", "action": "archive", "asset_type": "camera_original", "title_id": "show"});
    s.clients.sfn.start_execution().state_machine_arn(&s.stack.state_machines["TaskStateMachine"]).name(&stuck).input(input.to_string()).send().await.unwrap();
    let watched = slm(&s, &app, &["task", "watch", &stuck]).await;
    let stderr = String::from_utf8_lossy(&watched.stderr);
    assert_eq!(watched.status.code(), Some(6), "{stderr}");
    assert!(stderr.contains("RUNNING in the registry, its execution SUCCEEDED"), "{stderr}");

    // Beyond its grants, an unknown id, a wrong secret and a bucket left unnamed each end with
    // their exit code and say why
    let cases: [(&[&str], i32, &str); 3] = [
        (&["task", "request", "--asset-id", "cam-1", "--action", "purge"], 3, "no purge grant"),
        (&["task", "show", "t-00000000000000000000000000000000"], 4, "not found"),
        (&["app", "list"], 3, "no admin grant"),
    ];
    for (args, code, says) in cases {
        let out = slm(&s, &app, args).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    let forged = slm(&s, &(app.0.clone(), "not-the-secret".repeat(3)), &["asset", "show", "cam-1"]).await;
    assert_eq!(forged.status.code(), Some(3), "{}", String::from_utf8_lossy(&forged.stderr));
    assert!(String::from_utf8_lossy(&forged.stderr).contains("signature we calculated does not match"));
    let as_other = slm(&s, &app, &["--as", APP, "asset", "show", "cam-1"]).await;
    assert_eq!(as_other.status.code(), Some(1), "--as names a local key; a deployed stack's calls are signed with the AWS credentials");
    assert!(String::from_utf8_lossy(&as_other.stderr).contains("--as"), "{}", String::from_utf8_lossy(&as_other.stderr));
    let unnamed = slm(&s, &app, &["asset", "register", "--asset-id", "x", "--title-id", "show", "--asset-type", "camera_original", "--prefix", "show/x/"]).await;
    assert_eq!(unnamed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unnamed.stderr).contains("--bucket"), "{}", String::from_utf8_lossy(&unnamed.stderr));
    s.stop().await;
}
