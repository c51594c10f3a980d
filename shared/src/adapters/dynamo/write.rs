//! Conditional writes: tokens that tell a write its own, conditions read as decisions,
//! transactions retried on conflicts and batches on unprocessed items.

use super::*;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_sdk_dynamodb::types::{PutRequest, TransactWriteItem, WriteRequest};

/// A token unique to one write call (its SDK retries resend the same one).
pub(super) fn write_token() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{:x}-{:x}-{n:x}", std::process::id(), nanos)
}

/// Sends a conditional update that writes `token` to `attribute`, and says whether the write is
/// this call's: Some(the item after it) when applied, Some(the item as found) when the condition
/// failed on an item already carrying this call's token (an attempt applied whose answer was lost,
/// then retried by the SDK), None when the condition failed for another reason.
pub(super) async fn own_write(request: UpdateItemFluentBuilder, operation: &'static str, attribute: &str, token: &str) -> Result<Option<Item>> {
    let res = request
        .return_values_on_condition_check_failure(aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await;
    match res {
        Ok(out) => Ok(Some(out.attributes.unwrap_or_default())),
        Err(e) => match e.as_service_error() {
            Some(aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(failed)) => {
                Ok(failed.item().filter(|item| opt_s(item, attribute).is_some_and(|w| w == token)).cloned())
            }
            _ => Err(sdk_error(operation, e)),
        },
    }
}

pub(super) fn is_conditional_failure<E: ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("ConditionalCheckFailedException")
}

/// The result of a conditional write: None when its condition did not hold.
pub(super) fn conditional<T, E>(operation: &'static str, res: std::result::Result<T, SdkError<E, HttpResponse>>) -> Result<Option<T>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match res {
        Ok(out) => Ok(Some(out)),
        Err(e) if e.as_service_error().is_some_and(is_conditional_failure) => Ok(None),
        Err(e) => Err(sdk_error(operation, e)),
    }
}

/// Puts items 25 to a BatchWriteItem, as they are, retrying unprocessed items with backoff.
pub async fn batch_put(client: &Client, table: &str, operation: &'static str, items: impl Iterator<Item = Item>) -> Result<()> {
    let requests: Vec<WriteRequest> = items
        .map(|item| WriteRequest::builder().put_request(PutRequest::builder().set_item(Some(item)).build().expect("item is set")).build())
        .collect();
    for chunk in requests.chunks(25) {
        let mut pending = chunk.to_vec();
        let mut attempt = 0u32;
        while !pending.is_empty() {
            let out = client.batch_write_item().request_items(table, pending).send().await.map_err(|e| sdk_error(operation, e))?;
            pending = out.unprocessed_items.unwrap_or_default().remove(table).unwrap_or_default();
            if !pending.is_empty() {
                attempt += 1;
                if attempt > 8 {
                    return Err(Error::retryable(operation, "unprocessed items after 8 attempts"));
                }
                tokio::time::sleep(jittered_backoff(attempt)).await;
            }
        }
    }
    Ok(())
}

impl DynamoStore {
    /// Writes the items in one transaction: true when it was applied, false when a condition
    /// cancelled it. A cancellation for a conflicting transaction or throttling is retried here,
    /// with backoff and jitter, then answered as retryable.
    pub(super) async fn transact<const N: usize>(&self, items: [TransactWriteItem; N], operation: &'static str) -> Result<bool> {
        const ATTEMPTS: u32 = 5;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let res = self.client.transact_write_items().set_transact_items(Some(items.to_vec())).send().await;
            let err = match res {
                Ok(_) => return Ok(true),
                Err(e) => e,
            };
            match cancellation(&err) {
                Some(Cancellation::Condition) => return Ok(false),
                Some(Cancellation::Transient) if attempt < ATTEMPTS => {
                    tracing::debug!(operation, attempt, "transaction cancelled by a conflict or throttling; retrying");
                    tokio::time::sleep(jittered_backoff(attempt)).await;
                }
                Some(Cancellation::Transient) => return Err(Error::retryable(operation, err)),
                Some(Cancellation::Refused) | None => return Err(sdk_error(operation, err)),
            }
        }
    }
}

/// Why DynamoDB cancelled a transaction, read from its CancellationReasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cancellation {
    /// One of its conditions did not hold: a decision, not a failure.
    Condition,
    /// Another transaction on the same items, or throttling: retry.
    Transient,
    /// Anything else (ValidationError, ItemCollectionSizeLimitExceeded): retrying cannot help.
    Refused,
}

/// None when the error is not a cancellation at all.
pub(super) fn cancellation(e: &SdkError<TransactWriteItemsError, HttpResponse>) -> Option<Cancellation> {
    let Some(TransactWriteItemsError::TransactionCanceledException(c)) = e.as_service_error() else { return None };
    Some(cancellation_by_reasons(c.cancellation_reasons().iter().filter_map(|r| r.code())))
}

