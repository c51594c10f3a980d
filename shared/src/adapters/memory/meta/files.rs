//! Files: registration, steps, uploads, restore windows and each file's transition.

use super::*;
use crate::domain::pricing::{SMALL_OBJECT_BYTES, Sizes};
use crate::domain::{AssetState, FileState, TaskId, Transition};
use crate::error::{Error, Result};
use crate::ports::{FileStore, Registry};

impl Tables {
    /// One file's transition, applied only while the file is still at `from` in this task; the
    /// file as it left it (None: it missed).
    pub(super) fn apply(&mut self, task_id: &TaskId, t: &Transition) -> Option<FileRecord> {
        let row = self.files.get_mut(&file_key(&t.file.asset_id, t.file.shard, &t.file.key))?;
        let mine = row.task_id.as_deref() == Some(task_id.as_str());
        // A file is QUEUED for a task until the task first moves it: planned files are not
        // written, so "not yet this task's" (another task's, or none) counts as QUEUED.
        let holds = match t.from {
            FileStep::Queued => !mine || row.step == Some(FileStep::Queued),
            from => mine && row.step == Some(from),
        };
        if !holds {
            return None;
        }
        row.step = Some(t.to);
        row.task_id = Some(task_id.to_string());
        let f = &mut row.file;
        if let Some(class) = t.new_class {
            f.storage_class = class;
        }
        if let Some(state) = t.new_state {
            f.state = state;
        }
        if let Some(v) = &t.new_version_id {
            f.version_id = v.clone();
        }
        if let Some(etag) = &t.new_etag {
            f.etag = etag.clone();
        }
        if let Some(expiry) = &t.restore_expiry {
            row.restore_expiry = Some(expiry.clone());
        }
        if let Some(reason) = &t.reason {
            row.reason = Some(reason.clone());
        }
        // A file the task moved has no multipart copy under way any more.
        if t.to.is_final() {
            row.upload = None;
        }
        Some(row.file.clone())
    }
}

impl FileStore for MemoryMeta {
    async fn put_files(&self, files: &[FileRecord]) -> Result<()> {
        let mut t = self.tables();
        // A batch put replaces each item whole: its task, step and upload go with it.
        for f in files {
            t.files.insert(file_key(&f.asset_id, f.shard, &f.key), FileRow::new(f));
        }
        Ok(())
    }

    async fn register_file(&self, file: &FileRecord) -> Result<bool> {
        let mut t = self.tables();
        let key = file_key(&file.asset_id, file.shard, &file.key);
        if t.files.contains_key(&key) {
            return Ok(false);
        }
        t.files.insert(key, FileRow::new(file));
        // DynamoDB's unconditional update would make a bare item of the counts for an asset
        // that does not exist; no asset, nothing to count here.
        if let Some(row) = t.assets.get_mut(&file.asset_id) {
            let small = file.size < SMALL_OBJECT_BYTES;
            let sizes = Sizes { count: 1, bytes: file.size, small_count: u64::from(small), small_bytes: if small { file.size } else { 0 } };
            super::assets::add_sizes(&mut row.asset, &sizes);
            super::assets::take_class(&mut row.asset, file.storage_class.into());
        }
        Ok(true)
    }

    async fn files_page(&self, asset_id: &str, shard: u32, cursor: Option<&str>, limit: usize) -> Result<(Vec<LocatedFile>, Option<String>)> {
        if limit == 0 {
            // A Limit of 0 is refused by DynamoDB (the adapter passes it on as it is).
            return Err(Error::dependency("read asset files", "Limit must be at least 1"));
        }
        let t = self.tables();
        let pk = file_pk(asset_id, shard);
        let entries = t
            .files
            .range((pk.clone(), String::new())..)
            .take_while(|((p, _), _)| *p == pk)
            .filter(|((_, key), _)| cursor.is_none_or(|c| key.as_str() > c))
            .map(|((_, key), row)| (key.clone(), row.located()));
        Ok(page(entries, limit))
    }

    async fn steps_of(&self, asset_id: &str, files: &[FileRecord]) -> Result<Registry> {
        let t = self.tables();
        // By the asset given, not the files' own claim: a file of another asset is not found.
        Ok(files
            .iter()
            .filter_map(|f| t.files.get(&file_key(asset_id, f.shard, &f.key)))
            .map(|row| (row.file.key.clone(), row.located()))
            .collect())
    }

    async fn restore_expired(&self, file: &FileRecord) -> Result<bool> {
        let mut t = self.tables();
        let Some(row) = t.files.get_mut(&file_key(&file.asset_id, file.shard, &file.key)).filter(|row| row.file.state == FileState::Restored) else {
            return Ok(false);
        };
        row.file.state = FileState::Archived;
        row.restore_expiry = None;
        // A restored asset is one whose every file can be read: the first window to end ends that.
        if let Some(row) = t.assets.get_mut(&file.asset_id).filter(|row| row.asset.state == AssetState::Restored) {
            row.asset.state = AssetState::Archived;
        }
        Ok(true)
    }

    /// The `ByLocation` index is eventually consistent on DynamoDB (the file is then read
    /// consistently by its key): here both are consistent. Of several items of one location,
    /// the first in key order.
    async fn find_by_object(&self, bucket: &str, key: &str) -> Result<Option<LocatedFile>> {
        let t = self.tables();
        Ok(t.files.values().find(|row| row.file.bucket == bucket && row.file.key == key).map(FileRow::located))
    }

    async fn record_upload(&self, task_id: &TaskId, file: &FileRecord, upload_id: &str, replacing: Option<&str>) -> Result<bool> {
        let mut t = self.tables();
        let Some(row) = t.files.get_mut(&file_key(&file.asset_id, file.shard, &file.key)) else { return Ok(false) };
        let task = task_id.as_str();
        // Not moved by the task yet (as a transition from QUEUED requires), and no upload of
        // this task recorded but the one this replaces.
        let not_moved = row.task_id.as_deref() != Some(task) || row.step == Some(FileStep::Queued);
        let upload_task = row.upload.as_ref().map(|(t, _)| t.as_str());
        let slot = match replacing {
            Some(old) => row.upload.as_ref().is_some_and(|(t, id)| t == task && id == old),
            None => upload_task != Some(task),
        };
        if !(not_moved && slot) {
            return Ok(false);
        }
        row.upload = Some((task.to_string(), upload_id.to_string()));
        Ok(true)
    }
}
