//! The catalog: policy versions and titles.

use super::*;
use crate::domain::Policy;
use crate::domain::policy::tests::{policy, title};
use crate::ports::{PolicyStore, TitleStore};

const DOC: &str = r#"{"policy_id":"ID","selector":{"phases":["final"]},"anchor":"title.launch","offset_days":30,"action":{"action":"archive","storage_class":"GLACIER"},"priority":10}"#;

fn version(id: &str, n: u32) -> Policy {
    Policy { version: n, created_by: format!("v{n}"), ..policy(id, DOC) }
}

#[tokio::test]
async fn version_one_only_for_a_new_id() {
    // GIVEN a policy at version 1
    let meta = MemoryMeta::new();
    assert!(meta.put_policy(&version("p", 1)).await.unwrap());
    // WHEN version 1 is put again
    let again = meta.put_policy(&version("p", 1)).await.unwrap();
    // THEN it is refused and the first kept
    assert!(!again);
    assert_eq!(meta.get_policy("p", None).await.unwrap().unwrap().created_by, "v1");
}

#[tokio::test]
async fn version_n_plus_one_only_when_n_is_the_latest() {
    // GIVEN a policy at version 1
    let meta = MemoryMeta::new();
    meta.put_policy(&version("p", 1)).await.unwrap();
    // WHEN version 3 skips a version, then 2 comes twice (a concurrent edit)
    let skipped = meta.put_policy(&version("p", 3)).await.unwrap();
    let edit = meta.put_policy(&version("p", 2)).await.unwrap();
    let concurrent = meta.put_policy(&version("p", 2)).await.unwrap();
    // THEN only the first 2 is stored; the latest is 2 and version 1 is kept
    assert_eq!((skipped, edit, concurrent), (false, true, false));
    assert_eq!(meta.get_policy("p", None).await.unwrap().unwrap().version, 2);
    assert_eq!(meta.get_policy("p", Some(1)).await.unwrap().unwrap().created_by, "v1");
    assert_eq!(meta.get_policy("p", Some(3)).await.unwrap(), None);
    assert!(!meta.put_policy(&version("new", 2)).await.unwrap(), "no version 2 of a policy that has none");
}

#[tokio::test]
async fn current_policies_are_the_latest_of_each_in_id_order() {
    // GIVEN two policies, one edited
    let meta = MemoryMeta::new();
    meta.put_policy(&version("zeta", 1)).await.unwrap();
    meta.put_policy(&version("alpha", 1)).await.unwrap();
    meta.put_policy(&version("zeta", 2)).await.unwrap();
    // WHEN the current policies are read
    let current = meta.current_policies().await.unwrap();
    // THEN each comes once, at its latest version
    let seen: Vec<(&str, u32)> = current.iter().map(|p| (p.id(), p.version)).collect();
    assert_eq!(seen, vec![("alpha", 1), ("zeta", 2)]);
}

#[tokio::test]
async fn put_title_returns_the_title_it_replaced() {
    // GIVEN no title
    let meta = MemoryMeta::new();
    let first = meta.put_title(&title()).await.unwrap();
    // WHEN it is put again with another name
    let renamed = crate::domain::Title { name: Some("Renamed".into()), ..title() };
    let replaced = meta.put_title(&renamed).await.unwrap();
    // THEN the first put replaced nothing, the second the first
    assert_eq!((first, replaced), (None, Some(title())));
    assert_eq!(meta.get_title("tln").await.unwrap(), Some(renamed));
}
