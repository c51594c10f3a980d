//! The local stack agrees with template.yaml: what exists on the emulator is read back through
//! the SDK and compared with the template, resource by resource.

use serde_yaml_ng::Value;
use slm_e2e::TestStack;
use slm_local::Template;
use slm_local::provision::Resolve;
use slm_local::template::intrinsic;
use std::collections::BTreeSet;

fn get<'a>(v: &'a Value, k: &str) -> &'a Value {
    v.as_mapping().and_then(|m| m.get(k)).unwrap_or(&Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_resource_of_the_template_exists_locally_as_declared() {
    let t = TestStack::start("agreement").await.unwrap();
    let template = Template::load_default().unwrap();
    let names = t.stack.resolver(&template);

    // Tables: key schema, indexes, billing mode, point-in-time recovery.
    let tables: Vec<_> = template.of_kind("AWS::DynamoDB::Table").collect();
    assert_eq!(tables.len(), t.stack.tables.len());
    for (id, r) in tables {
        let name = t.stack.table(id).unwrap();
        let d = t.clients.dynamodb.describe_table().table_name(name).send().await.unwrap();
        let table = d.table().unwrap();
        let keys: Vec<(String, String)> = table.key_schema().iter().map(|k| (k.attribute_name().to_string(), k.key_type().as_str().to_string())).collect();
        let declared: Vec<(String, String)> = get(&r.properties, "KeySchema")
            .as_sequence()
            .unwrap()
            .iter()
            .map(|k| (get(k, "AttributeName").as_str().unwrap().to_string(), get(k, "KeyType").as_str().unwrap().to_string()))
            .collect();
        assert_eq!(keys, declared, "{id} key schema");
        let indexes: BTreeSet<String> = table.global_secondary_indexes().iter().map(|g| g.index_name().unwrap().to_string()).collect();
        let declared: BTreeSet<String> = get(&r.properties, "GlobalSecondaryIndexes")
            .as_sequence()
            .map(|s| s.iter().map(|g| get(g, "IndexName").as_str().unwrap().to_string()).collect())
            .unwrap_or_default();
        assert_eq!(indexes, declared, "{id} indexes");
        assert_eq!(table.billing_mode_summary().and_then(|b| b.billing_mode()).map(|m| m.as_str()), Some("PAY_PER_REQUEST"), "{id} billing");
        let backups = t.clients.dynamodb.describe_continuous_backups().table_name(name).send().await.unwrap();
        let pitr = backups.continuous_backups_description().and_then(|c| c.point_in_time_recovery_description()).and_then(|p| p.point_in_time_recovery_status());
        assert_eq!(pitr.map(|s| s.as_str()), Some("ENABLED"), "{id} point-in-time recovery");
    }

    // Queues: visibility timeout and the redrive policy to the declared DLQ.
    for (id, r) in template.of_kind("AWS::SQS::Queue") {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let q = t.stack.queue(id).unwrap();
        let out = t.clients.sqs.get_queue_attributes().queue_url(&q.url).attribute_names(A::All).send().await.unwrap();
        let attrs = out.attributes().unwrap();
        let visibility = get(&r.properties, "VisibilityTimeout");
        if !visibility.is_null() {
            assert_eq!(attrs[&A::VisibilityTimeout], names.resolve_value(visibility).unwrap(), "{id} visibility");
        }
        let redrive = get(&r.properties, "RedrivePolicy");
        if redrive.is_null() {
            assert!(!attrs.contains_key(&A::RedrivePolicy), "{id} has a redrive policy the template does not declare");
            continue;
        }
        let policy: serde_json::Value = serde_json::from_str(&attrs[&A::RedrivePolicy]).unwrap();
        let dlq = names.resolve_value(get(redrive, "deadLetterTargetArn")).unwrap();
        assert_eq!(policy["deadLetterTargetArn"], dlq, "{id} DLQ");
        assert_eq!(policy["maxReceiveCount"].to_string(), names.resolve_value(get(redrive, "maxReceiveCount")).unwrap(), "{id} maxReceiveCount");
    }

    // Topic, and the observer subscribed to it.
    for (id, _) in template.of_kind("AWS::SNS::Topic") {
        let arn = &t.stack.topics[id];
        let subs = t.clients.sns().list_subscriptions_by_topic().topic_arn(arn).send().await.unwrap();
        assert!(subs.subscriptions().iter().any(|s| s.endpoint() == Some(t.stack.observer.arn.as_str())), "{id} observer subscription");
    }

    // EventBridge rules: their pattern (the media buckets by name), state and targets.
    let events = aws_sdk_eventbridge::Client::new(&slm_local::sdk_config(&t.stack.endpoint).await);
    for (id, r) in template.of_kind("AWS::Events::Rule") {
        let rule = events.describe_rule().name(format!("{}-{id}", t.stack.prefix)).send().await.unwrap();
        assert_eq!(rule.arn(), Some(t.stack.rules[id].as_str()), "{id} arn");
        assert_eq!(rule.state().map(|s| s.as_str()), get(&r.properties, "State").as_str(), "{id} state");
        let pattern: serde_json::Value = serde_json::from_str(rule.event_pattern().unwrap()).unwrap();
        let declared = |key: &str| serde_yaml_ng::from_value::<serde_json::Value>(get(get(&r.properties, "EventPattern"), key).clone()).unwrap();
        for key in ["source", "detail-type", "$or"] {
            assert_eq!(pattern[key], declared(key), "{id} {key}");
        }
        assert_eq!(pattern["detail"]["bucket"]["name"], serde_json::json!([t.bucket]), "{id} media buckets");
        let targets = events.list_targets_by_rule().rule(format!("{}-{id}", t.stack.prefix)).send().await.unwrap();
        let arns: Vec<String> = targets.targets().iter().map(|x| x.arn().to_string()).collect();
        let declared: Vec<String> = get(&r.properties, "Targets").as_sequence().unwrap().iter().map(|x| names.resolve_value(get(x, "Arn")).unwrap()).collect();
        assert_eq!(arns, declared, "{id} targets");
    }

    // The state machine runs the ASL file itself, with the template's substitutions.
    for (id, r) in template.of_kind("AWS::Serverless::StateMachine") {
        let d = t.clients.sfn.describe_state_machine().state_machine_arn(&t.stack.state_machines[id]).send().await.unwrap();
        let deployed: serde_json::Value = serde_json::from_str(d.definition()).unwrap();
        let expected: serde_json::Value = serde_json::from_str(&slm_local::provision::state_machine_definition(&template, &names, &r.properties).unwrap()).unwrap();
        assert_eq!(deployed, expected, "{id} definition");
        let raw = template.read_relative(get(&r.properties, "DefinitionUri").as_str().unwrap()).unwrap();
        for (k, _) in get(&r.properties, "DefinitionSubstitutions").as_mapping().unwrap() {
            assert!(raw.contains(&format!("${{{}}}", k.as_str().unwrap())), "substitution {k:?} is not used in the ASL file");
        }
    }

    // Event sources: each SQS event of each function is polled with its batch size; every
    // function's environment resolves to the local names.
    for (id, r) in template.of_kind("AWS::Serverless::Function") {
        let f = t.stack.functions.iter().find(|f| &f.logical_id == id).unwrap();
        for (_, event) in get(&r.properties, "Events").as_mapping().unwrap() {
            let props = get(event, "Properties");
            if get(event, "Type").as_str() != Some("SQS") {
                continue;
            }
            let (_, target) = intrinsic(get(props, "Queue")).unwrap();
            let queue = slm_local::template::getatt_target(target).unwrap();
            let source = f.sqs.iter().find(|s| s.queue == queue).unwrap_or_else(|| panic!("{id}: no local source for {queue}"));
            assert_eq!(source.batch_size as u64, get(props, "BatchSize").as_u64().unwrap(), "{id} batch size");
            assert!(source.report_batch_item_failures, "{id} reports batch item failures");
            assert_eq!(source.queue_url, t.stack.queue(&queue).unwrap().url);
        }
        assert_eq!(f.env["TASKS_TABLE"], t.stack.tables["TasksTable"], "{id} environment");
    }
    drop(names);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runner_sends_scheduled_events_with_the_chosen_time() {
    let t = TestStack::start("schedule").await.unwrap();
    let when = chrono::DateTime::parse_from_rfc3339("2027-06-01T02:00:00Z").unwrap().with_timezone(&chrono::Utc);
    let out = t.runner().send_schedule("slm-evaluator", when).await.unwrap();
    assert_eq!(out["evaluated_at"], "2027-06-01T02:00:00Z");
    assert_eq!(out["day"], "2027-06-01");
    assert!(t.runner().send_schedule("slm-worker", when).await.is_err(), "the worker has no schedule in the template");
    t.stop().await;
}
