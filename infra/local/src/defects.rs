//! Where an emulator answers unlike AWS and the local stack does not (yet) correct it. A test
//! that meets such a defect states it and stops on that emulator (see [`stopped_by`]), and
//! `tests/emulators.rs` probes every defect on the emulator under the suite, so a declaration
//! holds exactly while the defect does: when an emulator is fixed, the probe fails and the
//! declaration (and the tests' stop) goes.
//!
//! moto's defects are corrected by infra/local/moto_server.py, but for one a deployment needs:
//! it has no SAM transform.

use crate::Emulator;
use anyhow::{Context, Result};
use aws_sdk_s3::types::{BucketVersioningStatus, StorageClass, VersioningConfiguration};
use slm_core::adapters::Clients;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defect {
    /// ListObjectVersions reports every version as STANDARD, whatever its class (HeadObject with
    /// the version id is right). Registration and the reconciler read classes from it.
    VersionsListedAsStandard,
    /// ListObjectVersions answers every version at once, ignoring MaxKeys. The reconciler's
    /// sweep pages through a prefix with it.
    VersionsIgnoreMaxKeys,
    /// PutBucketNotificationConfiguration accepts two rules whose event types and filters
    /// overlap, which S3 refuses ("Configurations overlap").
    OverlappingNotificationsAccepted,
    /// CloudFormation does not run the SAM transform (`Transform: AWS::Serverless-2016-10-31`),
    /// so template.yaml cannot be deployed through it.
    NoSamTransform,
}

impl Defect {
    pub const ALL: [Defect; 4] = [Defect::VersionsListedAsStandard, Defect::VersionsIgnoreMaxKeys, Defect::OverlappingNotificationsAccepted, Defect::NoSamTransform];

