//! An S3 Inventory report read into a footprint: its manifest.json (which data files, in which
//! schema) and its CSV rows, each object placed in its asset by the key layout. The bytes are
//! the caller's to fetch (and to decompress): this only reads them.

use super::asset::Asset;
use super::layout::KeyLayout;
use super::pricing::Sizes;
use super::savings::footprint_asset;
use crate::error::{Error, Result};
use chrono::NaiveDate;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The parts of an S3 Inventory manifest an assessment reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub source_bucket: String,
    #[serde(default)]
    pub destination_bucket: String,
    pub file_format: String,
    pub file_schema: String,
    pub files: Vec<ManifestFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ManifestFile {
    pub key: String,
    pub size: u64,
    #[serde(rename = "MD5checksum", default)]
    pub md5: String,
}

/// The columns an assessment needs.
const NEEDED: [&str; 4] = ["Key", "Size", "LastModifiedDate", "StorageClass"];

impl Manifest {
    pub fn parse(text: &str) -> Result<Self> {
        let m: Manifest = crate::json::parse("inventory manifest", text)?;
        if m.file_format != "CSV" {
            return Err(Error::validation(format!("inventory format {} is not read here: configure the inventory as CSV", m.file_format)));
        }
        let columns = m.columns();
        let missing: Vec<&str> = NEEDED.iter().copied().filter(|c| !columns.iter().any(|k| k == c)).collect();
        if !missing.is_empty() {
            return Err(Error::validation(format!("the inventory lacks the fields {} (add them to its optional fields)", missing.join(", "))));
        }
        if m.files.is_empty() {
            return Err(Error::validation("the manifest lists no data file"));
        }
        Ok(m)
    }

    /// The CSV columns, in order (S3 writes them without a header row).
    pub fn columns(&self) -> Vec<String> {
        self.file_schema.split(',').map(|c| c.trim().to_string()).collect()
    }
}

/// What the rows add up to: the assets, and what did not fit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Objects {
    /// Per asset: (title, type, created on: the oldest object's day, class or MIXED, sizes).
    assets: BTreeMap<String, (String, String, NaiveDate, String, Vec<u64>)>,
    /// The asset of the last row and its prefix: rows of one asset come together, and a key
    /// under the same prefix is that asset's without placing it again.
    last: Option<(String, String)>,
    /// Objects whose key the layout does not place, and their bytes.
    pub outside_layout: (u64, u64),
    /// Noncurrent versions and delete markers: left out (no strategy here acts on them).
    pub not_current: u64,
}

impl Objects {
    /// Reads the rows of one data file (decompressed) in the manifest's schema.
    pub fn read(&mut self, columns: &[String], layout: &KeyLayout, data: impl std::io::Read, file: &str) -> Result<()> {
        let at = |name: &str| columns.iter().position(|c| c == name);
        let (key, size, modified, class) = (at("Key"), at("Size"), at("LastModifiedDate"), at("StorageClass"));
        let (Some(key), Some(size), Some(modified), Some(class)) = (key, size, modified, class) else {
            return Err(Error::validation(format!("the inventory lacks one of the fields {}", NEEDED.join(", "))));
        };
        let (latest, marker) = (at("IsLatest"), at("IsDeleteMarker"));
        let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(false).from_reader(data);
        for (n, row) in reader.records().enumerate() {
            let bad = |why: String| Error::validation(format!("{file}, row {}: {why}", n + 1));
            let row = row.map_err(|e| bad(e.to_string()))?;
            let field = |i: usize| row.get(i).ok_or_else(|| bad(format!("{} columns, the schema has {}", row.len(), columns.len())));
            if latest.is_some_and(|i| row.get(i) == Some("false")) || marker.is_some_and(|i| row.get(i) == Some("true")) {
                self.not_current += 1;
                continue;
            }
            let k = urlencoding::decode(field(key)?).map_err(|e| bad(format!("key: {e}")))?;
            let bytes: u64 = field(size)?.parse().map_err(|_| bad(format!("size {:?} is not a number", field(size).unwrap_or(""))))?;
            let day = field(modified)?.get(..10).and_then(|d| d.parse::<NaiveDate>().ok()).ok_or_else(|| bad(format!("last modified {:?} is not a date", field(modified).unwrap_or(""))))?;
            let storage = match field(class)? {
                "" => "STANDARD",
                c => c,
            };
            let asset_id = match &self.last {
                Some((id, prefix)) if k.starts_with(prefix.as_str()) => id.clone(),
                _ => {
                    let Ok(place) = layout.place(&k) else {
                        self.outside_layout.0 += 1;
                        self.outside_layout.1 += bytes;
                        continue;
                    };
                    self.last = Some((place.asset_id.clone(), place.prefix));
                    self.assets.entry(place.asset_id.clone()).or_insert_with(|| (place.title_id, place.asset_type, day, storage.to_string(), Vec::new()));
                    place.asset_id
                }
            };
            let entry = self.assets.get_mut(&asset_id).expect("placed above");
            entry.2 = entry.2.min(day);
            if entry.3 != storage {
                entry.3 = super::asset::MIXED.to_string();
            }
            entry.4.push(bytes);
        }
        Ok(())
    }

