//! template.yaml deploys through a real CloudFormation engine with the SAM transform (LocalStack's),
//! the functions left out (slm_local::deploy), and what the engine created is read back through
//! the SDK and compared with the template: tables, queues, queue and topic policies (with the
//! roles they name), the topic, the EventBridge rule, the state machine and its role, and the
//! outputs.

use serde_json::{Value as Json, json};
use serde_yaml_ng::Value;
use slm_e2e::{Defect, stopped_by};
use slm_local::deploy::{DeployedNames, deploy};
use slm_local::provision::Resolve;
use slm_local::template::getatt_target;
use slm_local::Template;
use std::collections::{BTreeMap, BTreeSet};

fn get<'a>(v: &'a Value, k: &str) -> &'a Value {
    v.as_mapping().and_then(|m| m.get(k)).unwrap_or(&Value::Null)
}

/// A policy document as IAM reads it: a list of one is its element.
fn normal(v: &Json) -> Json {
    match v {
        Json::Array(a) if a.len() == 1 => normal(&a[0]),
        Json::Array(a) => Json::Array(a.iter().map(normal).collect()),
        Json::Object(m) => Json::Object(m.iter().filter(|(k, _)| k.as_str() != "Version").map(|(k, v)| (k.clone(), normal(v))).collect()),
        other => other.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_template_deploys_through_cloudformation_and_creates_what_it_declares() {
    let test = "the_template_deploys_through_cloudformation_and_creates_what_it_declares";
    if stopped_by(test, &[Defect::NoSamTransform]).await.unwrap() {
        return;
    }
    // GIVEN template.yaml as `sam deploy` would send it, less the functions and the HTTP API
    let (endpoint, _) = slm_local::session::emulator().await.unwrap();
    let config = slm_local::sdk_config(&endpoint).await;
    let template = Template::load_default().unwrap();
    let text = slm_local::files::TEMPLATE.text().unwrap();
    let account = aws_sdk_sts::Client::new(&config).get_caller_identity().send().await.unwrap().account().unwrap().to_string();
    let name = format!("slm-deploy-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    // AND an account that wants every role bounded: the boundary policy exists beforehand
    let iam = aws_sdk_iam::Client::new(&config);
    let boundary_document = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}"#;
    let boundary = iam.create_policy().policy_name(format!("{name}-boundary")).policy_document(boundary_document).send().await.unwrap();
    let boundary = boundary.policy().and_then(|p| p.arn()).unwrap().to_string();
    let parameters = BTreeMap::from([
        ("MediaBucketNames".to_string(), "studio-media-a,studio-media-b".to_string()),
        ("AdminPrincipal".to_string(), format!("arn:aws:iam::{account}:role/slm-admin")),
        ("TaskTimeoutSeconds".to_string(), "86400".to_string()),
        ("PermissionsBoundary".to_string(), boundary.clone()),
    ]);

    // WHEN the engine creates the stack
    let stack = deploy(&config, &template, &text, &name, &parameters).await.unwrap_or_else(|e| panic!("{e:#}"));
    let names = DeployedNames { template: &template, stack: &stack };

    // THEN every resource of the template but those left out exists, as its declared type (or
    // the one the SAM transform makes of it)
    // (Resources under a condition are those of AlarmEmail and MediaKmsKeyArns, which these
    // parameters leave empty: they must not be created.)
    let doc: Value = serde_yaml_ng::from_str(&text).unwrap();
    let conditional: BTreeSet<String> = get(&doc, "Resources").as_mapping().unwrap().iter().filter(|(_, r)| !get(r, "Condition").is_null()).map(|(k, _)| k.as_str().unwrap().to_string()).collect();
    assert!(conditional.contains("AlarmEmailSubscription"), "{conditional:?}");
    for id in &conditional {
        assert!(!stack.resources.contains_key(id), "{id} was created though its condition is false");
    }
    let declared: BTreeSet<&String> = template.resources.keys().filter(|id| !stack.left_out.contains(*id) && !conditional.contains(*id)).collect();
    for id in &declared {
        let kind = &template.resources[*id].kind;
        let made = stack.resources.get(*id).map(|(k, _)| k.as_str()).unwrap_or_else(|| panic!("{id} was not created: {:?}", stack.resources.keys()));
        let expected = kind.replace("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine");
        assert_eq!(made, expected, "{id}");
    }
    assert!(declared.len() >= 30, "{declared:?}");

    // Tables: key schema, indexes with their keys, billing mode.
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    for (id, r) in template.of_kind("AWS::DynamoDB::Table") {
        let d = dynamodb.describe_table().table_name(names.reference(id).unwrap()).send().await.unwrap();
        let table = d.table().unwrap();
        let keys = |k: &[aws_sdk_dynamodb::types::KeySchemaElement]| -> Vec<(String, String)> { k.iter().map(|k| (k.attribute_name().to_string(), k.key_type().as_str().to_string())).collect() };
        let declared_keys = |v: &Value| -> Vec<(String, String)> {
            v.as_sequence().unwrap().iter().map(|k| (get(k, "AttributeName").as_str().unwrap().to_string(), get(k, "KeyType").as_str().unwrap().to_string())).collect()
        };
        assert_eq!(keys(table.key_schema()), declared_keys(get(&r.properties, "KeySchema")), "{id} key schema");
        let indexes: BTreeMap<String, Vec<(String, String)>> = table.global_secondary_indexes().iter().map(|g| (g.index_name().unwrap().to_string(), keys(g.key_schema()))).collect();
        let declared_indexes: BTreeMap<String, Vec<(String, String)>> = get(&r.properties, "GlobalSecondaryIndexes")
            .as_sequence()
            .map(|s| s.iter().map(|g| (get(g, "IndexName").as_str().unwrap().to_string(), declared_keys(get(g, "KeySchema")))).collect())
            .unwrap_or_default();
        assert_eq!(indexes, declared_indexes, "{id} indexes");
        assert_eq!(table.billing_mode_summary().and_then(|b| b.billing_mode()).map(|m| m.as_str()), get(&r.properties, "BillingMode").as_str(), "{id} billing");
    }

    // Queues: visibility, retention, encryption, and the redrive policy to the declared DLQ.
    let sqs = aws_sdk_sqs::Client::new(&config);
    let mut queue_attributes = BTreeMap::new();
    for (id, r) in template.of_kind("AWS::SQS::Queue") {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let out = sqs.get_queue_attributes().queue_url(names.reference(id).unwrap()).attribute_names(A::All).send().await.unwrap();
        let attrs = out.attributes().unwrap().clone();
        for (property, attribute) in [("VisibilityTimeout", A::VisibilityTimeout), ("MessageRetentionPeriod", A::MessageRetentionPeriod), ("SqsManagedSseEnabled", A::SqsManagedSseEnabled)] {
            let v = get(&r.properties, property);
            if !v.is_null() {
                assert_eq!(attrs.get(&attribute).map(String::as_str), Some(names.resolve_value(v).unwrap().as_str()), "{id} {property}");
            }
        }
        assert_eq!(attrs[&A::QueueArn], names.attribute(id, "Arn").unwrap(), "{id} ARN");
        let redrive = get(&r.properties, "RedrivePolicy");
        if redrive.is_null() {
            assert!(!attrs.contains_key(&A::RedrivePolicy), "{id} has a redrive policy the template does not declare");
        } else {
            let policy: Json = serde_json::from_str(&attrs[&A::RedrivePolicy]).unwrap();
            assert_eq!(policy["deadLetterTargetArn"], names.resolve_value(get(redrive, "deadLetterTargetArn")).unwrap(), "{id} DLQ");
            assert_eq!(policy["maxReceiveCount"].to_string(), names.resolve_value(get(redrive, "maxReceiveCount")).unwrap(), "{id} maxReceiveCount");
        }
        queue_attributes.insert(id.clone(), attrs);
    }

    // Queue policies: each queue carries the document the template declares, the roles it
    // spares being the roles the engine made (and the administrator).
    let mut spared_roles = BTreeSet::new();
    for (id, r) in template.of_kind("AWS::SQS::QueuePolicy") {
        let expected = names.json(get(&r.properties, "PolicyDocument")).unwrap();
        for queue in get(&r.properties, "Queues").as_sequence().unwrap() {
            let queue = slm_local::template::intrinsic(queue).and_then(|(_, a)| a.as_str().map(str::to_string)).unwrap();
            let text = queue_attributes[&queue].get(&aws_sdk_sqs::types::QueueAttributeName::Policy).unwrap_or_else(|| panic!("{queue} has no policy"));
            let deployed: Json = serde_json::from_str(text).unwrap();
            assert_eq!(normal(&deployed["Statement"]), normal(&expected["Statement"]), "{id} on {queue}");
        }
        for s in get(get(&r.properties, "PolicyDocument"), "Statement").as_sequence().unwrap() {
            for arn in get(get(get(s, "Condition"), "ArnNotEquals"), "aws:PrincipalArn").as_sequence().into_iter().flatten() {
                if let Some((_, target)) = slm_local::template::intrinsic(arn).filter(|(f, _)| f == "GetAtt") {
                    spared_roles.insert(getatt_target(target).unwrap());
                }
            }
        }
    }
    for role in &spared_roles {
        assert_eq!(stack.resources[role].0, "AWS::IAM::Role", "{role}");
    }
    assert!(spared_roles.len() >= 5, "{spared_roles:?}");

    // The topics: encrypted as declared (the events with SNS's key; the alarms' not, which
    // CloudWatch could not publish to), each with its policy as declared.
    let sns = aws_sdk_sns::Client::new(&config);
    for (id, r) in template.of_kind("AWS::SNS::Topic") {
        let attrs = sns.get_topic_attributes().topic_arn(names.reference(id).unwrap()).send().await.unwrap();
        let attrs = attrs.attributes().unwrap();
        assert_eq!(attrs.get("KmsMasterKeyId").map(String::as_str), get(&r.properties, "KmsMasterKeyId").as_str(), "{id} key");
        let own = |p: &&slm_local::template::Resource| get(&p.properties, "Topics").as_sequence().is_some_and(|t| t.iter().any(|t| names.resolve_value(t).ok() == names.reference(id).ok()));
        let policies: Vec<_> = template.of_kind("AWS::SNS::TopicPolicy").filter(|(_, p)| own(p)).collect();
        assert_eq!(policies.len(), 1, "{id}: one policy of its own");
        for (pid, p) in policies {
            let expected = names.json(get(&p.properties, "PolicyDocument")).unwrap();
            let deployed: Json = serde_json::from_str(&attrs["Policy"]).unwrap();
            assert_eq!(normal(&deployed["Statement"]), normal(&expected["Statement"]), "{pid}");
        }
    }

    // EventBridge rules: pattern (the media buckets by name), state and targets.
    let events = aws_sdk_eventbridge::Client::new(&config);
    for (id, r) in template.of_kind("AWS::Events::Rule") {
        let rule_name = names.reference(id).unwrap();
        let rule_name = rule_name.rsplit('/').next().unwrap();
        let rule = events.describe_rule().name(rule_name).send().await.unwrap();
        assert_eq!(rule.state().map(|s| s.as_str()), get(&r.properties, "State").as_str(), "{id} state");
        let pattern: Json = serde_json::from_str(rule.event_pattern().unwrap()).unwrap();
        assert_eq!(pattern, names.json(get(&r.properties, "EventPattern")).unwrap(), "{id} pattern");
        assert_eq!(pattern["detail"]["bucket"]["name"], json!(["studio-media-a", "studio-media-b"]), "{id} media buckets");
        let targets = events.list_targets_by_rule().rule(rule_name).send().await.unwrap();
        let arns: Vec<String> = targets.targets().iter().map(|x| x.arn().to_string()).collect();
        let declared: Vec<String> = get(&r.properties, "Targets").as_sequence().unwrap().iter().map(|x| names.resolve_value(get(x, "Arn")).unwrap()).collect();
        assert_eq!(arns, declared, "{id} targets");
    }

    // The state machine runs the ASL file with the template's substitutions (the timeout the
    // parameter gave), with its own role.
    let sfn = aws_sdk_sfn::Client::new(&config);
    for (id, r) in template.of_kind("AWS::Serverless::StateMachine") {
        let d = sfn.describe_state_machine().state_machine_arn(names.reference(id).unwrap()).send().await.unwrap();
        let deployed: Json = serde_json::from_str(d.definition()).unwrap();
        let expected: Json = serde_json::from_str(&slm_local::provision::state_machine_definition(&template, &names, &r.properties).unwrap()).unwrap();
        assert_eq!(deployed, expected, "{id} definition");
        assert!(d.definition().contains("86400"), "{id}: the timeout parameter is not in the definition");
        assert_eq!(d.role_arn(), names.resolve_value(get(&r.properties, "Role")).unwrap(), "{id} role");
        assert_eq!(d.r#type().as_str(), get(&r.properties, "Type").as_str().unwrap(), "{id} type");
    }

    // Every role the stack made carries the boundary the parameter named.
    let mut bounded = 0;
    for (id, _) in template.of_kind("AWS::IAM::Role") {
        let role = iam.get_role().role_name(names.reference(id).unwrap()).send().await.unwrap();
        let got = role.role().and_then(|r| r.permissions_boundary()).and_then(|b| b.permissions_boundary_arn());
        assert_eq!(got, Some(boundary.as_str()), "{id} permissions boundary");
        bounded += 1;
    }
    assert_eq!(bounded, 7, "the stack's roles");

    // The outputs the functions do not need are the stack's, resolved as declared.
    let mut checked = 0;
    for (k, o) in get(&doc, "Outputs").as_mapping().unwrap() {
        let key = k.as_str().unwrap();
        if let Some(value) = stack.outputs.get(key) {
            assert_eq!(value, &names.resolve_value(get(o, "Value")).unwrap(), "output {key}");
            checked += 1;
        }
    }
    assert_eq!(checked + 1, get(&doc, "Outputs").as_mapping().unwrap().len(), "only ApiUrl is left out: {:?}", stack.outputs.keys());
}
