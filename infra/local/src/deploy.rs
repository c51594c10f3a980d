//! template.yaml deployed through a real CloudFormation engine, as `sam deploy` sends it: the
//! template as JSON with its SAM transform, the state machine's definition uploaded to S3 the
//! way `sam package` does. The functions are left out (and the HTTP API, and what refers to
//! them): LocalStack runs Lambda only with Docker, and API Gateway v2 is not in its free
//! runtime. Everything else is created by the engine itself, so a reference it cannot resolve,
//! a property it refuses or a substitution of the wrong type fails here, not on a studio's
//! first `sam deploy`. [`DeployedNames`] reads the template against what was created.

use crate::provision::{REGION, Resolve};
use crate::template::{Template, getatt_target, intrinsic};
use anyhow::{Context, Result, anyhow, bail};
use aws_sdk_cloudformation::types::{Capability, Parameter, StackStatus};
use serde_json::{Map, Value as Json, json};
use serde_yaml_ng::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The resource kinds a deployment without Lambda and API Gateway v2 leaves out.
pub const LEFT_OUT: [&str; 2] = ["AWS::Serverless::Function", "AWS::Serverless::HttpApi"];

/// A YAML value of the template in CloudFormation's JSON form (`!GetAtt A.B` is
/// `{"Fn::GetAtt": ["A", "B"]}`, `!Ref X` is `{"Ref": "X"}`, `!F x` is `{"Fn::F": x}`).
pub fn to_json(v: &Value) -> Result<Json> {
    Ok(match v {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Number(n) => serde_json::to_value(n)?,
        Value::String(s) => Json::String(s.clone()),
        Value::Sequence(items) => Json::Array(items.iter().map(to_json).collect::<Result<_>>()?),
        Value::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let key = k.as_str().ok_or_else(|| anyhow!("a key that is not text: {k:?}"))?;
                out.insert(key.to_string(), to_json(v)?);
            }
            Json::Object(out)
        }
        Value::Tagged(t) => {
            let name = t.tag.to_string().trim_start_matches('!').to_string();
            match name.as_str() {
                "Ref" => json!({"Ref": to_json(&t.value)?}),
                "GetAtt" => {
                    let text = t.value.as_str().ok_or_else(|| anyhow!("!GetAtt needs X.Attribute"))?;
                    let (target, attribute) = text.split_once('.').ok_or_else(|| anyhow!("!GetAtt {text}: expected X.Attribute"))?;
                    json!({"Fn::GetAtt": [target, attribute]})
                }
                other => json!({ format!("Fn::{other}"): to_json(&t.value)? }),
            }
        }
    })
}

/// The logical ids a JSON value refers to (`Ref`, `Fn::GetAtt`, `${X}` and `${X.Attr}` in a
/// `Fn::Sub`).
fn references(v: &Json, out: &mut BTreeSet<String>) {
    match v {
        Json::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("Ref", Json::String(s)) => {
                        out.insert(s.clone());
                    }
                    ("Fn::GetAtt", Json::Array(a)) => {
                        out.extend(a.first().and_then(Json::as_str).map(str::to_string));
                    }
                    ("Fn::Sub", _) => {
                        let text = v.as_str().or_else(|| v.get(0).and_then(Json::as_str)).unwrap_or_default();
                        let mut rest = text;
                        while let Some(start) = rest.find("${") {
                            let Some(end) = rest[start..].find('}') else { break };
                            let name = &rest[start + 2..start + end];
                            out.insert(name.split('.').next().unwrap_or_default().to_string());
                            rest = &rest[start + end + 1..];
                        }
                        references(v, out);
                    }
                    _ => references(v, out),
                }
            }
        }
        Json::Array(a) => a.iter().for_each(|v| references(v, out)),
        _ => {}
    }
}

/// A packaged template: the document, the logical ids left out, the definitions to upload.
pub type Packaged = (Json, BTreeSet<String>, Vec<(String, String)>);

