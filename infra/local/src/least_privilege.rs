//! Least privilege, checked over template.yaml (part of the test command):
//!
//! - each function and state machine acts with a role of its own, declared in the template
//!   (never one SAM makes from `Policies`), that only its service may assume and that carries no
//!   managed policy but logs and traces on functions;
//! - every role's permissions boundary is the `PermissionsBoundary` parameter's policy, where one
//!   is given (`!If [HasPermissionsBoundary, ...]`);
//! - no IAM action with a wildcard (`*`, `s3:*`, `s3:Get*`);
//! - every resource a grant names is the stack's own: a resource of the template (`!Ref`,
//!   `!GetAtt X.Arn`, `${X.Arn}` in a `!Sub`), its indexes, the managed media buckets and their
//!   objects (from the `MediaBucketNames` parameter), or their KMS keys (`!Ref MediaKmsKeyArns`);
//!   no literal ARN and no `*`;
//! - no KMS grant names an alias: IAM matches a KMS action's resource against the key's ARN, so
//!   a grant on `alias/...` grants nothing;
//! - every queue that the stack's code sends to and the events topic have a resource policy that
//!   admits only the stack's own senders: a Deny for every principal but the roles the stack
//!   makes for its functions and state machine (and, on queues, the administrator, who redrives
//!   dead letters).

use crate::template::{Template, get, intrinsic, list, statement};
use serde_yaml_ng::Value;

/// The IAM statements the template grants, with where they are: the inline policies of its roles.
fn grants(t: &Template) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    for (id, r) in &t.resources {
        match r.kind.as_str() {
            "AWS::IAM::Role" => {
                for (name, statements) in t.role_policies(id) {
                    match statements {
                        Some(statements) => out.extend(list(Some(statements)).into_iter().map(|s| (format!("{id} policy {name}"), statement(s).unwrap_or(s)))),
                        None => out.push((format!("{id} policy {name}"), &r.properties)),
                    }
                }
            }
            "AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy" => out.push((format!("{id} (an IAM resource: declare grants in the role's Policies)"), &r.properties)),
            _ => {}
        }
    }
    out
}

/// The AWS managed policies a function's role may carry: logs and traces, as SAM attaches them to
/// the roles it makes. Nothing else is granted outside the template's view.
pub const MANAGED_POLICIES: [&str; 2] = [
    "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:${AWS::Partition}:iam::aws:policy/AWSXRayDaemonWriteAccess",
];

/// What is wrong with the stack's principals and their roles: each function and state machine
/// acts with a role of the template that no other uses, grants nothing on the resource itself
/// (SAM's `Policies` would make a role the queue policies cannot name before the transform),
/// the role trusts only the principal's service, and carries no managed policy but
/// [`MANAGED_POLICIES`] (on functions).
fn role_violations(t: &Template) -> Vec<String> {
    let mut out = Vec::new();
    let mut used: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for (id, role) in t.principals() {
        let r = &t.resources[id];
        if get(&r.properties, "Policies").is_some() {
            out.push(format!("{id}: Policies on the resource (declare them on its role)"));
        }
        let Some(role) = role else {
            out.push(format!("{id}: no Role: !GetAtt <Role>.Arn naming an AWS::IAM::Role of the template"));
            continue;
        };
        used.entry(role).or_default().push(id);
        let function = r.kind == "AWS::Serverless::Function";
        let service = if function { "lambda.amazonaws.com" } else { "states.amazonaws.com" };
        let role_props = &t.resources[role].properties;
        let trust = get(role_props, "AssumeRolePolicyDocument").and_then(|d| get(d, "Statement"));
        let trusted: Vec<&Value> = list(trust).into_iter().collect();
        let only_service = !trusted.is_empty()
            && trusted.iter().all(|s| {
                get(s, "Effect").and_then(Value::as_str) != Some("Allow")
                    || (list(get(s, "Action")).iter().all(|a| a.as_str() == Some("sts:AssumeRole"))
                        && get(s, "Principal").and_then(|p| get(p, "Service")).and_then(Value::as_str) == Some(service)
                        && get(s, "Principal").and_then(Value::as_mapping).is_some_and(|m| m.len() == 1))
            });
        if !only_service {
            out.push(format!("{role}: its trust policy must let only {service} assume it"));
        }
        for managed in list(get(role_props, "ManagedPolicyArns")) {
            let text = match intrinsic(managed) {
                Some((f, a)) if f == "Sub" => a.as_str().unwrap_or_default(),
                _ => "",
            };
            if !function || !MANAGED_POLICIES.contains(&text) {
                out.push(format!("{role}: managed policy {managed:?} (only logs and traces, on functions)"));
            }
        }
    }
    for (role, users) in used.iter().filter(|(_, u)| u.len() > 1) {
        out.push(format!("{role}: shared by {users:?} (each principal has its own role)"));
    }
    for (id, r) in t.of_kind("AWS::IAM::Role") {
        if !used.contains_key(id.as_str()) {
            out.push(format!("{id}: a role no function or state machine uses"));
        }
        if !bounded_by_parameter(get(&r.properties, "PermissionsBoundary")) {
            out.push(format!("{id}: its PermissionsBoundary must be {BOUNDARY}"));
        }
    }
    out
}

