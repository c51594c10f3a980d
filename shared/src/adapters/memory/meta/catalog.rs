//! The catalog: titles and policies.

use super::*;
use crate::error::Result;
use crate::ports::{PolicyStore, TitleStore};

impl TitleStore for MemoryMeta {
    async fn put_title(&self, title: &Title) -> Result<Option<Title>> {
        Ok(self.tables().titles.insert(title.title_id.clone(), title.clone()))
    }

    /// An eventually consistent read on DynamoDB; consistent here.
    async fn get_title(&self, title_id: &str) -> Result<Option<Title>> {
        Ok(self.tables().titles.get(title_id).cloned())
    }

    async fn all_titles(&self) -> Result<Vec<Title>> {
        Ok(self.tables().titles.values().cloned().collect())
    }
}

impl PolicyStore for MemoryMeta {
    async fn put_policy(&self, policy: &Policy) -> Result<bool> {
        let mut t = self.tables();
        let id = policy.id().to_string();
        let head = t.policies.get(&(id.clone(), 0));
        // Version 1 only if the id is new, version n+1 only if n is the latest; and version n
        // not kept already. (Version 0 is the head's key: DynamoDB refuses a transaction that
        // puts one item twice, and the adapter's n-1 would underflow; here it is refused.)
        let head_holds = match policy.version {
            0 => false,
            1 => head.is_none(),
            n => head.is_some_and(|h| h.version == n - 1),
        };
        if !head_holds || t.policies.contains_key(&(id.clone(), policy.version)) {
            return Ok(false);
        }
        t.policies.insert((id.clone(), 0), policy.clone());
        t.policies.insert((id, policy.version), policy.clone());
        Ok(true)
    }

    async fn get_policy(&self, policy_id: &str, version: Option<u32>) -> Result<Option<Policy>> {
        Ok(self.tables().policies.get(&(policy_id.to_string(), version.unwrap_or(0))).cloned())
    }

    async fn current_policies(&self) -> Result<Vec<Policy>> {
        // The heads, in id order (the map's order, as the adapter sorts them).
        Ok(self.tables().policies.iter().filter(|((_, version), _)| *version == 0).map(|(_, p)| p.clone()).collect())
    }
}
