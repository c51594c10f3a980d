//! The application registry, the audit trail and legal holds. Each item carries its keys and
//! the record as one JSON document (`doc`): these tables are read by key and written whole.

use super::*;
use crate::domain::audit::{AuditEntry, AuditQuery};
use crate::domain::grant::Application;
use crate::domain::hold::{Hold, HoldSubject};
use crate::ports::{ApplicationStore, AuditStore, HoldStore};

/// The audit table's index by caller: (`caller`, `sk`).
pub const BY_CALLER_INDEX: &str = "ByCaller";

fn doc<T: serde::Serialize>(value: &T) -> Result<AV> {
    serde_json::to_string(value).map(AV::S).map_err(|e| Error::dependency("encode record", e))
}

fn from_doc<T: serde::de::DeserializeOwned>(item: &Item) -> Result<T> {
    serde_json::from_str(&get_s(item, "doc")?).map_err(|e| Error::dependency("read record", e))
}

/// The audit entry's sort key: its time, then its request (unique, in time order).
fn audit_sk(e: &AuditEntry) -> String {
    format!("{}#{}", e.at, e.request_id)
}

/// The caller an entry is found under: its registry key, or the caller as given.
fn audit_caller(e: &AuditEntry) -> String {
    e.principal.clone().unwrap_or_else(|| e.caller.clone())
}

/// A page cursor: the last entry's keys, hex-encoded JSON (safe in a query string).
fn encode_cursor(key: &Item) -> Result<String> {
    let map: std::collections::BTreeMap<&str, &str> =
        key.iter().filter_map(|(k, v)| match v { AV::S(s) => Some((k.as_str(), s.as_str())), _ => None }).collect();
    Ok(hex::encode(serde_json::to_vec(&map).map_err(|e| Error::dependency("encode cursor", e))?))
}

fn decode_cursor(cursor: &str) -> Result<Item> {
    let bad = || Error::validation(format!("cursor {cursor:?} is not one this API gave"));
    let bytes = hex::decode(cursor).map_err(|_| bad())?;
    let map: std::collections::BTreeMap<String, String> = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let allowed = ["subject", "sk", "caller"];
    if map.is_empty() || map.keys().any(|k| !allowed.contains(&k.as_str())) {
        return Err(bad());
    }
    Ok(map.into_iter().map(|(k, v)| (k, s(v))).collect())
}

impl DynamoStore {
    /// Every record of a small table kept as documents (strongly consistent).
    async fn all_docs<T: serde::de::DeserializeOwned>(&self, table: &str, operation: &'static str) -> Result<Vec<T>> {
        let mut pages = self.client.scan().table_name(table).consistent_read(true).into_paginator().items().send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            out.push(from_doc(&item.map_err(|e| sdk_error(operation, e))?)?);
        }
        Ok(out)
    }
}

impl ApplicationStore for DynamoStore {
    async fn get_application(&self, principal: &str) -> Result<Option<Application>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.applications)
            .key("principal", s(principal))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("get application", e))?;
        out.item.as_ref().map(from_doc).transpose()
    }

    async fn put_application(&self, app: &Application) -> Result<Option<Application>> {
        let out = self
            .client
            .put_item()
            .table_name(&self.tables.applications)
            .item("principal", s(&app.principal))
            .item("doc", doc(app)?)
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| sdk_error("put application", e))?;
        old_item(out.attributes.as_ref()).map(from_doc).transpose()
    }

    async fn delete_application(&self, principal: &str) -> Result<Option<Application>> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.tables.applications)
            .key("principal", s(principal))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| sdk_error("delete application", e))?;
        old_item(out.attributes.as_ref()).map(from_doc).transpose()
    }

    async fn applications(&self) -> Result<Vec<Application>> {
        let mut out: Vec<Application> = self.all_docs(&self.tables.applications, "read applications").await?;
        out.sort_by(|a, b| a.principal.cmp(&b.principal));
        Ok(out)
    }
}

