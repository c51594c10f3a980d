//! Registering: an asset and every object under its prefix at once (the API), or objects one
//! by one as they arrive (ObjectCreated events) or as a backfill lists them, each placed in its
//! asset by the key layout (or given asset) and recorded once.

use super::{Core, Metadata};
use crate::domain::pricing::Sizes;
use crate::domain::title::parse_date;
use crate::domain::layout::Placement;
use crate::domain::repair::KeyVersion;
use crate::domain::asset::class_of;
use crate::domain::{Asset, AssetClass, AssetState, FileRecord, FileState, NewAsset, shard_of, shards_for};
use chrono::NaiveDate;
use crate::error::{Error, Result};
use crate::ports::{ObjectStore, Orchestrator, Queues};

impl<M: Metadata, O: ObjectStore + Sync, Q: Queues + Sync, X: Orchestrator + Sync> Core<M, O, Q, X> {
    pub async fn register_asset(&self, new: NewAsset, now: chrono::DateTime<chrono::Utc>) -> Result<Asset> {
        new.validate()?;
        self.check_bucket(&new.bucket)?;
        let listed = self.objects.list_latest(&new.bucket, &new.prefix).await?;
        if listed.is_empty() {
            return Err(Error::validation(format!("no objects under s3://{}/{}", new.bucket, new.prefix)));
        }
        let mut asset = self.new_asset(new, now)?;
        asset.shards = shards_for(listed.len() as u64, self.config.file_shards);
        if !self.meta.begin_registration(&asset).await? {
            return Err(Error::Conflict(format!("asset {} is registered already", asset.asset_id)));
        }
        let files: Vec<FileRecord> = listed.iter().map(|v| file_of(&asset, v)).collect();
        self.meta.put_files(&files).await?;
        let class = class_of(&files).unwrap_or_default();
        let sizes = Sizes::of(&files.iter().map(|f| f.size).collect::<Vec<_>>());
        asset.file_count = sizes.count;
        asset.total_bytes = sizes.bytes;
        asset.small_file_count = sizes.small_count;
        asset.small_file_bytes = sizes.small_bytes;
        self.meta.finish_registration(&asset, class).await?;
        asset.storage_class = class;
        self.reschedule(&asset, &self.meta.current_policies().await?, &mut super::schedule::Titles::default()).await?;
        tracing::info!(asset_id = %asset.asset_id, files = asset.file_count, bytes = asset.total_bytes, "asset registered");
        Ok(asset)
    }

    /// The asset a registration asks for, with no files yet.
    pub(crate) fn new_asset(&self, new: NewAsset, now: chrono::DateTime<chrono::Utc>) -> Result<Asset> {
        new.validate()?;
        let shards = shards_for(new.expected_files.unwrap_or(0), self.config.file_shards);
        let created_on = match &new.created_on {
            Some(d) => parse_date("created_on", d)?,
            None => now.date_naive(),
        };
        Ok(Asset {
            asset_id: new.asset_id,
            title_id: new.title_id,
            asset_type: new.asset_type,
            phase: new.phase,
            tags: new.tags,
            created_on,
            last_access_on: None,
            bucket: new.bucket,
            prefix: new.prefix,
            shards,
            file_count: 0,
            total_bytes: 0,
            small_file_count: 0,
            small_file_bytes: 0,
            state: AssetState::Active,
            storage_class: AssetClass::Unknown,
            active_task: None,
            active_action: None,
            queued_task: None,
            registered_at: crate::domain::stamp(now),
            due_at: None,
            backfill_cursor: None,
            sweep_cursor: None,
        })
    }

    /// Registers one object: placed by the key layout (or in `into`, a backfill for one asset),
    /// its asset created on its first object, the file recorded once. `known` is the listed
    /// version (a backfill); without it the object is read (an event names only the key).
    pub async fn register_object(&self, bucket: &str, key: &str, known: Option<KeyVersion>, today: NaiveDate, into: Option<&Asset>) -> Result<Registration> {
        let placement = match into {
            Some(_) => None,
            None => match self.config.asset_key_layout.place(key) {
                Ok(p) => Some(p),
                Err(why) => return Ok(Registration::Ignored(why)),
            },
        };
        if let Some(found) = self.meta.find_by_object(bucket, key).await? {
            return Ok(Registration::Ignored(format!("s3://{bucket}/{key} is registered already (asset {})", found.file.asset_id)));
        }
        let current = match known {
            Some(v) => v,
            None => match self.objects.head_current(bucket, key).await? {
                Some(v) => v,
                None => return Ok(Registration::Ignored(format!("s3://{bucket}/{key} is gone"))),
            },
        };
        let (asset, created) = match (into, placement) {
            (Some(a), _) => (a.clone(), false),
            (None, Some(p)) => match self.asset_for(bucket, &p, today).await? {
                Ok(found) => found,
                Err(why) => return Ok(Registration::Ignored(why)),
            },
            (None, None) => unreachable!("a placement is made when no asset is given"),
        };
        let file = file_of(&asset, &current);
        if !self.meta.register_file(&file).await? {
            return Ok(Registration::Ignored(format!("s3://{bucket}/{key} is registered already")));
        }
        Ok(Registration::Registered { asset_id: asset.asset_id, created_asset: created })
    }