/// The template as the engine receives it, without [`LEFT_OUT`] resources and whatever refers
/// to them (resources and outputs, transitively), and its state machines' definitions at
/// `bucket` (`DefinitionUri: {Bucket, Key}`, keyed by logical id). Returns the document, the
/// ids left out, and the definitions to upload (key, text).
pub fn package(t: &Template, text: &str, bucket: &str) -> Result<Packaged> {
    let doc: Value = serde_yaml_ng::from_str(text).context("template.yaml")?;
    let mut doc = to_json(&doc)?;
    let resources = doc.get_mut("Resources").and_then(Json::as_object_mut).ok_or_else(|| anyhow!("no Resources"))?;
    let mut out: BTreeSet<String> = resources.iter().filter(|(_, r)| r["Type"].as_str().is_some_and(|k| LEFT_OUT.contains(&k))).map(|(id, _)| id.clone()).collect();
    loop {
        let more: Vec<String> = resources
            .iter()
            .filter(|(id, r)| {
                let mut refs = BTreeSet::new();
                references(r, &mut refs);
                !out.contains(*id) && refs.iter().any(|x| out.contains(x))
            })
            .map(|(id, _)| id.clone())
            .collect();
        if more.is_empty() {
            break;
        }
        out.extend(more);
    }
    resources.retain(|id, _| !out.contains(id));
    let mut definitions = Vec::new();
    for (id, r) in resources.iter_mut() {
        if r["Type"] != "AWS::Serverless::StateMachine" {
            continue;
        }
        let uri = r["Properties"]["DefinitionUri"].as_str().ok_or_else(|| anyhow!("{id}: DefinitionUri is not a path"))?.to_string();
        let key = format!("{id}.asl.json");
        definitions.push((key.clone(), t.read_relative(&uri)?));
        r["Properties"]["DefinitionUri"] = json!({"Bucket": bucket, "Key": key});
    }
    if let Some(outputs) = doc.get_mut("Outputs").and_then(Json::as_object_mut) {
        outputs.retain(|_, o| {
            let mut refs = BTreeSet::new();
            references(o, &mut refs);
            !refs.iter().any(|x| out.contains(x))
        });
    }
    if let Some(globals) = doc.get_mut("Globals").and_then(Json::as_object_mut) {
        globals.remove("Function");
        if globals.is_empty() {
            doc.as_object_mut().expect("a template is an object").remove("Globals");
        }
    }
    Ok((doc, out, definitions))
}

/// A stack the engine created: its resources' physical ids and types by logical id.
#[derive(Debug, Clone)]
pub struct Deployed {
    pub stack_name: String,
    pub account: String,
    pub parameters: BTreeMap<String, String>,
    pub resources: BTreeMap<String, (String, String)>,
    pub outputs: BTreeMap<String, String>,
    pub left_out: BTreeSet<String>,
}

/// Packages template.yaml ([`package`]), uploads the definitions to a bucket of its own, creates
/// stack `name` with `parameters` and waits for it: the stack, or every failure the engine
/// reported.
pub async fn deploy(config: &aws_config::SdkConfig, t: &Template, text: &str, name: &str, parameters: &BTreeMap<String, String>) -> Result<Deployed> {
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(config).force_path_style(true).build());
    let cfn = aws_sdk_cloudformation::Client::new(config);
    let sts = aws_sdk_sts::Client::new(config);
    let account = sts.get_caller_identity().send().await.context("sts GetCallerIdentity")?.account().unwrap_or_default().to_string();
    let bucket = format!("{name}-artifacts");
    s3.create_bucket().bucket(&bucket).send().await.with_context(|| format!("create bucket {bucket}"))?;
    let (doc, left_out, definitions) = package(t, text, &bucket)?;
    for (key, body) in definitions {
        s3.put_object().bucket(&bucket).key(&key).body(body.into_bytes().into()).send().await.with_context(|| format!("upload {key}"))?;
    }
    let mut create = cfn
        .create_stack()
        .stack_name(name)
        .template_body(serde_json::to_string(&doc)?)
        .capabilities(Capability::CapabilityIam)
        .capabilities(Capability::CapabilityAutoExpand);
    for (k, v) in parameters {
        create = create.parameters(Parameter::builder().parameter_key(k).parameter_value(v).build());
    }
    create.send().await.with_context(|| format!("CreateStack {name}"))?;
    let started = std::time::Instant::now();
    let stack = loop {
        let d = cfn.describe_stacks().stack_name(name).send().await.context("DescribeStacks")?;
        let stack = d.stacks().first().cloned().ok_or_else(|| anyhow!("stack {name} is gone"))?;
        match stack.stack_status() {
            Some(StackStatus::CreateComplete) => break stack,
            Some(StackStatus::CreateInProgress) if started.elapsed() < Duration::from_secs(300) => tokio::time::sleep(Duration::from_millis(500)).await,
            status => {
                let events = cfn.describe_stack_events().stack_name(name).send().await.context("DescribeStackEvents")?;
                let failures: Vec<String> = events
                    .stack_events()
                    .iter()
                    .filter(|e| e.resource_status().is_some_and(|s| s.as_str().ends_with("FAILED")))
                    .map(|e| format!("{}: {}", e.logical_resource_id().unwrap_or_default(), e.resource_status_reason().unwrap_or("(no reason)")))
                    .collect();
                bail!("stack {name} ended {status:?} ({}): {}", stack.stack_status_reason().unwrap_or_default(), failures.join("; "));
            }
        }
    };
    let listed = cfn.describe_stack_resources().stack_name(name).send().await.context("DescribeStackResources")?;
    let resources = listed
        .stack_resources()
        .iter()
        .map(|r| (r.logical_resource_id().unwrap_or_default().to_string(), (r.resource_type().unwrap_or_default().to_string(), r.physical_resource_id().unwrap_or_default().to_string())))
        .collect();
    let outputs = stack.outputs().iter().map(|o| (o.output_key().unwrap_or_default().to_string(), o.output_value().unwrap_or_default().to_string())).collect();
    Ok(Deployed { stack_name: name.to_string(), account, parameters: parameters.clone(), resources, outputs, left_out })
}

