//! The catalog: titles and policies.

use super::*;
use crate::ports::{PolicyStore, TitleStore};
use crate::domain::{Policy, Title};
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};

fn title_to_item(t: &Title) -> Item {
    let mut item = Item::from([
        ("title_id".into(), s(&t.title_id)),
        ("dates".into(), AV::M(t.dates.iter().map(|(k, v)| (k.clone(), s(v.to_string()))).collect())),
        ("updated_at".into(), s(&t.updated_at)),
    ]);
    if let Some(name) = &t.name {
        item.insert("title_name".into(), s(name));
    }
    item
}

fn item_to_title(item: &Item) -> Result<Title> {
    let dates = string_map(item, "dates")
        .into_iter()
        .map(|(k, v)| v.parse().map(|d| (k.clone(), d)).map_err(|e| Error::dependency("read title", format!("date {k}={v}: {e}"))))
        .collect::<Result<_>>()?;
    Ok(Title { title_id: get_s(item, "title_id")?, name: opt_s(item, "title_name"), dates, updated_at: get_s(item, "updated_at")? })
}

impl TitleStore for DynamoStore {
    async fn put_title(&self, title: &Title) -> Result<Option<Title>> {
        let out = self
            .client
            .put_item()
            .table_name(&self.tables.titles)
            .set_item(Some(title_to_item(title)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| sdk_error("put title", e))?;
        old_item(out.attributes.as_ref()).map(item_to_title).transpose()
    }

    async fn get_title(&self, title_id: &str) -> Result<Option<Title>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.titles)
            .key("title_id", s(title_id))
            .send()
            .await
            .map_err(|e| sdk_error("get title", e))?;
        out.item.as_ref().map(item_to_title).transpose()
    }

    async fn all_titles(&self) -> Result<Vec<Title>> {
        let mut pages = self.client.scan().table_name(&self.tables.titles).into_paginator().items().send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            out.push(item_to_title(&item.map_err(|e| sdk_error("read titles", e))?)?);
        }
        Ok(out)
    }
}

/// A policy version item; version 0 is the head, a copy of the latest version.
fn policy_to_item(p: &Policy, version: u32) -> Result<Item> {
    let doc = serde_json::to_string(&p.doc).map_err(|e| Error::dependency("encode policy", e))?;
    Ok(Item::from([
        ("policy_id".into(), s(p.id())),
        ("version".into(), n(version)),
        ("latest".into(), n(p.version)),
        ("enabled".into(), AV::Bool(p.doc.enabled)),
        ("doc".into(), s(doc)),
        ("created_at".into(), s(&p.created_at)),
        ("created_by".into(), s(&p.created_by)),
    ]))
}

fn item_to_policy(item: &Item) -> Result<Policy> {
    let doc = serde_json::from_str(&get_s(item, "doc")?).map_err(|e| Error::dependency("read policy", e))?;
    Ok(Policy { doc, version: get_n(item, "latest"), created_at: get_s(item, "created_at")?, created_by: get_s(item, "created_by")? })
}

impl PolicyStore for DynamoStore {
    async fn put_policy(&self, policy: &Policy) -> Result<bool> {
        // Policies change rarely: a transaction keeps the head and the version together.
        let head = Put::builder().table_name(&self.tables.policies).set_item(Some(policy_to_item(policy, 0)?));
        let head = if policy.version == 1 {
            head.condition_expression("attribute_not_exists(policy_id)")
        } else {
            head.condition_expression("latest = :prev").expression_attribute_values(":prev", n(policy.version - 1))
        }
        .build()
        .map_err(|e| Error::dependency("build policy head", e))?;
        let version = Put::builder()
            .table_name(&self.tables.policies)
            .set_item(Some(policy_to_item(policy, policy.version)?))
            .condition_expression("attribute_not_exists(policy_id)")
            .build()
            .map_err(|e| Error::dependency("build policy version", e))?;
        self.transact([TransactWriteItem::builder().put(head).build(), TransactWriteItem::builder().put(version).build()], "store policy").await
    }

    async fn get_policy(&self, policy_id: &str, version: Option<u32>) -> Result<Option<Policy>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.policies)
            .key("policy_id", s(policy_id))
            .key("version", n(version.unwrap_or(0)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("get policy", e))?;
        out.item.as_ref().map(item_to_policy).transpose()
    }

    async fn current_policies(&self) -> Result<Vec<Policy>> {
        // The table holds a few hundred items at most (policies and their versions): one
        // paginated scan for the heads is cheaper than an index kept for it.
        let mut pages = self
            .client
            .scan()
            .table_name(&self.tables.policies)
            .filter_expression("version = :head")
            .expression_attribute_values(":head", n(0))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        let mut policies = Vec::new();
        while let Some(item) = pages.next().await {
            policies.push(item_to_policy(&item.map_err(|e| sdk_error("read policies", e))?)?);
        }
        policies.sort_by(|a, b| a.id().cmp(b.id()));
        Ok(policies)
    }
}