    /// The asset a placement names, created (and scheduled) if it is new; Err(why) when the id
    /// belongs to another prefix or the asset is purged.
    async fn asset_for(&self, bucket: &str, p: &Placement, today: NaiveDate) -> Result<std::result::Result<(Asset, bool), String>> {
        for _ in 0..2 {
            if let Some(a) = self.meta.get_asset(&p.asset_id).await? {
                if a.bucket != bucket || a.prefix != p.prefix {
                    return Ok(Err(format!("asset {} is registered for s3://{}/{}, not s3://{bucket}/{}", a.asset_id, a.bucket, a.prefix, p.prefix)));
                }
                if a.state == AssetState::Purged {
                    return Ok(Err(format!("asset {} is purged", a.asset_id)));
                }
                return Ok(Ok((a, false)));
            }
            let new = NewAsset {
                asset_id: p.asset_id.clone(),
                title_id: p.title_id.clone(),
                asset_type: p.asset_type.clone(),
                bucket: bucket.to_string(),
                prefix: p.prefix.clone(),
                phase: crate::domain::asset::default_phase(),
                tags: Default::default(),
                created_on: Some(today.to_string()),
                expected_files: None,
            };
            let asset = self.new_asset(new, today.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc())?;
            if self.meta.create_asset(&asset).await? {
                self.reschedule(&asset, &self.meta.current_policies().await?, &mut super::schedule::Titles::default()).await?;
                tracing::info!(asset_id = %asset.asset_id, prefix = %asset.prefix, "asset created by its first object");
                return Ok(Ok((asset, true)));
            }
        }
        Err(Error::retryable("create asset", format!("asset {} changed while it was created", p.asset_id)))
    }
}

/// What registering one object did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    Registered { asset_id: String, created_asset: bool },
    Ignored(String),
}

/// The file item of an object of an asset, as S3 lists or reports it.
pub(crate) fn file_of(asset: &Asset, v: &KeyVersion) -> FileRecord {
    FileRecord {
        asset_id: asset.asset_id.clone(),
        shard: shard_of(&v.key, asset.shards),
        bucket: asset.bucket.clone(),
        key: v.key.clone(),
        version_id: v.version_id.clone(),
        size: v.size,
        etag: v.etag.clone(),
        storage_class: v.storage_class,
        state: FileState::of_class(v.storage_class),
    }
}

#[cfg(test)]
mod tests {
    use super::Registration;
    use crate::adapters::memory::Put;
    use crate::domain::{AssetState, StorageClass};
    use crate::error::Error;
    use crate::ports::{AssetStore, FileStore};
    use crate::service::testing::{BUCKET, core, new_asset, policy_doc, now};
    use chrono::NaiveDate;

    fn today() -> NaiveDate {
        "2027-01-04".parse().unwrap()
    }

    /// Neither a visible nor a registering asset item, nor any file item.
    async fn nothing_written(core: &crate::service::testing::MemoryCore, id: &str) {
        assert!(core.meta.get_asset(id).await.unwrap().is_none(), "no asset {id}");
        assert!(core.meta.get_registering(id).await.unwrap().is_none(), "no registering asset {id}");
        assert!(core.files_of(id).await.is_empty(), "no file of {id}");
    }