/// Resolves the template's values to what the engine created: `!Ref` and `!GetAtt` of its
/// resources (physical ids, and the ARNs and names made from them), its parameters (given, or
/// their defaults) and the pseudo parameters.
pub struct DeployedNames<'a> {
    pub template: &'a Template,
    pub stack: &'a Deployed,
}

impl DeployedNames<'_> {
    fn physical(&self, id: &str) -> Result<&(String, String)> {
        self.stack.resources.get(id).ok_or_else(|| anyhow!("{id} was not created"))
    }

    pub fn reference(&self, name: &str) -> Result<String> {
        match name {
            "AWS::Region" => return Ok(REGION.into()),
            "AWS::AccountId" => return Ok(self.stack.account.clone()),
            "AWS::Partition" => return Ok("aws".into()),
            "AWS::URLSuffix" => return Ok("amazonaws.com".into()),
            "AWS::StackName" => return Ok(self.stack.stack_name.clone()),
            _ => {}
        }
        if let Some(v) = self.stack.parameters.get(name) {
            return Ok(v.clone());
        }
        if let Some(default) = self.template.parameters.get(name) {
            return Ok(match default {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                other => bail!("parameter {name}: default {other:?}"),
            });
        }
        Ok(self.physical(name)?.1.clone())
    }

    pub fn attribute(&self, id: &str, attribute: &str) -> Result<String> {
        let (kind, physical) = self.physical(id)?;
        let (account, region) = (&self.stack.account, REGION);
        let last = |s: &str| s.rsplit(['/', ':']).next().unwrap_or_default().to_string();
        Ok(match (kind.as_str(), attribute) {
            ("AWS::DynamoDB::Table", "Arn") => format!("arn:aws:dynamodb:{region}:{account}:table/{physical}"),
            ("AWS::SQS::Queue", "Arn") => format!("arn:aws:sqs:{region}:{account}:{}", last(physical)),
            ("AWS::IAM::Role", "Arn") => format!("arn:aws:iam::{account}:role/{physical}"),
            ("AWS::Events::Rule", "Arn") if physical.starts_with("arn:") => physical.clone(),
            ("AWS::Events::Rule", "Arn") => format!("arn:aws:events:{region}:{account}:rule/{physical}"),
            ("AWS::StepFunctions::StateMachine", "Name") => last(physical),
            (kind, attribute) => bail!("{id}.{attribute} of a {kind} is not read here"),
        })
    }

    /// `Fn::Sub` text: `${X}`, `${X.Attr}` and pseudo parameters.
    fn substitute(&self, text: &str, vars: Option<&Value>) -> Result<String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').ok_or_else(|| anyhow!("unclosed ${{ in {text:?}"))? + start;
            let name = &rest[start + 2..end];
            let var = vars.and_then(|v| v.as_mapping()).and_then(|m| m.get(name));
            out.push_str(&match (var, name.split_once('.')) {
                (Some(v), _) => self.resolve_value(v)?,
                (None, Some((id, attribute))) => self.attribute(id, attribute)?,
                (None, None) => self.reference(name)?,
            });
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

