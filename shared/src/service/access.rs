//! Access statistics: accesses per asset per day, recorded by the applications that read the
//! assets. The last access is a policy anchor ("unless read in the last 30 days"), so a later
//! access moves the asset's due day.

use super::schedule::Titles;
use super::{Core, Metadata};
use crate::domain::asset::validate_id;
use crate::domain::title::parse_date;
use crate::domain::{Asset, AssetState};
use crate::error::{Error, Result};
use crate::ports::{ObjectStore, Orchestrator, Queues};
use chrono::{Days, NaiveDate};
use serde::Deserialize;

/// Most accesses one record may add.
pub const MAX_ACCESSES_PER_RECORD: u64 = 1_000_000;

/// What a caller records: `count` reads of the asset on `day`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessBody {
    pub day: String,
    pub count: u64,
}

impl<M: Metadata, O: ObjectStore + Sync, Q: Queues + Sync, X: Orchestrator + Sync> Core<M, O, Q, X> {
    /// Adds the accesses and, when they are the asset's latest, puts it at its new due day.
    pub async fn record_access(&self, asset_id: &str, body: &AccessBody, today: NaiveDate) -> Result<Asset> {
        validate_id("asset_id", asset_id)?;
        let day = parse_date("day", &body.day)?;
        // A day ahead is allowed for callers east of UTC; later is a mistake.
        if day > today + Days::new(1) {
            return Err(Error::validation(format!("day {day} is in the future (today is {today})")));
        }
        if body.count == 0 || body.count > MAX_ACCESSES_PER_RECORD {
            return Err(Error::validation(format!("count must be 1-{MAX_ACCESSES_PER_RECORD}, got {}", body.count)));
        }
        let asset = self.meta.get_asset(asset_id).await?.ok_or_else(|| Error::NotFound(format!("asset {asset_id}")))?;
        if asset.state == AssetState::Purged {
            return Err(Error::Conflict(format!("asset {asset_id} is purged; it cannot be read")));
        }
        let mut after = self.meta.record_access(&asset, day, body.count).await?.ok_or_else(|| Error::NotFound(format!("asset {asset_id}")))?;
        if after.last_access_on != asset.last_access_on && after.active_task.is_none() {
            let due = self.reschedule(&after, &self.meta.current_policies().await?, &mut Titles::default()).await?;
            after.due_at = due.map(|d| d.to_string());
        }
        Ok(after)
    }
}