    #[tokio::test]
    async fn registering_an_asset_records_every_object_under_its_prefix_with_sizes_and_class() {
        // GIVEN three objects of different sizes under cam-1/, and one under the sibling cam-10/
        let core = core();
        let mut put = Vec::new();
        for (key, size) in [("cam-1/a.exr", 100usize), ("cam-1/b.exr", 2_000), ("cam-1/deep/c.exr", 300_000)] {
            put.push(core.objects.put(BUCKET, key, Put::body(vec![b'x'; size])));
        }
        core.objects.put(BUCKET, "cam-10/x.exr", Put::body(vec![b'x'; 10]));
        // WHEN the asset is registered
        let asset = core.register_asset(new_asset("cam-1"), now()).await.unwrap();
        // THEN its three files are recorded with their versions and sizes, and the asset counts them
        let files = core.files_of("cam-1").await;
        let mut recorded: Vec<_> = files.iter().map(|f| (f.key.clone(), f.version_id.clone(), f.size, f.storage_class)).collect();
        recorded.sort_by(|a, b| a.0.cmp(&b.0));
        let expected: Vec<_> = put.iter().map(|v| (v.key.clone(), v.version_id.clone(), v.size, StorageClass::Standard)).collect();
        assert_eq!(recorded, expected);
        let stored = core.asset("cam-1").await;
        assert_eq!((stored.file_count, stored.total_bytes, stored.storage_class.as_str(), stored.state), (3, 302_100, "STANDARD", AssetState::Active));
        assert_eq!(stored.small_file_count, 2, "files under the small-object size are counted apart");
        assert_eq!((asset.file_count, asset.total_bytes), (3, 302_100), "the answer is the stored asset");
    }

    #[tokio::test]
    async fn an_asset_whose_objects_are_in_two_classes_is_registered_mixed() {
        // GIVEN an object in STANDARD and one in GLACIER under the prefix
        let core = core();
        core.objects.put(BUCKET, "cam-1/a.exr", Put::body(vec![b'x'; 1000]));
        core.objects.put(BUCKET, "cam-1/b.exr", Put::body(vec![b'x'; 1000]).class(StorageClass::Glacier));
        // WHEN the asset is registered
        core.register_asset(new_asset("cam-1"), now()).await.unwrap();
        // THEN its class is MIXED, each file keeping its own
        assert_eq!(core.asset("cam-1").await.storage_class, "MIXED");
        let classes: Vec<_> = core.files_of("cam-1").await.iter().map(|f| f.storage_class).collect();
        assert!(classes.contains(&StorageClass::Standard) && classes.contains(&StorageClass::Glacier), "{classes:?}");
    }

    #[tokio::test]
    async fn registering_an_asset_id_registered_already_is_a_conflict_and_changes_nothing() {
        // GIVEN an asset registered with two files, and a third object put under its prefix since
        let core = core();
        core.asset_of("cam-1", 2).await;
        core.objects.put(BUCKET, "cam-1/late.exr", Put::body(vec![b'x'; 1000]));
        // WHEN the same asset is registered again
        let err = core.register_asset(new_asset("cam-1"), now()).await.unwrap_err();
        // THEN it is refused as a conflict, and the asset keeps its two files
        assert!(matches!(err, Error::Conflict(_)), "{err:?}");
        assert_eq!(core.asset("cam-1").await.file_count, 2);
        assert_eq!(core.files_of("cam-1").await.len(), 2);
    }

    #[tokio::test]
    async fn a_bucket_slm_does_not_manage_is_refused_and_nothing_is_written() {
        // GIVEN objects in a bucket that is not one of MEDIA_BUCKETS
        let core = core();
        core.objects.versioned_bucket("other-bucket");
        core.objects.put("other-bucket", "cam-1/a.exr", Put::body(vec![b'x'; 1000]));
        // WHEN an asset is registered there
        let new = crate::domain::NewAsset { bucket: "other-bucket".into(), ..new_asset("cam-1") };
        let err = core.register_asset(new, now()).await.unwrap_err();
        // THEN it is refused as invalid, and no asset or file is written
        assert!(matches!(&err, Error::Validation(m) if m.contains("other-bucket")), "{err:?}");
        nothing_written(&core, "cam-1").await;
    }

    #[tokio::test]
    async fn an_invalid_new_asset_is_refused_and_nothing_is_written() {
        // GIVEN objects under the prefix, and an asset id with a space
        let core = core();
        core.objects.put(BUCKET, "cam-1/a.exr", Put::body(vec![b'x'; 1000]));
        let new = crate::domain::NewAsset { asset_id: "cam 1".into(), prefix: "cam-1/".into(), ..new_asset("cam-1") };
        // WHEN it is registered
        let err = core.register_asset(new, now()).await.unwrap_err();
        // THEN it is refused, naming the field, and nothing is written
        assert!(matches!(&err, Error::Validation(m) if m.contains("asset_id")), "{err:?}");
        nothing_written(&core, "cam 1").await;
        nothing_written(&core, "cam-1").await;
    }