impl AuditStore for DynamoStore {
    async fn record_audit(&self, entry: &AuditEntry, keep_days: i64) -> Result<()> {
        let at = chrono::DateTime::parse_from_rfc3339(&entry.at).map(|t| t.timestamp()).unwrap_or_else(|_| chrono::Utc::now().timestamp());
        self.client
            .put_item()
            .table_name(&self.tables.audit)
            .item("subject", s(&entry.subject))
            .item("sk", s(audit_sk(entry)))
            .item("caller", s(audit_caller(entry)))
            .item("expires_at", n(at + keep_days * 86_400))
            .item("doc", doc(entry)?)
            .send()
            .await
            .map_err(|e| sdk_error("record audit entry", e))?;
        Ok(())
    }

    async fn audit_page(&self, query: &AuditQuery, limit: usize, cursor: Option<&str>) -> Result<(Vec<AuditEntry>, Option<String>)> {
        let mut q = self.client.query().table_name(&self.tables.audit).scan_index_forward(false).limit(limit.clamp(1, 1000) as i32);
        q = match query {
            AuditQuery::Subject(subject) => q.key_condition_expression("subject = :v").expression_attribute_values(":v", s(subject)),
            AuditQuery::Caller(caller) => {
                q.index_name(BY_CALLER_INDEX).key_condition_expression("caller = :v").expression_attribute_values(":v", s(caller))
            }
        };
        if let Some(c) = cursor {
            q = q.set_exclusive_start_key(Some(decode_cursor(c)?));
        }
        let out = q.send().await.map_err(|e| sdk_error("read audit trail", e))?;
        let entries = out.items().iter().map(from_doc).collect::<Result<Vec<_>>>()?;
        let next = out.last_evaluated_key.as_ref().map(encode_cursor).transpose()?;
        Ok((entries, next))
    }
}

impl HoldStore for DynamoStore {
    async fn place_hold(&self, hold: &Hold) -> Result<bool> {
        let res = self
            .client
            .put_item()
            .table_name(&self.tables.holds)
            .item("subject", s(hold.subject.key()))
            .item("doc", doc(hold)?)
            .condition_expression("attribute_not_exists(subject)")
            .send()
            .await;
        Ok(conditional("place hold", res)?.is_some())
    }

    async fn release_hold(&self, subject: &HoldSubject) -> Result<Option<Hold>> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.tables.holds)
            .key("subject", s(subject.key()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| sdk_error("release hold", e))?;
        old_item(out.attributes.as_ref()).map(from_doc).transpose()
    }

    async fn get_hold(&self, subject: &HoldSubject) -> Result<Option<Hold>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.holds)
            .key("subject", s(subject.key()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("read holds", e))?;
        out.item.as_ref().map(from_doc).transpose()
    }

    async fn holds_on(&self, asset_id: &str, title_id: &str) -> Result<Vec<Hold>> {
        // Both keys in one consistent BatchGetItem: a purge reads them before every batch.
        let keys = [HoldSubject::Asset(asset_id.to_string()), HoldSubject::Title(title_id.to_string())]
            .iter()
            .map(|subject| (self.tables.holds.clone(), Item::from([("subject".to_string(), s(subject.key()))])))
            .collect();
        let mut holds: Vec<Hold> = self.batch_get(keys, "read holds").await?.remove(&self.tables.holds).unwrap_or_default().iter().map(from_doc).collect::<Result<_>>()?;
        // Asset first, as a reader of the reason expects.
        holds.sort_by_key(|h| !matches!(h.subject, HoldSubject::Asset(_)));
        Ok(holds)
    }

    async fn holds(&self) -> Result<Vec<Hold>> {
        let mut out: Vec<Hold> = self.all_docs(&self.tables.holds, "read holds").await?;
        out.sort_by_key(|h| h.subject.key());
        Ok(out)
    }
}