impl DeployedNames<'_> {
    /// A property as the engine should have made it: intrinsics resolved (`!Split` and a list
    /// parameter to lists), `AWS::NoValue` dropped.
    pub fn json(&self, v: &Value) -> Result<Json> {
        if let Some((f, arg)) = intrinsic(v) {
            let name = arg.as_str().unwrap_or_default();
            return Ok(match f.as_str() {
                "Ref" if self.template.list_parameters.contains(name) => Json::Array(self.reference(name)?.split(',').map(|s| json!(s.trim())).collect()),
                "Split" => {
                    let (d, text) = match arg.as_sequence().map(Vec::as_slice) {
                        Some([d, text]) => (d.as_str().unwrap_or_default(), self.resolve_value(text)?),
                        _ => bail!("!Split {arg:?}"),
                    };
                    Json::Array(text.split(d).map(|s| json!(s)).collect())
                }
                _ => Json::String(self.resolve_value(v)?),
            });
        }
        Ok(match v {
            Value::Sequence(items) => Json::Array(
                items.iter().filter(|i| !matches!(intrinsic(i), Some((f, a)) if f == "Ref" && a.as_str() == Some("AWS::NoValue"))).map(|i| self.json(i)).collect::<Result<_>>()?,
            ),
            Value::Mapping(m) => {
                let mut out = Map::new();
                for (k, v) in m {
                    out.insert(k.as_str().unwrap_or_default().to_string(), self.json(v)?);
                }
                Json::Object(out)
            }
            other => to_json(other)?,
        })
    }
}

impl Resolve for DeployedNames<'_> {
    fn resolve_value(&self, v: &Value) -> Result<String> {
        let Some((f, arg)) = intrinsic(v) else {
            return match v {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                Value::Bool(b) => Ok(b.to_string()),
                other => bail!("cannot use {other:?} as a value"),
            };
        };
        match f.as_str() {
            "Ref" => self.reference(arg.as_str().unwrap_or_default()),
            "GetAtt" => {
                let text = arg.as_str().unwrap_or_default();
                let attribute = text.split_once('.').map(|(_, a)| a).unwrap_or_default();
                self.attribute(&getatt_target(arg).unwrap_or_default(), attribute)
            }
            "Sub" => match arg {
                Value::String(s) => self.substitute(s, None),
                Value::Sequence(seq) => self.substitute(seq.first().and_then(Value::as_str).unwrap_or_default(), seq.get(1)),
                _ => bail!("!Sub {arg:?}"),
            },
            "Join" => {
                let (delimiter, items) = match arg.as_sequence().map(Vec::as_slice) {
                    Some([d, Value::Sequence(items)]) => (d.as_str().unwrap_or_default(), items),
                    Some([d, list]) => return Ok(self.resolve_value(list)?.split(',').collect::<Vec<_>>().join(d.as_str().unwrap_or_default())),
                    _ => bail!("!Join {arg:?}"),
                };
                Ok(items.iter().map(|i| self.resolve_value(i)).collect::<Result<Vec<_>>>()?.join(delimiter))
            }
            other => bail!("!{other} is not read here"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_package_leaves_out_the_functions_and_what_refers_to_them_and_uploads_the_definitions() {
        let t = Template::load_default().unwrap();
        let (doc, out, definitions) = package(&t, &crate::files::TEMPLATE.text().unwrap(), "artifacts").unwrap();
        let functions: BTreeSet<String> = t.resources.iter().filter(|(_, r)| LEFT_OUT.contains(&r.kind.as_str())).map(|(id, _)| id.clone()).collect();
        assert!(functions.len() >= 7 && functions.is_subset(&out), "{out:?}");
        // Only what needs them goes with them, their alarms: the roles, queues, log groups and
        // the dashboard stay.
        let alarms: BTreeSet<String> = functions.iter().filter(|f| f.ends_with("Function")).map(|f| format!("{f}Alarm")).collect();
        assert_eq!(out, functions.union(&alarms).cloned().collect(), "left out beyond the functions, the API and the functions' alarms");
        let resources = doc["Resources"].as_object().unwrap();
        assert!(resources.contains_key("Dashboard") && resources.contains_key("WorkerLogGroup") && resources.contains_key("WorkDLQAlarm"));
        assert!(resources.contains_key("WorkerFunctionRole") && resources.contains_key("ControlQueuePolicy"));
        assert!(doc["Outputs"].get("ApiUrl").is_none() && doc["Outputs"].get("StateMachineArn").is_some());
        assert!(doc.get("Globals").is_none());
        assert_eq!(doc["Transform"], "AWS::Serverless-2016-10-31");
        assert_eq!(resources["TaskStateMachine"]["Properties"]["DefinitionUri"], json!({"Bucket": "artifacts", "Key": "TaskStateMachine.asl.json"}));
        assert_eq!(definitions.len(), 1);
        assert!(definitions[0].1.contains("${TaskTimeoutSeconds}"));
        assert_eq!(resources["ControlQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]["Condition"]["ArnNotEquals"]["aws:PrincipalArn"][0], json!({"Fn::GetAtt": ["TaskStateMachineRole", "Arn"]}));
    }
}
