//! The local stack keeps DynamoDB's promises that slm's counters and conditional state changes
//! rest on: each write to an item is atomic, and a transaction is seen all at once or not at all.
//! moto's server answers requests on several threads, and its TransactWriteItems writes as it
//! goes and, when the transaction is cancelled, puts back copies of the tables it names, wiping
//! what other requests wrote to them meanwhile (a task's counters once ended at planned 900,
//! succeeded 900, outstanding -3). The local stack runs moto's DynamoDB requests one at a time
//! (infra/local/moto_server.py). These tests write or read one item from many tasks while
//! transactions on the same table are cancelled; without the lock each of them fails.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, PutRequest, TransactWriteItem, WriteRequest};
use futures::{StreamExt, future::join_all, stream};
use slm_e2e::TestStack;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::task::JoinHandle;

/// Items beside the contested one: moto copies a table of this many in tens of milliseconds, a
/// wide window for a write to be wiped when a cancelled transaction puts the copy back.
const FILLER: usize = 3000;

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn key(id: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([("task_id".to_string(), s(id))])
}

/// The session's tasks table holding `item` and then FILLER task-shaped items. The contested item
/// is written first: moto copies a table in the order its items were written, so a write to it
/// anywhere in the copy's duration is one a cancellation wipes.
async fn tasks_table_with(t: &TestStack, item: HashMap<String, AttributeValue>) -> String {
    let table = t.stack.table("TasksTable").unwrap().to_string();
    let db = &t.clients.dynamodb;
    db.put_item().table_name(&table).set_item(Some(item)).send().await.unwrap();
    let filler: Vec<WriteRequest> = (0..FILLER)
        .map(|i| {
            let mut item = key(&format!("filler-{i:05}"));
            for (name, value) in [("action", s("archive")), ("status", s("SUCCEEDED")), ("storage_class", s("GLACIER")), ("created_at", s("2025-01-01T00:00:00Z"))] {
                item.insert(name.into(), value);
            }
            for counter in ["planned", "succeeded", "failed", "outstanding"] {
                item.insert(counter.into(), n(0));
            }
            WriteRequest::builder().put_request(PutRequest::builder().set_item(Some(item)).build().unwrap()).build()
        })
        .collect();
    let batches = filler.chunks(25).map(|batch| db.batch_write_item().request_items(&table, batch.to_vec()).send());
    let written: Vec<_> = stream::iter(batches).buffer_unordered(8).collect().await;
    for out in written {
        assert!(out.unwrap().unprocessed_items().is_none_or(|u| u.is_empty()), "the emulator left filler unwritten");
    }
    table
}

/// A transaction's check of `condition` on item `id` of `table`.
fn check(table: &str, id: &str, condition: &str) -> TransactWriteItem {
    let check = ConditionCheck::builder().table_name(table).set_key(Some(key(id))).condition_expression(condition).build().unwrap();
    TransactWriteItem::builder().condition_check(check).build()
}

/// A transaction that is always cancelled: it checks that an absent item exists.
fn cancelled(table: &str) -> Vec<TransactWriteItem> {
    vec![check(table, "absent", "attribute_exists(task_id)")]
}

/// A transaction cancelled back to back, by one task until stopped: one is enough, the table's
/// copies then cover most of the time.
struct Cancelling {
    stop: Arc<AtomicBool>,
    task: JoinHandle<usize>,
}

impl Cancelling {
    fn start(db: &Client, transaction: Vec<TransactWriteItem>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (db, stopped) = (db.clone(), stop.clone());
        let task = tokio::spawn(async move {
            let mut cancelled = 0;
            while !stopped.load(Ordering::Relaxed) {
                let err = db.transact_write_items().set_transact_items(Some(transaction.clone())).send().await.expect_err("the transaction is cancelled");
                assert!(err.as_service_error().is_some_and(|e| e.is_transaction_canceled_exception()), "{err:?}");
                cancelled += 1;
            }
            cancelled
        });
        Cancelling { stop, task }
    }

    /// Stops it and says how many were cancelled.
    async fn stop(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap()
    }
}