    pub fn into_assets(self) -> Vec<Asset> {
        self.assets
            .into_iter()
            .map(|(id, (title, asset_type, created, class, sizes))| footprint_asset(&id, &title, &asset_type, created, &class, Sizes::of(&sizes)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"{
        "sourceBucket": "media", "destinationBucket": "arn:aws:s3:::inventory", "version": "2016-11-30",
        "creationTimestamp": "1767225600000", "fileFormat": "CSV",
        "fileSchema": "Bucket, Key, Size, LastModifiedDate, StorageClass, IsLatest",
        "files": [{"key": "media/all/data/a.csv.gz", "size": 10, "MD5checksum": "x"}]}"#;

    fn read(rows: &str) -> Result<Objects> {
        let m = Manifest::parse(MANIFEST).unwrap();
        let mut o = Objects::default();
        o.read(&m.columns(), &"{title_id}/{asset_type}/{asset_id}/".parse().unwrap(), rows.as_bytes(), "a.csv.gz")?;
        Ok(o)
    }

    #[test]
    fn rows_are_placed_in_their_assets_by_the_layout_with_keys_url_decoded() {
        let o = read(concat!(
            "\"media\",\"tln/editorial/reel%2D1/a%20take.mov\",\"1000\",\"2025-06-02T10:00:00.000Z\",\"STANDARD\",\"true\"\n",
            "\"media\",\"tln/editorial/reel%2D1/b.mov\",\"3000\",\"2025-05-01T10:00:00.000Z\",\"GLACIER\",\"true\"\n",
            "\"media\",\"tln/editorial/reel%2D1/b.mov\",\"3000\",\"2025-04-01T10:00:00.000Z\",\"STANDARD\",\"false\"\n",
            "\"media\",\"loose.txt\",\"7\",\"2025-06-02T10:00:00.000Z\",\"STANDARD\",\"true\"\n",
        ))
        .unwrap();
        assert_eq!(o.outside_layout, (1, 7));
        assert_eq!(o.not_current, 1);
        let assets = o.into_assets();
        assert_eq!(assets.len(), 1);
        let a = &assets[0];
        assert_eq!((a.asset_id.as_str(), a.title_id.as_str(), a.asset_type.as_str()), ("reel-1", "tln", "editorial"));
        assert_eq!((a.file_count, a.total_bytes, a.storage_class.as_str()), (2, 4000, "MIXED"));
        assert_eq!(a.created_on, "2025-05-01".parse::<NaiveDate>().unwrap());
    }

    #[test]
    fn a_bad_row_is_refused_naming_the_file_and_row() {
        let err = read("\"media\",\"tln/e/r/a\",\"lots\",\"2025-06-02T10:00:00.000Z\",\"STANDARD\",\"true\"\n").unwrap_err();
        assert_eq!(err.to_string(), "invalid input: a.csv.gz, row 1: size \"lots\" is not a number");
        let err = read("\"media\",\"tln/e/r/a\",\"1\",\"yesterday\",\"STANDARD\",\"true\"\n").unwrap_err();
        assert!(err.to_string().contains("row 1: last modified \"yesterday\" is not a date"), "{err}");
        assert!(read("\"media\",\"tln/e/r/a\",\"1\"\n").is_err(), "a short row");
    }

    #[test]
    fn a_manifest_without_the_needed_fields_or_in_another_format_is_refused() {
        let no_class = MANIFEST.replace(", StorageClass", "");
        assert_eq!(Manifest::parse(&no_class).unwrap_err().to_string(), "invalid input: the inventory lacks the fields StorageClass (add them to its optional fields)");
        let parquet = MANIFEST.replace("\"CSV\"", "\"Parquet\"");
        assert!(Manifest::parse(&parquet).unwrap_err().to_string().contains("configure the inventory as CSV"));
        let empty = MANIFEST.replace(r#"[{"key": "media/all/data/a.csv.gz", "size": 10, "MD5checksum": "x"}]"#, "[]");
        assert!(Manifest::parse(&empty).is_err());
    }
}
