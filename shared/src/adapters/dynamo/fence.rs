//! The one fence of paged work: a cursor stored on an item and moved only from the value the
//! mover carries, in one conditional update with the step's other changes. Two deliveries of a
//! message cannot both move it, so only one counts its page and sends the next message; a stale
//! one finds the cursor moved and does nothing. Backfill pages (the asset's `backfill_cursor`),
//! sweep pages (the sweep record's `sweep_cursor`) and an asset's sweep (the asset's
//! `sweep_cursor`) all move through here.

use super::*;
use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;

/// A cursor move: `attr` from `prev` (None: the attribute absent) to `next` (None: removed, the
/// work is done).
pub(super) struct Fence<'a> {
    pub attr: &'a str,
    pub prev: Option<&'a str>,
    pub next: Option<&'a str>,
}

/// The rest of a fenced step: more to SET, ADD and REMOVE, more conditions, and their values.
#[derive(Default)]
pub(super) struct Step {
    pub set: Vec<String>,
    pub add: Vec<String>,
    pub remove: Vec<String>,
    pub condition: Vec<String>,
    pub values: Vec<(String, AV)>,
    pub return_new: bool,
}

impl DynamoStore {
    /// Moves the cursor of the item `key` in `table` and applies the step, only while the cursor
    /// is `prev` and the step's conditions hold. None when the fence failed.
    pub(super) async fn move_cursor(&self, table: &str, key: (&str, &str), fence: Fence<'_>, mut step: Step) -> Result<Option<UpdateItemOutput>> {
        match fence.next {
            Some(next) => {
                step.set.push(format!("{} = :fence_next", fence.attr));
                step.values.push((":fence_next".into(), s(next)));
            }
            None => step.remove.push(fence.attr.to_string()),
        }
        match fence.prev {
            Some(prev) => {
                step.condition.push(format!("{} = :fence_prev", fence.attr));
                step.values.push((":fence_prev".into(), s(prev)));
            }
            None => step.condition.push(format!("attribute_not_exists({})", fence.attr)),
        }
        let mut expr = Vec::new();
        for (word, parts) in [("SET", &step.set), ("ADD", &step.add), ("REMOVE", &step.remove)] {
            if !parts.is_empty() {
                expr.push(format!("{word} {}", parts.join(", ")));
            }
        }
        let mut req = self
            .client
            .update_item()
            .table_name(table)
            .key(key.0, s(key.1))
            .update_expression(expr.join(" "))
            .condition_expression(step.condition.join(" AND "));
        for (name, value) in step.values {
            req = req.expression_attribute_values(name, value);
        }
        if step.return_new {
            req = req.return_values(ReturnValue::AllNew);
        }
        conditional("move a fenced cursor", req.send().await)
    }
}
