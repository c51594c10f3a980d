//! The application registry, the audit trail and legal holds.

use super::*;
use crate::domain::audit::AuditQuery;
use crate::domain::hold::HoldSubject;
use crate::error::{Error, Result};
use crate::ports::{ApplicationStore, AuditStore, HoldStore};

/// The audit entry's sort key: its time, then its request (unique, in time order).
fn audit_sk(e: &AuditEntry) -> String {
    format!("{}#{}", e.at, e.request_id)
}

/// The caller an entry is found under: its registry key, or the caller as given.
fn audit_caller(e: &AuditEntry) -> String {
    e.principal.clone().unwrap_or_else(|| e.caller.clone())
}

/// A page cursor as the DynamoDB adapter makes one: the last entry's keys (the table's, and the
/// index's on `ByCaller`), hex-encoded JSON.
fn encode_cursor(keys: &[(&str, &str)]) -> Result<String> {
    let map: BTreeMap<&str, &str> = keys.iter().copied().collect();
    Ok(hex::encode(serde_json::to_vec(&map).map_err(|e| Error::dependency("encode cursor", e))?))
}

/// A cursor read back: the adapter's validation (400 for what it did not give), then the keys
/// the query needs, which DynamoDB checks (a start key without them is its ValidationException,
/// a dependency failure to the adapter).
fn decode_cursor(cursor: &str, needed: &[&str]) -> Result<BTreeMap<String, String>> {
    let bad = || Error::validation(format!("cursor {cursor:?} is not one this API gave"));
    let bytes = hex::decode(cursor).map_err(|_| bad())?;
    let map: BTreeMap<String, String> = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let allowed = ["subject", "sk", "caller"];
    if map.is_empty() || map.keys().any(|k| !allowed.contains(&k.as_str())) {
        return Err(bad());
    }
    if needed.iter().any(|k| !map.contains_key(*k)) {
        return Err(Error::dependency("read audit trail", "the provided starting key is invalid"));
    }
    Ok(map)
}

impl ApplicationStore for MemoryMeta {
    async fn get_application(&self, principal: &str) -> Result<Option<Application>> {
        Ok(self.tables().applications.get(principal).cloned())
    }

    async fn put_application(&self, app: &Application) -> Result<Option<Application>> {
        Ok(self.tables().applications.insert(app.principal.clone(), app.clone()))
    }

    async fn delete_application(&self, principal: &str) -> Result<Option<Application>> {
        Ok(self.tables().applications.remove(principal))
    }

    async fn applications(&self) -> Result<Vec<Application>> {
        Ok(self.tables().applications.values().cloned().collect())
    }
}

impl AuditStore for MemoryMeta {
    /// Entries are kept: DynamoDB's TTL removes them in its own time, and no read filters them.
    async fn record_audit(&self, entry: &AuditEntry, _keep_days: i64) -> Result<()> {
        self.tables().audit.insert((entry.subject.clone(), audit_sk(entry)), entry.clone());
        Ok(())
    }

    /// Newest first: a subject's entries by their sort key, a caller's through `ByCaller` (an
    /// eventually consistent index on DynamoDB, consistent here; entries of one caller with the
    /// same sort key come by subject, newest-first order reversed as well).
    async fn audit_page(&self, query: &AuditQuery, limit: usize, cursor: Option<&str>) -> Result<(Vec<AuditEntry>, Option<String>)> {
        let t = self.tables();
        let mut entries: Vec<((String, String), &AuditEntry)> = t
            .audit
            .iter()
            .filter(|((subject, _), e)| match query {
                AuditQuery::Subject(s) => subject == s,
                AuditQuery::Caller(c) => audit_caller(e) == *c,
            })
            .map(|((subject, sk), e)| ((sk.clone(), subject.clone()), e))
            .collect();
        entries.sort_by(|a, b| b.0.cmp(&a.0));
        let after = match (cursor, query) {
            (None, _) => None,
            (Some(c), AuditQuery::Subject(_)) => Some((decode_cursor(c, &["subject", "sk"])?["sk"].clone(), None)),
            (Some(c), AuditQuery::Caller(_)) => {
                let keys = decode_cursor(c, &["caller", "sk", "subject"])?;
                Some((keys["sk"].clone(), Some(keys["subject"].clone())))
            }
        };
        let entries = entries.into_iter().filter(|((sk, subject), _)| match &after {
            None => true,
            Some((after_sk, None)) => sk < after_sk,
            Some((after_sk, Some(after_subject))) => (sk, subject) < (after_sk, after_subject),
        });
        let (rows, last) = page(entries, clamp(limit));
        let next = match (last, query) {
            (None, _) => None,
            (Some((sk, subject)), AuditQuery::Subject(_)) => Some(encode_cursor(&[("subject", &subject), ("sk", &sk)])?),
            (Some((sk, subject)), AuditQuery::Caller(caller)) => Some(encode_cursor(&[("subject", &subject), ("sk", &sk), ("caller", caller)])?),
        };
        Ok((rows.into_iter().cloned().collect(), next))
    }
}

impl HoldStore for MemoryMeta {
    async fn place_hold(&self, hold: &Hold) -> Result<bool> {
        let mut t = self.tables();
        let key = hold.subject.key();
        if t.holds.contains_key(&key) {
            return Ok(false);
        }
        t.holds.insert(key, hold.clone());
        Ok(true)
    }

    async fn release_hold(&self, subject: &HoldSubject) -> Result<Option<Hold>> {
        Ok(self.tables().holds.remove(&subject.key()))
    }

    async fn get_hold(&self, subject: &HoldSubject) -> Result<Option<Hold>> {
        Ok(self.tables().holds.get(&subject.key()).cloned())
    }

    async fn holds_on(&self, asset_id: &str, title_id: &str) -> Result<Vec<Hold>> {
        let t = self.tables();
        let subjects = [HoldSubject::Asset(asset_id.to_string()), HoldSubject::Title(title_id.to_string())];
        Ok(subjects.iter().filter_map(|s| t.holds.get(&s.key()).cloned()).collect())
    }

    async fn holds(&self) -> Result<Vec<Hold>> {
        Ok(self.tables().holds.values().cloned().collect())
    }
}
