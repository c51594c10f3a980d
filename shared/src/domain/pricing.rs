//! What storage costs: a price table read from configuration (config/prices.json), never prices
//! in code. Per-object rules: the 128 KiB billing minimum of STANDARD_IA and GLACIER_IR, and the
//! 40 KiB index overhead of GLACIER and DEEP_ARCHIVE (32 KiB at the archive rate, 8 KiB at
//! STANDARD's).

use super::action::StorageClass;
use crate::error::{Error, Result};
use serde::Deserialize;
use std::collections::HashMap;

const GB: f64 = 1024.0 * 1024.0 * 1024.0;

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ClassPrice {
    pub gb_month: f64,
    pub transition_per_1000: f64,
    pub min_days: u32,
    pub min_object_bytes: u64,
    pub archive_overhead_bytes: u64,
    pub standard_overhead_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PriceTable {
    pub region: String,
    classes: HashMap<String, ClassPrice>,
}

impl PriceTable {
    pub fn from_json(text: &str) -> Result<Self> {
        let table: PriceTable = serde_json::from_str(text).map_err(|e| Error::Config(format!("price table: {e}")))?;
        for c in StorageClass::ALL {
            if !table.classes.contains_key(c.as_str()) {
                return Err(Error::Config(format!("price table has no price for {c}")));
            }
        }
        Ok(table)
    }

    pub fn class(&self, class: StorageClass) -> &ClassPrice {
        &self.classes[class.as_str()]
    }

    /// Monthly storage cost of one object of `size` bytes in `class`.
    pub fn object_month(&self, class: StorageClass, size: u64) -> f64 {
        let p = self.class(class);
        let billed = size.max(p.min_object_bytes) + p.archive_overhead_bytes;
        let standard = self.class(StorageClass::Standard).gb_month;
        billed as f64 / GB * p.gb_month + p.standard_overhead_bytes as f64 / GB * standard
    }

    /// One-off cost of moving `objects` objects into `class`.
    pub fn transition(&self, class: StorageClass, objects: u64) -> f64 {
        objects as f64 / 1000.0 * self.class(class).transition_per_1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prices() -> PriceTable {
        PriceTable::from_json(include_str!("../../../config/prices.json")).unwrap()
    }

    #[test]
    fn a_gib_in_standard_costs_the_listed_rate() {
        assert!((prices().object_month(StorageClass::Standard, 1 << 30) - 0.023).abs() < 1e-9);
    }

    #[test]
    fn small_objects_are_billed_at_the_128k_minimum_in_glacier_ir() {
        let p = prices();
        assert_eq!(p.object_month(StorageClass::GlacierIr, 1), p.object_month(StorageClass::GlacierIr, 128 * 1024));
    }

    #[test]
    fn deep_archive_adds_40k_per_object_partly_at_the_standard_rate() {
        let p = prices();
        let expected = 32768.0 / GB * 0.00099 + 8192.0 / GB * 0.023;
        assert!((p.object_month(StorageClass::DeepArchive, 0) - expected).abs() < 1e-15);
    }

    #[test]
    fn a_table_missing_a_class_is_refused() {
        let err = PriceTable::from_json(r#"{"region":"x","classes":{}}"#).unwrap_err();
        assert!(err.to_string().contains("STANDARD"), "{err}");
    }

    #[test]
    fn transitions_are_priced_per_thousand_objects() {
        assert!((prices().transition(StorageClass::Glacier, 2000) - 0.06).abs() < 1e-12);
    }
}