/// A failed condition decides whatever else happened to the other items; with none, a conflict
/// or throttling makes the whole transaction worth retrying. A cancellation without reasons
/// (AWS always gives them; an emulator may not) is read as a condition, as before reasons
/// were read.
pub(super) fn cancellation_by_reasons<'a>(codes: impl Iterator<Item = &'a str>) -> Cancellation {
    let codes: Vec<&str> = codes.filter(|c| *c != "None").collect();
    if codes.is_empty() || codes.contains(&"ConditionalCheckFailed") {
        Cancellation::Condition
    } else if codes.iter().all(|c| matches!(*c, "TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded" | "RequestLimitExceeded")) {
        Cancellation::Transient
    } else {
        Cancellation::Refused
    }
}

impl DynamoStore {
    /// Strongly consistent reads of items of any tables, (table, key) each, once each, 100 keys a
    /// BatchGetItem (its limit), unprocessed keys read again with backoff: the items found, by
    /// table.
    pub(super) async fn batch_get(&self, keys: Vec<(String, Item)>, operation: &'static str) -> Result<HashMap<String, Vec<Item>>> {
        // BatchGetItem refuses a request naming a key twice (ValidationException): a batch that
        // names a file twice reads it once.
        let unique = unique_keys(keys);
        let mut found: HashMap<String, Vec<Item>> = HashMap::new();
        for chunk in unique.chunks(100) {
            let mut request: HashMap<String, aws_sdk_dynamodb::types::KeysAndAttributes> = HashMap::new();
            let mut by_table: HashMap<&str, Vec<Item>> = HashMap::new();
            for (table, key) in chunk {
                by_table.entry(table.as_str()).or_default().push(key.clone());
            }
            for (table, keys) in by_table {
                let k = aws_sdk_dynamodb::types::KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| Error::dependency("build a batch read", e))?;
                request.insert(table.to_string(), k);
            }
            let mut attempt = 0u32;
            loop {
                let out = self.client.batch_get_item().set_request_items(Some(request)).send().await.map_err(|e| sdk_error(operation, e))?;
                for (table, items) in out.responses.unwrap_or_default() {
                    found.entry(table).or_default().extend(items);
                }
                match out.unprocessed_keys.filter(|rest| rest.values().any(|k| !k.keys().is_empty())) {
                    Some(rest) => {
                        attempt += 1;
                        if attempt > 8 {
                            return Err(Error::retryable(operation, "unprocessed keys after 8 attempts"));
                        }
                        tokio::time::sleep(jittered_backoff(attempt)).await;
                        request = rest;
                    }
                    None => break,
                }
            }
        }
        Ok(found)
    }
}

/// The (table, key) pairs once each, in their order. A key is a map: it is told apart by its
/// attributes in name order, in one pass.
fn unique_keys(keys: Vec<(String, Item)>) -> Vec<(String, Item)> {
    let mut seen = std::collections::HashSet::new();
    keys.into_iter()
        .filter(|(table, key)| seen.insert((table.clone(), format!("{:?}", key.iter().collect::<std::collections::BTreeMap<_, _>>()))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn a_key_named_twice_is_read_once_whatever_its_attributes_order() {
        let key = |pk: &str, sk: &str| Item::from([("pk".to_string(), AV::S(pk.into())), ("object_key".to_string(), AV::S(sk.into()))]);
        let keys = vec![
            ("files".to_string(), key("a#0", "k1")),
            ("files".to_string(), key("a#0", "k2")),
            ("files".to_string(), key("a#0", "k1")),
            ("other".to_string(), key("a#0", "k1")),
        ];
        let unique = unique_keys(keys.clone());
        assert_eq!(unique, vec![keys[0].clone(), keys[1].clone(), keys[3].clone()]);
    }
    fn read(codes: &[&'static str]) -> Cancellation {
        cancellation_by_reasons(codes.iter().copied())
    }
    #[test]
    fn a_failed_condition_is_a_decision_whatever_the_other_items_say() {
        assert_eq!(read(&["None", "ConditionalCheckFailed"]), Cancellation::Condition);
        assert_eq!(read(&["TransactionConflict", "ConditionalCheckFailed"]), Cancellation::Condition);
    }
    #[test]
    fn conflicts_and_throttling_are_retried() {
        assert_eq!(read(&["None", "TransactionConflict"]), Cancellation::Transient);
        assert_eq!(read(&["ThrottlingError", "ProvisionedThroughputExceeded"]), Cancellation::Transient);
    }
    #[test]
    fn other_reasons_are_refusals_and_no_reasons_a_condition() {
        assert_eq!(read(&["ValidationError"]), Cancellation::Refused);
        assert_eq!(read(&["TransactionConflict", "ItemCollectionSizeLimitExceeded"]), Cancellation::Refused);
        assert_eq!(read(&[]), Cancellation::Condition);
    }
    #[test]
    fn backoff_stays_under_its_cap() {
        for attempt in 1..20 {
            assert!(jittered_backoff(attempt) <= std::time::Duration::from_secs(5));
        }
    }
}