/// What every role's `PermissionsBoundary` is: the parameter's policy, where one is given.
pub const BOUNDARY: &str = "!If [HasPermissionsBoundary, !Ref PermissionsBoundary, !Ref AWS::NoValue]";

fn bounded_by_parameter(v: Option<&Value>) -> bool {
    let refers = |v: &Value, name: &str| matches!(intrinsic(v), Some((f, a)) if f == "Ref" && a.as_str() == Some(name));
    let Some(("If", args)) = v.and_then(intrinsic).as_ref().map(|(f, a)| (f.as_str(), *a)) else { return false };
    matches!(args.as_sequence().map(Vec::as_slice), Some([c, yes, no])
        if c.as_str() == Some("HasPermissionsBoundary") && refers(yes, "PermissionsBoundary") && refers(no, "AWS::NoValue"))
}

/// The actions that take no resource narrower than "*": the delivery of the state machine's
/// logs (Step Functions' guide to logging) and its X-Ray traces. Granted on "*", and only to the
/// state machine (a function's come from its managed policies).
pub const TELEMETRY_ACTIONS: [&str; 12] = [
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
];

/// Parameters that name the stack's own resources, granted by `!Ref`: the media buckets' KMS keys.
const OWN_PARAMETERS: [&str; 1] = ["MediaKmsKeyArns"];

/// Why a resource a grant names is not the stack's own, if it is not.
fn foreign(t: &Template, resource: &Value) -> Option<String> {
    let own = |name: &str| t.resources.contains_key(name);
    let Some((f, arg)) = intrinsic(resource) else {
        return Some(format!("literal resource {resource:?}"));
    };
    match f.as_str() {
        "Ref" => {
            let name = arg.as_str().unwrap_or_default();
            (!own(name) && !OWN_PARAMETERS.contains(&name)).then(|| format!("!Ref {arg:?} is not a resource of the stack"))
        }
        "GetAtt" => {
            let target = arg.as_str().and_then(|s| s.split('.').next()).unwrap_or_default();
            (!own(target)).then(|| format!("!GetAtt {arg:?} is not a resource of the stack"))
        }
        "Sub" => sub_is_own(t, arg),
        // The media buckets: !Split [",", !Sub ["arn:*:s3:::${Buckets}[/*]", {Buckets: !Join [..., !Ref MediaBucketNames]}]]
        "Split" => {
            let inner = arg.as_sequence().and_then(|s| s.get(1))?;
            match intrinsic(inner) {
                Some((f, a)) if f == "Sub" => sub_is_own(t, a),
                _ => Some(format!("!Split of {inner:?}")),
            }
        }
        other => Some(format!("!{other} resources are not checked")),
    }
}

/// The media buckets' ARNs begin with this. CloudFormation cannot put `${AWS::Partition}`
/// before each name of a list parameter (a `!Join`'s delimiter takes no function), and an account
/// lives in one partition, so the partition's wildcard grants nothing outside it.
pub const MEDIA_ARN_PREFIX: &str = "arn:*:s3:::";