    pub fn what(self) -> &'static str {
        match self {
            Defect::VersionsListedAsStandard => "ListObjectVersions reports every version as STANDARD",
            Defect::VersionsIgnoreMaxKeys => "ListObjectVersions ignores MaxKeys",
            Defect::OverlappingNotificationsAccepted => "overlapping notification configurations are accepted",
            Defect::NoSamTransform => "CloudFormation does not run the SAM transform",
        }
    }

    /// Whether `emulator` has it, as declared.
    pub fn of(self, emulator: Emulator) -> bool {
        match self {
            Defect::NoSamTransform => emulator == Emulator::Moto,
            _ => emulator == Emulator::LocalStack,
        }
    }

    /// Whether the emulator behind `clients` shows the defect, found by doing what meets it in a
    /// bucket of its own (removed after).
    pub async fn probe(self, clients: &Clients) -> Result<bool> {
        let s3 = &clients.s3;
        let bucket = format!("slm-probe-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        s3.create_bucket().bucket(&bucket).send().await.context("create the probe's bucket")?;
        let shown = self.show(clients, &bucket).await;
        remove_bucket(s3, &bucket).await?;
        shown
    }

    async fn show(self, clients: &Clients, bucket: &str) -> Result<bool> {
        let s3 = &clients.s3;
        match self {
            Defect::NoSamTransform => {
                // The smallest SAM template: one SimpleTable, which the transform makes a table.
                let (endpoint, _) = crate::session::emulator().await?;
                let cfn = aws_sdk_cloudformation::Client::new(&crate::sdk_config(&endpoint).await);
                let body = r#"{"Transform": "AWS::Serverless-2016-10-31", "Resources": {"T": {"Type": "AWS::Serverless::SimpleTable"}}}"#;
                let created = cfn
                    .create_stack()
                    .stack_name(bucket)
                    .template_body(body)
                    .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityAutoExpand)
                    .send()
                    .await;
                if created.is_err() {
                    return Ok(true);
                }
                for _ in 0..120 {
                    let d = cfn.describe_stacks().stack_name(bucket).send().await?;
                    let status = d.stacks().first().and_then(|s| s.stack_status()).map(|s| s.as_str().to_string()).unwrap_or_default();
                    if !status.ends_with("IN_PROGRESS") {
                        // Complete is not enough: moto completes a stack whose resources it
                        // does not know, creating nothing.
                        let listed = cfn.describe_stack_resources().stack_name(bucket).send().await?;
                        let table = listed.stack_resources().iter().find(|r| r.resource_type() == Some("AWS::DynamoDB::Table")).and_then(|r| r.physical_resource_id().map(str::to_string));
                        let made = match table {
                            Some(name) if status == "CREATE_COMPLETE" => clients.dynamodb.describe_table().table_name(name).send().await.is_ok(),
                            _ => false,
                        };
                        let _ = cfn.delete_stack().stack_name(bucket).send().await;
                        return Ok(!made);
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                }
                anyhow::bail!("the SAM transform probe's stack never ended")
            }
            Defect::VersionsListedAsStandard => {
                let enabled = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
                s3.put_bucket_versioning().bucket(bucket).versioning_configuration(enabled).send().await?;
                s3.put_object().bucket(bucket).key("cold").storage_class(StorageClass::Glacier).body(b"x".to_vec().into()).send().await?;
                let listed = s3.list_object_versions().bucket(bucket).send().await?;
                let class = listed.versions().first().and_then(|v| v.storage_class()).map(|c| c.as_str().to_string());
                Ok(class.as_deref() != Some("GLACIER"))
            }
            Defect::VersionsIgnoreMaxKeys => {
                for i in 0..3 {
                    s3.put_object().bucket(bucket).key(format!("k{i}")).body(b"x".to_vec().into()).send().await?;
                }
                let page = s3.list_object_versions().bucket(bucket).max_keys(2).send().await?;
                Ok(page.versions().len() > 2 || page.is_truncated() != Some(true))
            }
            Defect::OverlappingNotificationsAccepted => {
                use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
                let queue = clients.sqs.create_queue().queue_name(bucket).send().await?;
                let url = queue.queue_url().unwrap_or_default().to_string();
                let attrs = clients.sqs.get_queue_attributes().queue_url(&url).attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn).send().await?;
                let arn = attrs.attributes().and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)).cloned().unwrap_or_default();
                let rule = |id: &str| QueueConfiguration::builder().id(id).queue_arn(&arn).events(Event::S3ObjectCreated).build();
                let both = NotificationConfiguration::builder().queue_configurations(rule("a")?).queue_configurations(rule("b")?).build();
                let accepted = s3.put_bucket_notification_configuration().bucket(bucket).notification_configuration(both).send().await.is_ok();
                clients.sqs.delete_queue().queue_url(&url).send().await?;
                Ok(accepted)
            }
        }
    }
}

async fn remove_bucket(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<()> {
    let listed = s3.list_object_versions().bucket(bucket).send().await?;
    for v in listed.versions() {
        s3.delete_object().bucket(bucket).key(v.key().unwrap_or_default()).set_version_id(v.version_id().map(str::to_string)).send().await?;
    }
    s3.delete_bucket().bucket(bucket).send().await.context("remove the probe's bucket")?;
    Ok(())
}

/// For a test that meets `defects`: true (the test stops) when the emulator under the suite has
/// one of them, after stating which, on stderr and in `<data dir>/known-defects.txt` (which
/// infra/test-all.sh prints).
pub async fn stopped_by(test: &str, defects: &[Defect]) -> Result<bool> {
    let (_, emulator) = crate::session::emulator().await?;
    let Some(defect) = defects.iter().find(|d| d.of(emulator)) else {
        return Ok(false);
    };
    let line = format!("{}: {test} stops at a known defect: {}\n", emulator.name(), defect.what());
    eprint!("{line}");
    let path = crate::files::data_dir().join("known-defects.txt");
    std::fs::create_dir_all(crate::files::data_dir())?;
    use std::io::Write;
    std::fs::OpenOptions::new().create(true).append(true).open(&path)?.write_all(line.as_bytes())?;
    Ok(true)
}