    #[tokio::test]
    async fn an_empty_prefix_is_refused_and_nothing_is_written() {
        // GIVEN objects in the bucket, and an asset whose prefix is empty (the whole bucket)
        let core = core();
        core.objects.put(BUCKET, "cam-1/a.exr", Put::body(vec![b'x'; 1000]));
        let new = crate::domain::NewAsset { prefix: String::new(), ..new_asset("cam-1") };
        // WHEN it is registered
        let err = core.register_asset(new, now()).await.unwrap_err();
        // THEN it is refused as invalid, and nothing is written
        assert!(matches!(&err, Error::Validation(m) if m.contains("prefix")), "{err:?}");
        nothing_written(&core, "cam-1").await;
    }

    #[tokio::test]
    async fn a_prefix_with_no_objects_is_refused_and_nothing_is_written() {
        // GIVEN a bucket with objects under another prefix only
        let core = core();
        core.objects.put(BUCKET, "cam-2/a.exr", Put::body(vec![b'x'; 1000]));
        // WHEN an asset over an empty prefix is registered
        let err = core.register_asset(new_asset("cam-1"), now()).await.unwrap_err();
        // THEN it is refused, and no asset is begun
        assert!(matches!(&err, Error::Validation(m) if m.contains("no objects")), "{err:?}");
        nothing_written(&core, "cam-1").await;
    }