/// The media buckets' form, exactly: the buckets (`suffix` "") or their objects ("/*"), each
/// name prefixed by the join's delimiter, so that no other wildcard slips in.
fn media_form(text: &str, vars: Option<&Value>) -> bool {
    let Some(suffix) = text.strip_prefix(MEDIA_ARN_PREFIX).and_then(|r| r.strip_prefix("${Buckets}")) else {
        return false;
    };
    let join = vars.and_then(|v| get(v, "Buckets")).and_then(intrinsic).filter(|(f, _)| f == "Join").and_then(|(_, a)| a.as_sequence().cloned());
    let delimiter = join.as_ref().and_then(|j| j.first()).and_then(Value::as_str);
    let names = join.as_ref().and_then(|j| j.get(1)).and_then(intrinsic);
    matches!(suffix, "" | "/*")
        && delimiter == Some(format!("{suffix},{MEDIA_ARN_PREFIX}").as_str())
        && names.is_some_and(|(f, a)| f == "Ref" && a.as_str() == Some("MediaBucketNames"))
}

/// The executions of one of the stack's state machines, the one wildcard a grant may hold: its
/// logical id, when `text` is exactly
/// `arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${Machine.Name}:*`.
pub fn executions_of<'a>(t: &Template, text: &'a str) -> Option<&'a str> {
    let id = text.strip_prefix("arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${")?.strip_suffix(".Name}:*")?;
    (t.resources.get(id).map(|r| r.kind.as_str()) == Some("AWS::Serverless::StateMachine")).then_some(id)
}

/// A `!Sub` names only the stack's resources (`${X.Arn}`), pseudo parameters, and the media
/// buckets' ARNs ([`media_form`]).
fn sub_is_own(t: &Template, arg: &Value) -> Option<String> {
    let (text, vars) = match arg {
        Value::String(s) => (s.as_str(), None),
        Value::Sequence(seq) => (seq.first().and_then(Value::as_str).unwrap_or_default(), seq.get(1)),
        _ => return Some(format!("!Sub {arg:?}")),
    };
    if media_form(text, vars) || (vars.is_none() && executions_of(t, text).is_some()) {
        return None;
    }
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let end = rest[start..].find('}').map(|e| e + start)?;
        let name = &rest[start + 2..end];
        let target = name.split('.').next().unwrap_or_default();
        if !name.starts_with("AWS::") && !t.resources.contains_key(target) {
            return Some(format!("${{{name}}} in {text:?} is not the stack's"));
        }
        rest = &rest[end + 1..];
    }
    text.contains('*').then(|| format!("a wildcard in {text:?}"))
}

/// What the template grants beyond least privilege, one line each (empty: nothing).
pub fn violations(t: &Template) -> Vec<String> {
    let mut out = role_violations(t);
    let machine_roles: Vec<String> = t
        .principals()
        .filter(|(id, _)| t.resources[id.as_str()].kind == "AWS::Serverless::StateMachine")
        .filter_map(|(_, role)| role.map(|r| format!("{r} ")))
        .collect();
    for (at, statement) in grants(t) {
        if get(statement, "Action").is_none() {
            out.push(format!("{at}: not an inline statement (policy templates and managed policies are not allowed)"));
            continue;
        }
        for action in list(get(statement, "Action")) {
            let a = action.as_str().unwrap_or_default();
            if a.is_empty() || a.contains('*') {
                out.push(format!("{at}: action {action:?} is a wildcard or not a name"));
            }
        }
        let kms = list(get(statement, "Action")).iter().any(|a| a.as_str().is_some_and(|a| a.starts_with("kms:")));
        let telemetry = list(get(statement, "Action")).iter().all(|a| a.as_str().is_some_and(|a| TELEMETRY_ACTIONS.contains(&a)));
        for resource in list(get(statement, "Resource")) {
            if telemetry && resource.as_str() == Some("*") && machine_roles.iter().any(|r| at.starts_with(r.as_str())) {
                continue;
            }
            if let Some(why) = foreign(t, resource) {
                out.push(format!("{at}: {why}"));
            }
            if kms && format!("{resource:?}").contains(":alias/") {
                out.push(format!("{at}: a KMS grant on an alias ({resource:?}) grants nothing: IAM matches the key's ARN"));
            }
        }
    }
    // Resource policies: who may send to the queues slm's code sends to, and publish events.
    let denies = |policy_kind: &str, list_key: &str, target: &str, action: &str| {
        t.of_kind(policy_kind).any(|(_, p)| {
            let covers = list(get(&p.properties, list_key)).iter().any(|q| intrinsic(q).is_some_and(|(_, a)| a.as_str() == Some(target)));
            let statements = get(&p.properties, "PolicyDocument").and_then(|d| get(d, "Statement"));
            covers
                && list(statements).iter().any(|s| {
                    get(s, "Effect").and_then(Value::as_str) == Some("Deny")
                        && list(get(s, "Action")).iter().any(|a| a.as_str() == Some(action))
                        && get(s, "Principal").and_then(Value::as_str) == Some("*")
                        && excepts_only_own(t, get(s, "Condition"))
                })
        })
    };
    for (id, _) in t.of_kind("AWS::SQS::Queue") {
        let sent_to = t.resources.values().any(|r| r.kind != "AWS::SQS::QueuePolicy" && format!("{:?}", r.properties).contains(&format!("{id}.Arn")) && format!("{:?}", r.properties).contains("sqs:SendMessage"));
        if sent_to && !denies("AWS::SQS::QueuePolicy", "Queues", id, "sqs:SendMessage") {
            out.push(format!("{id}: no queue policy denying senders other than the stack's"));
        }
    }
    for (id, _) in t.of_kind("AWS::SNS::Topic") {
        if !denies("AWS::SNS::TopicPolicy", "Topics", id, "sns:Publish") {
            out.push(format!("{id}: no topic policy denying publishers other than the stack's"));
        }
    }
    out
}