async fn read_n(db: &Client, table: &str, id: &str, attribute: &str) -> i64 {
    let out = db.get_item().table_name(table).set_key(Some(key(id))).consistent_read(true).send().await.unwrap();
    out.item().and_then(|i| i.get(attribute)).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_concurrent_add_to_one_counter_is_counted() {
    const WRITERS: usize = 16;
    const ADDS: usize = 30;
    // GIVEN a counter at 0 among 3,000 items of the stack's tasks table
    let t = TestStack::start("dynamodb-add").await.unwrap();
    let db = &t.clients.dynamodb;
    let table = tasks_table_with(&t, HashMap::from([("task_id".into(), s("counter")), ("n".into(), n(0))])).await;
    // AND transactions on the table being cancelled all along
    let cancelling = Cancelling::start(db, cancelled(&table));

    // WHEN 16 writers each add 1 to it 30 times, as a task's workers add to its counters
    let add = || async {
        let mut added = 0;
        for _ in 0..ADDS {
            db.update_item().table_name(&table).set_key(Some(key("counter"))).update_expression("ADD n :one").expression_attribute_values(":one", n(1)).send().await.unwrap();
            added += 1;
        }
        added
    };
    let added: i64 = join_all((0..WRITERS).map(|_| add())).await.into_iter().sum();
    let cancelled = cancelling.stop().await;

    // THEN the counter is exactly the number of adds
    assert!(cancelled > 0, "no transaction was cancelled meanwhile: the test proved nothing");
    let counted = read_n(db, &table, "counter", "n").await;
    assert_eq!(counted, added, "{added} adds answered OK while {cancelled} transactions were cancelled, and the counter says {counted}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_concurrent_conditional_updates_expecting_the_same_value_exactly_one_wins() {
    const ROUNDS: i64 = 25;
    const CONTENDERS: usize = 8;
    // GIVEN v = 0 on an item among 3,000 of the stack's tasks table
    let t = TestStack::start("dynamodb-cas").await.unwrap();
    let db = &t.clients.dynamodb;
    let table = tasks_table_with(&t, HashMap::from([("task_id".into(), s("contested")), ("v".into(), n(0))])).await;
    // AND transactions on the table being cancelled all along
    let cancelling = Cancelling::start(db, cancelled(&table));

    // WHEN, round after round, 8 writers each set v = v + 1 if v is the round's number
    let increment_if = |expected: i64| {
        let request = db
            .update_item()
            .table_name(&table)
            .set_key(Some(key("contested")))
            .update_expression("SET v = v + :one")
            .condition_expression("v = :expected")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":expected", n(expected));
        async move {
            match request.send().await {
                Ok(_) => true,
                Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => false,
                Err(e) => panic!("{e:?}"),
            }
        }
    };
    let mut winners = Vec::new();
    for round in 0..ROUNDS {
        let won = join_all((0..CONTENDERS).map(|_| increment_if(round))).await;
        winners.push(won.into_iter().filter(|w| *w).count());
    }
    let cancelled = cancelling.stop().await;

    // THEN each round has exactly one winner, and v counts the rounds
    assert!(cancelled > 0, "no transaction was cancelled meanwhile: the test proved nothing");
    let v = read_n(db, &table, "contested", "v").await;
    assert!(winners.iter().all(|w| *w == 1), "winners by round, {cancelled} transactions cancelled meanwhile: {winners:?}");
    assert_eq!(v, ROUNDS, "v after {ROUNDS} rounds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_read_sees_the_write_of_a_cancelled_transaction() {
    const READERS: usize = 8;
    const READS: usize = 100;
    // GIVEN transactions on the stack's tasks table, cancelled back to back, that write a task and
    // then check a condition false of an absent item and slow to evaluate (moto writes as it goes)
    let t = TestStack::start("dynamodb-read").await.unwrap();
    let db = &t.clients.dynamodb;
    let table = t.stack.table("TasksTable").unwrap();
    let put = TransactWriteItem::builder().put(Put::builder().table_name(table).set_item(Some(key("uncommitted"))).build().unwrap()).build();
    // 150 terms: about 4 KB, DynamoDB's most for an expression; moto parses it in milliseconds.
    let slow_and_false = (0..150).map(|i| format!("attribute_exists(a{i})")).collect::<Vec<_>>().join(" OR ");
    let cancelling = Cancelling::start(db, vec![put, check(table, "absent", &slow_and_false)]);

    // WHEN 8 readers each get that task 100 times
    let read = || async {
        let mut found = 0;
        for _ in 0..READS {
            let out = db.get_item().table_name(table).set_key(Some(key("uncommitted"))).consistent_read(true).send().await.unwrap();
            found += usize::from(out.item().is_some());
        }
        found
    };
    let found: usize = join_all((0..READERS).map(|_| read())).await.into_iter().sum();
    let cancelled = cancelling.stop().await;

    // THEN none finds it: a transaction's writes are seen all together once it commits, or never
    assert!(cancelled > 0, "no transaction was cancelled meanwhile: the test proved nothing");
    assert_eq!(found, 0, "{found} of {} reads found the task of a cancelled transaction ({cancelled} cancelled)", READERS * READS);
}