    #[tokio::test]
    async fn a_registered_asset_is_put_at_its_due_day_by_the_current_policies() {
        // GIVEN a policy archiving final assets 30 days after their creation
        let core = core();
        let doc = policy_doc(r#"{"policy_id":"p1","selector":{"phases":["final"]},"anchor":"asset.created","offset_days":30,"action":{"action":"archive","storage_class":"GLACIER"}}"#);
        core.create_policy(doc, "tester", now()).await.unwrap();
        // WHEN a final asset created on 2026-06-01 is registered
        core.asset_of("cam-1", 1).await;
        // THEN the due index holds it at 2026-07-01
        assert_eq!(core.asset("cam-1").await.due_at.as_deref(), Some("2026-07-01"));
    }

    #[tokio::test]
    async fn an_arriving_object_is_placed_by_the_key_layout_and_creates_its_asset() {
        // GIVEN an object put under <title>/<type>/<asset>/
        let core = core();
        let v = core.objects.put(BUCKET, "tln/camera/A001/reel1/f1.ari", Put::body(vec![b'x'; 5000]));
        // WHEN its arrival is registered
        let r = core.register_object(BUCKET, "tln/camera/A001/reel1/f1.ari", None, today(), None).await.unwrap();
        // THEN an asset is created from the key's ids with the object as its file
        assert_eq!(r, Registration::Registered { asset_id: "A001".into(), created_asset: true });
        let a = core.asset("A001").await;
        assert_eq!((a.title_id.as_str(), a.asset_type.as_str(), a.prefix.as_str(), a.phase.as_str()), ("tln", "camera", "tln/camera/A001/", "unspecified"));
        assert_eq!((a.file_count, a.total_bytes, a.storage_class.as_str(), a.created_on), (1, 5000, "STANDARD", today()));
        let files = core.files_of("A001").await;
        assert_eq!(files.iter().map(|f| (f.key.as_str(), f.version_id.as_str())).collect::<Vec<_>>(), vec![(v.key.as_str(), v.version_id.as_str())]);
    }

    #[tokio::test]
    async fn a_second_object_of_an_asset_joins_the_asset_its_first_created() {
        // GIVEN an asset created by its first object
        let core = core();
        for key in ["tln/camera/A001/f1.ari", "tln/camera/A001/f2.ari"] {
            core.objects.put(BUCKET, key, Put::body(vec![b'x'; 1000]));
        }
        core.register_object(BUCKET, "tln/camera/A001/f1.ari", None, today(), None).await.unwrap();
        // WHEN its second object arrives
        let r = core.register_object(BUCKET, "tln/camera/A001/f2.ari", None, today(), None).await.unwrap();
        // THEN it is registered into the same asset, which now counts both
        assert_eq!(r, Registration::Registered { asset_id: "A001".into(), created_asset: false });
        assert_eq!(core.asset("A001").await.file_count, 2);
        assert_eq!(core.files_of("A001").await.len(), 2);
    }

    #[tokio::test]
    async fn a_key_outside_the_layout_is_ignored_and_nothing_is_written() {
        // GIVEN an object two levels deep, above any asset prefix of the layout
        let core = core();
        core.objects.put(BUCKET, "tln/loose.exr", Put::body(vec![b'x'; 1000]));
        // WHEN its arrival is registered
        let r = core.register_object(BUCKET, "tln/loose.exr", None, today(), None).await.unwrap();
        // THEN it is ignored with the reason, and no file or asset is recorded
        assert!(matches!(&r, Registration::Ignored(why) if why.contains("not below an asset prefix")), "{r:?}");
        assert!(core.meta.find_by_object(BUCKET, "tln/loose.exr").await.unwrap().is_none());
        assert!(core.meta.get_asset("loose.exr").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn registering_the_same_object_twice_records_it_once() {
        // GIVEN an object registered on arrival
        let core = core();
        core.objects.put(BUCKET, "tln/camera/A001/f1.ari", Put::body(vec![b'x'; 1000]));
        core.register_object(BUCKET, "tln/camera/A001/f1.ari", None, today(), None).await.unwrap();
        // WHEN its event is delivered again
        let r = core.register_object(BUCKET, "tln/camera/A001/f1.ari", None, today(), None).await.unwrap();
        // THEN it is ignored, and the asset still counts one file
        assert!(matches!(&r, Registration::Ignored(why) if why.contains("registered already")), "{r:?}");
        let a = core.asset("A001").await;
        assert_eq!((a.file_count, a.total_bytes), (1, 1000));
        assert_eq!(core.files_of("A001").await.len(), 1);
    }

    #[tokio::test]
    async fn an_object_deleted_before_its_event_is_handled_is_ignored() {
        // GIVEN an event for a key that no longer has a current object
        let core = core();
        core.objects.put(BUCKET, "tln/camera/A001/f1.ari", Put::body(vec![b'x'; 1000]));
        core.objects.delete(BUCKET, "tln/camera/A001/f1.ari");
        // WHEN it is registered
        let r = core.register_object(BUCKET, "tln/camera/A001/f1.ari", None, today(), None).await.unwrap();
        // THEN it is ignored as gone, and no asset is created for it
        assert!(matches!(&r, Registration::Ignored(why) if why.contains("is gone")), "{r:?}");
        assert!(core.meta.get_asset("A001").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn an_object_whose_asset_id_is_registered_for_another_prefix_is_ignored() {
        // GIVEN asset A001 registered through the API for the prefix A001/
        let core = core();
        core.asset_of("A001", 1).await;
        core.objects.put(BUCKET, "tln/camera/A001/f1.ari", Put::body(vec![b'x'; 1000]));
        // WHEN an object placed by the layout into an asset A001 under tln/camera/ arrives
        let r = core.register_object(BUCKET, "tln/camera/A001/f1.ari", None, today(), None).await.unwrap();
        // THEN it is ignored, and the registered asset is left as it was
        assert!(matches!(&r, Registration::Ignored(why) if why.contains("is registered for")), "{r:?}");
        assert_eq!(core.asset("A001").await.file_count, 1);
        assert!(core.meta.find_by_object(BUCKET, "tln/camera/A001/f1.ari").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn an_object_given_its_asset_joins_it_whatever_its_key() {
        // GIVEN asset cam-1 registered, and an object under its prefix that the layout places nowhere
        let core = core();
        let asset = core.asset_of("cam-1", 1).await;
        let v = core.objects.put(BUCKET, "cam-1/late.exr", Put::body(vec![b'x'; 700]));
        // WHEN it is registered into the asset, as a backfill of the asset lists it
        let r = core.register_object(BUCKET, "cam-1/late.exr", Some(v), today(), Some(&asset)).await.unwrap();
        // THEN it is a file of the asset, counted on it
        assert_eq!(r, Registration::Registered { asset_id: "cam-1".into(), created_asset: false });
        let a = core.asset("cam-1").await;
        assert_eq!((a.file_count, a.total_bytes), (2, 1700));
    }

    #[tokio::test]
    async fn an_object_arriving_for_a_purged_asset_is_ignored() {
        // GIVEN asset A001 created by its first object, then purged
        let core = core();
        core.objects.put(BUCKET, "tln/camera/A001/f1.ari", Put::body(vec![b'x'; 1000]));
        core.register_object(BUCKET, "tln/camera/A001/f1.ari", None, today(), None).await.unwrap();
        let task = core.request("A001", crate::domain::Action::Purge, "r1").await;
        core.drive(&task.task_id).await.expect("a purge ends without waiting");
        assert_eq!(core.asset("A001").await.state, AssetState::Purged);
        // WHEN a new object arrives under its prefix
        core.objects.put(BUCKET, "tln/camera/A001/f2.ari", Put::body(vec![b'x'; 1000]));
        let r = core.register_object(BUCKET, "tln/camera/A001/f2.ari", None, today(), None).await.unwrap();
        // THEN it is ignored, and the purged asset counts no new file
        assert!(matches!(&r, Registration::Ignored(why) if why.contains("is purged")), "{r:?}");
        assert!(core.meta.find_by_object(BUCKET, "tln/camera/A001/f2.ari").await.unwrap().is_none());
    }
}