/// Whether a Deny's condition spares only the stack's own principals: `ArnNotEquals` on
/// `aws:PrincipalArn` and nothing else, listing the roles of the stack's functions and state
/// machines (`!GetAtt <Role>.Arn`) or the `AdminPrincipal` parameter (the
/// administrator redrives dead letters into the queues). A literal ARN, another parameter or a
/// looser operator would admit others.
fn excepts_only_own(t: &Template, condition: Option<&Value>) -> bool {
    let Some(Value::Mapping(operators)) = condition else { return false };
    // The alarm topic: only CloudWatch's alarms (the service, for the account's alarms).
    let alarms = get(condition.unwrap(), "StringNotEquals").and_then(|c| get(c, "aws:PrincipalServiceName")).and_then(Value::as_str);
    if operators.len() == 1 && alarms == Some("cloudwatch.amazonaws.com") {
        return true;
    }
    let Some(arns) = (operators.len() == 1).then(|| get(condition.unwrap(), "ArnNotEquals")).flatten() else { return false };
    let Some(Value::Mapping(keys)) = Some(arns) else { return false };
    let Some(principals) = (keys.len() == 1).then(|| get(arns, "aws:PrincipalArn")).flatten() else { return false };
    let own_role = |v: &Value| match intrinsic(v) {
        Some((f, arg)) if f == "GetAtt" => arg
            .as_str()
            .and_then(|a| a.strip_suffix(".Arn"))
            .is_some_and(|role| t.principals().any(|(_, r)| r == Some(role))),
        Some((f, arg)) if f == "Ref" => arg.as_str() == Some("AdminPrincipal"),
        _ => false,
    };
    let listed = list(Some(principals));
    !listed.is_empty() && listed.into_iter().all(own_role)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn template(resources: &str) -> Template {
        let text = format!("Parameters:\n  MediaBucketNames:\n    Type: CommaDelimitedList\nResources:\n{resources}");
        Template::parse(&text, Path::new("template.yaml")).unwrap()
    }

    #[test]
    fn the_stack_grants_least_privilege() {
        let t = Template::load_default().unwrap();
        assert_eq!(violations(&t), Vec::<String>::new());
    }

    #[test]
    fn a_deny_that_spares_anyone_but_the_stacks_roles_admits_others() {
        // Each queue policy denies senders, but spares a literal ARN, another parameter, a role
        // of no function of the stack, or uses an operator that spares more.
        let policy = |queue: &str, condition: &str| {
            format!(
                "  {queue}P:\n    Type: AWS::SQS::QueuePolicy\n    Properties:\n      Queues: [!Ref {queue}]\n      PolicyDocument:\n        Statement:\n          - Effect: Deny\n            Principal: \"*\"\n            Action: sqs:SendMessage\n            Resource: !GetAtt {queue}.Arn\n            Condition:\n{condition}\n"
            )
        };
        let mut resources = String::from("  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      Role: !GetAtt FRole.Arn\n  FRole:\n    Type: AWS::IAM::Role\n    Properties:\n      PermissionsBoundary: !If [HasPermissionsBoundary, !Ref PermissionsBoundary, !Ref AWS::NoValue]\n      AssumeRolePolicyDocument:\n        Statement:\n          - Effect: Allow\n            Principal:\n              Service: lambda.amazonaws.com\n            Action: sts:AssumeRole\n      Policies:\n        - PolicyName: p\n          PolicyDocument:\n            Statement:\n            - Effect: Allow\n              Action: sqs:SendMessage\n              Resource: [!GetAtt Good.Arn, !GetAtt Literal.Arn, !GetAtt Param.Arn, !GetAtt Stranger.Arn, !GetAtt Like.Arn]\n");
        for (queue, condition) in [
            ("Good", "              ArnNotEquals:\n                aws:PrincipalArn: [!GetAtt FRole.Arn, !Ref AdminPrincipal]"),
            ("Literal", "              ArnNotEquals:\n                aws:PrincipalArn: [!GetAtt FRole.Arn, \"arn:aws:iam::123456789012:role/x\"]"),
            ("Param", "              ArnNotEquals:\n                aws:PrincipalArn: !Ref MediaBucketNames"),
            ("Stranger", "              ArnNotEquals:\n                aws:PrincipalArn: !GetAtt NobodyRole.Arn"),
            ("Like", "              ArnNotLike:\n                aws:PrincipalArn: !GetAtt FRole.Arn"),
        ] {
            resources.push_str(&format!("  {queue}:\n    Type: AWS::SQS::Queue\n"));
            resources.push_str(&policy(queue, condition));
        }
        let found = violations(&template(&resources)).join("\n");
        for queue in ["Literal", "Param", "Stranger", "Like"] {
            assert!(found.contains(&format!("{queue}: no queue policy")), "{queue} not found in:\n{found}");
        }
        assert!(!found.contains("Good:"), "{found}");
    }

    #[test]
    fn wildcards_foreign_resources_and_open_queues_are_found() {
        let t = template(
            r#"
  Q:
    Type: AWS::SQS::Queue
  T:
    Type: AWS::SNS::Topic
  F:
    Type: AWS::Serverless::Function
    Properties:
      Role: !GetAtt FRole.Arn
  FRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          - {Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: sts:AssumeRole}
      Policies:
        - PolicyName: p
          PolicyDocument:
            Statement:
            - Effect: Allow
              Action: [s3:*, sqs:SendMessage]
              Resource: [!GetAtt Q.Arn, "*", !GetAtt Other.Arn, "arn:aws:s3:::someone-elses/*"]
        - AmazonS3FullAccess
"#,
        );
        let found = violations(&t).join("\n");
        for expected in ["\"s3:*\"", "literal resource", "Other.Arn", "someone-elses", "not an inline statement", "Q: no queue policy", "T: no topic policy"] {
            assert!(found.contains(expected), "{expected} not found in:\n{found}");
        }
    }

    #[test]
    fn the_media_bucket_form_and_stack_arns_pass() {
        let t = template(
            r#"
  Tbl:
    Type: AWS::DynamoDB::Table
  F:
    Type: AWS::Serverless::Function
    Properties:
      Role: !GetAtt FRole.Arn
  FRole:
    Type: AWS::IAM::Role
    Properties:
      PermissionsBoundary: !If [HasPermissionsBoundary, !Ref PermissionsBoundary, !Ref AWS::NoValue]
      AssumeRolePolicyDocument:
        Statement:
          - {Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: sts:AssumeRole}
      Policies:
        - PolicyName: p
          PolicyDocument:
            Statement:
            - Effect: Allow
              Action: [dynamodb:Query, s3:GetObject]
              Resource:
                - !Sub ${Tbl.Arn}/index/ByX
                - !Split [",", !Sub ["arn:*:s3:::${Buckets}/*", {Buckets: !Join ["/*,arn:*:s3:::", !Ref MediaBucketNames]}]]
            - !If
              - HasMediaKmsKeys
              - Effect: Allow
                Action: [kms:Decrypt, kms:GenerateDataKey]
                Resource: !Ref MediaKmsKeyArns
              - !Ref AWS::NoValue
"#,
        );
        assert_eq!(violations(&t), Vec::<String>::new());
    }

    #[test]
    fn a_media_bucket_form_that_widens_is_found() {
        // Each would grant more than the named buckets: a wildcard after the name, a delimiter
        // that lets the second name match any bucket, another list, a wildcard in the service.
        for resource in [
            r#"!Split [",", !Sub ["arn:*:s3:::${Buckets}*", {Buckets: !Join ["*,arn:*:s3:::", !Ref MediaBucketNames]}]]"#,
            r#"!Split [",", !Sub ["arn:*:s3:::${Buckets}/*", {Buckets: !Join ["/*,arn:*:s3:::*", !Ref MediaBucketNames]}]]"#,
            r#"!Split [",", !Sub ["arn:*:s3:::${Buckets}", {Buckets: !Join [",arn:*:s3:::", !Ref SomeOtherParameter]}]]"#,
            r#"!Split [",", !Sub ["arn:*:*:::${Buckets}", {Buckets: !Join [",arn:*:*:::", !Ref MediaBucketNames]}]]"#,
        ] {
            let t = template(&format!("  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      Role: !GetAtt FRole.Arn\n  FRole:\n    Type: AWS::IAM::Role\n    Properties:\n      AssumeRolePolicyDocument:\n        Statement:\n          - Effect: Allow\n            Principal:\n              Service: lambda.amazonaws.com\n            Action: sts:AssumeRole\n      Policies:\n        - PolicyName: p\n          PolicyDocument:\n            Statement:\n            - Effect: Allow\n              Action: s3:GetObject\n              Resource: {resource}\n"));
            assert_ne!(violations(&t), Vec::<String>::new(), "{resource}");
        }
    }

    #[test]
    fn a_kms_grant_on_an_alias_and_a_conditional_wildcard_are_found() {
        let t = template(
            r#"
  F:
    Type: AWS::Serverless::Function
    Properties:
      Role: !GetAtt FRole.Arn
  FRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          - {Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: sts:AssumeRole}
      Policies:
        - PolicyName: p
          PolicyDocument:
            Statement:
            - Effect: Allow
              Action: [kms:GenerateDataKey, kms:Decrypt]
              Resource: !Sub arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:alias/aws/sns
            - !If
              - SomeCondition
              - Effect: Allow
                Action: s3:*
                Resource: !Ref SomeOtherParameter
              - !Ref AWS::NoValue
"#,
        );
        let found = violations(&t).join("\n");
        for expected in ["alias", "\"s3:*\"", "SomeOtherParameter"] {
            assert!(found.contains(expected), "{expected} not found in:\n{found}");
        }
    }

    #[test]
    fn a_principal_without_its_own_narrow_role_is_found() {
        // G grants on itself (SAM would make the role), H and I share a role that anyone may
        // assume and that carries an admin policy, the state machine trusts Lambda and names a
        // boundary of its own, Spare is nobody's and has none.
        let t = template(
            r#"
  G:
    Type: AWS::Serverless::Function
    Properties:
      Policies:
        - Statement:
            - {Effect: Allow, Action: sqs:SendMessage, Resource: "*"}
  H:
    Type: AWS::Serverless::Function
    Properties:
      Role: !GetAtt Shared.Arn
  I:
    Type: AWS::Serverless::Function
    Properties:
      Role: !GetAtt Shared.Arn
  Shared:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          - {Effect: Allow, Principal: {AWS: "*"}, Action: sts:AssumeRole}
      ManagedPolicyArns:
        - !Sub arn:${AWS::Partition}:iam::aws:policy/AdministratorAccess
  M:
    Type: AWS::Serverless::StateMachine
    Properties:
      Role: !GetAtt MRole.Arn
  MRole:
    Type: AWS::IAM::Role
    Properties:
      PermissionsBoundary: arn:aws:iam::123456789012:policy/boundary
      AssumeRolePolicyDocument:
        Statement:
          - {Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: sts:AssumeRole}
  Spare:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          - {Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: sts:AssumeRole}
"#,
        );
        let found = violations(&t).join("\n");
        for expected in [
            "G: Policies on the resource",
            "G: no Role",
            "Shared: its trust policy must let only lambda.amazonaws.com",
            "AdministratorAccess",
            "Shared: shared by",
            "MRole: its trust policy must let only states.amazonaws.com",
            "Spare: a role no function or state machine uses",
            // a literal boundary is not the parameter's, and no boundary is none
            "MRole: its PermissionsBoundary must be",
            "Spare: its PermissionsBoundary must be",
        ] {
            assert!(found.contains(expected), "{expected} not found in:\n{found}");
        }
    }
}
