//! An S3 Inventory report read into a footprint: its manifest.json (which data files, in which
//! schema) and its CSV rows, each object placed in its asset by the key layout. The bytes are
//! the caller's to fetch (and to decompress): this only reads them.

use super::asset::{Asset, AssetClass};
use super::layout::KeyLayout;
use super::pricing::Sizes;
use super::repair::KeyVersion;
use super::StorageClass;
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

impl Manifest {
    pub fn parse(text: &str) -> Result<Self> {
        let m: Manifest = crate::json::parse("inventory manifest", text)?;
        if m.file_format != "CSV" {
            return Err(Error::validation(format!("inventory format {} is not read here: configure the inventory as CSV", m.file_format)));
        }
        InventorySchema::parse(&m.file_schema, ASSESSED_FIELDS)?;
        if m.files.is_empty() {
            return Err(Error::validation("the manifest lists no data file"));
        }
        Ok(m)
    }

    /// Where each field sits in the data files' rows (S3 writes them without a header row).
    pub fn schema(&self) -> Result<InventorySchema> {
        InventorySchema::parse(&self.file_schema, ASSESSED_FIELDS)
    }
}

/// What the rows add up to: the assets, and what did not fit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Objects {
    /// Per asset: (title, type, created on: the oldest object's day, class or MIXED, sizes).
    assets: BTreeMap<String, (String, String, NaiveDate, AssetClass, Vec<u64>)>,
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
    pub fn read(&mut self, schema: &InventorySchema, layout: &KeyLayout, data: impl std::io::Read, file: &str) -> Result<()> {
        let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(data);
        for (n, record) in reader.records().enumerate() {
            let bad = |why: String| Error::validation(format!("{file}, row {}: {why}", n + 1));
            let record = record.map_err(|e| bad(e.to_string()))?;
            let Some((_, v)) = schema.row(&record).map_err(bad)? else {
                self.not_current += 1;
                continue;
            };
            let day = v.last_modified.map(|t| t.date_naive()).ok_or_else(|| bad("no last modified date".into()))?;
            let asset_id = match &self.last {
                Some((id, prefix)) if v.key.starts_with(prefix.as_str()) => id.clone(),
                _ => {
                    let Ok(place) = layout.place(&v.key) else {
                        self.outside_layout.0 += 1;
                        self.outside_layout.1 += v.size;
                        continue;
                    };
                    self.last = Some((place.asset_id.clone(), place.prefix));
                    self.assets.entry(place.asset_id.clone()).or_insert_with(|| (place.title_id, place.asset_type, day, AssetClass::One(v.storage_class), Vec::new()));
                    place.asset_id
                }
            };
            let entry = self.assets.get_mut(&asset_id).expect("placed above");
            entry.2 = entry.2.min(day);
            entry.3 = entry.3.and(v.storage_class.into());
            entry.4.push(v.size);
        }
        Ok(())
    }

    pub fn into_assets(self) -> Vec<Asset> {
        self.assets
            .into_iter()
            .map(|(id, (title, asset_type, created, class, sizes))| footprint_asset(&id, &title, &asset_type, created, class, Sizes::of(&sizes)))
            .collect()
    }
}

/// The fields an inventory lists when none are named: S3 Inventory's default order.
pub const DEFAULT_INVENTORY_SCHEMA: &str = "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, StorageClass";
/// What registering an inventory's objects needs beyond Bucket, Key and Size.
pub const REGISTERED_FIELDS: &[&str] = &["ETag", "StorageClass"];
/// What assessing them needs.
pub const ASSESSED_FIELDS: &[&str] = &["LastModifiedDate", "StorageClass"];

/// A key or prefix slm accepts from outside: no `..` segment, no control character, at most
/// 1,024 bytes (S3's limit).
pub fn check_key_text(field: &str, v: &str) -> Result<()> {
    if v.split('/').any(|p| p == "..") || v.chars().any(char::is_control) || v.len() > 1024 {
        return Err(Error::validation(format!("{field} {v:?} has '..', control characters or more than 1024 bytes")));
    }
    Ok(())
}

/// Where each field sits in an inventory line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventorySchema {
    text: String,
    bucket: usize,
    key: usize,
    version: Option<usize>,
    latest: Option<usize>,
    marker: Option<usize>,
    size: usize,
    etag: Option<usize>,
    class: Option<usize>,
    modified: Option<usize>,
}

impl InventorySchema {
    /// The schema of `text` (a manifest's `fileSchema`), which must list Bucket, Key, Size and
    /// the fields its reader `needs`.
    pub fn parse(text: &str, needs: &[&str]) -> Result<Self> {
        let fields: Vec<&str> = text.split(',').map(str::trim).collect();
        let at = |name: &str| fields.iter().position(|f| *f == name);
        let need = |name: &str| at(name).ok_or_else(|| Error::validation(format!("inventory schema {text:?} has no {name} field (add it to the inventory's fields)")));
        let (bucket, key, size) = (need("Bucket")?, need("Key")?, need("Size")?);
        for name in needs {
            need(name)?;
        }
        Ok(InventorySchema {
            text: text.to_string(),
            bucket,
            key,
            version: at("VersionId"),
            latest: at("IsLatest"),
            marker: at("IsDeleteMarker"),
            size,
            etag: at("ETag"),
            class: at("StorageClass"),
            modified: at("LastModifiedDate"),
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// One line as (bucket, current version); None for older versions and delete markers.
    pub fn row(&self, r: &csv::StringRecord) -> std::result::Result<Option<(String, KeyVersion)>, String> {
        let get = |i: usize| r.get(i).ok_or_else(|| format!("line has {} fields, the schema more", r.len()));
        let flag = |i: Option<usize>| i.and_then(|i| r.get(i)).map(|v| v.eq_ignore_ascii_case("true"));
        if flag(self.latest) == Some(false) || flag(self.marker) == Some(true) {
            return Ok(None);
        }
        // Inventory keys are URL-encoded.
        let key = urlencoding::decode(get(self.key)?).map_err(|e| format!("key not UTF-8: {e}"))?.into_owned();
        check_key_text("key", &key).map_err(|e| e.to_string())?;
        let etag = self.etag.and_then(|i| r.get(i)).unwrap_or_default().trim_matches('"');
        let last_modified = match self.modified.map(get).transpose()? {
            Some(t) => Some(chrono::DateTime::parse_from_rfc3339(t).map_err(|_| format!("last modified {t:?} is not a date"))?.with_timezone(&chrono::Utc)),
            None => None,
        };
        Ok(Some((
            get(self.bucket)?.to_string(),
            KeyVersion {
                key,
                version_id: self.version.and_then(|i| r.get(i)).filter(|v| !v.is_empty()).unwrap_or("null").to_string(),
                etag: format!("\"{etag}\""),
                size: get(self.size).and_then(|v| v.parse().map_err(|_| format!("size {v:?} is not a number")))?,
                // An empty class is STANDARD, and a class slm does not know is kept by its name.
                storage_class: StorageClass::from_s3(self.class.map(get).transpose()?).map_err(|e| e.to_string())?,
                latest: true,
                delete_marker: false,
                last_modified,
            },
        )))
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
        o.read(&m.schema().unwrap(), &"{title_id}/{asset_type}/{asset_id}/".parse().unwrap(), rows.as_bytes(), "a.csv.gz")?;
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
        assert!(Manifest::parse(&no_class).unwrap_err().to_string().ends_with("has no StorageClass field (add it to the inventory's fields)"));
        let parquet = MANIFEST.replace("\"CSV\"", "\"Parquet\"");
        assert!(Manifest::parse(&parquet).unwrap_err().to_string().contains("configure the inventory as CSV"));
        let empty = MANIFEST.replace(r#"[{"key": "media/all/data/a.csv.gz", "size": 10, "MD5checksum": "x"}]"#, "[]");
        assert!(Manifest::parse(&empty).is_err());
    }

    fn record(line: &str) -> csv::StringRecord {
        csv::ReaderBuilder::new().has_headers(false).from_reader(line.as_bytes()).records().next().unwrap().unwrap()
    }

    #[test]
    fn inventory_lines_by_the_default_schema() {
        let s = InventorySchema::parse(DEFAULT_INVENTORY_SCHEMA, REGISTERED_FIELDS).unwrap();
        let (bucket, v) = s.row(&record(r#""media","t1/cam/a1/reel%201/f.ari","v3","true","false","52428800","2026-11-01T00:00:00.000Z","d41d8cd98f00b204e9800998ecf8427e","GLACIER""#)).unwrap().unwrap();
        assert_eq!((bucket.as_str(), v.key.as_str(), v.version_id.as_str(), v.size, v.storage_class), ("media", "t1/cam/a1/reel 1/f.ari", "v3", 52_428_800, StorageClass::Glacier));
        assert_eq!(v.etag, "\"d41d8cd98f00b204e9800998ecf8427e\"");
        assert_eq!(s.row(&record(r#""media","k","v2","false","false","1","x","e","STANDARD""#)).unwrap(), None, "an older version");
        assert_eq!(s.row(&record(r#""media","k","v4","true","true","","x","","""#)).unwrap(), None, "a delete marker");
        assert!(s.row(&record(r#""media","a%2F..%2Fb","","true","false","1","x","e","STANDARD""#)).is_err(), "a key with ..");
        assert!(s.row(&record(r#""media","k","","true","false","big","x","e","STANDARD""#)).is_err());
    }

    #[test]
    fn a_schema_needs_the_fields_slm_registers() {
        assert!(InventorySchema::parse("Bucket, Key, Size, ETag", REGISTERED_FIELDS).is_err());
        // The keys are named first, whatever else the reader needs.
        let err = InventorySchema::parse("Bucket, Size", REGISTERED_FIELDS).unwrap_err().to_string();
        assert!(err.contains("has no Key field"), "{err}");
        let s = InventorySchema::parse("Bucket, Key, Size, ETag, StorageClass", REGISTERED_FIELDS).unwrap();
        let (_, v) = s.row(&record(r#""b","k","3","e","STANDARD_IA""#)).unwrap().unwrap();
        assert_eq!((v.version_id.as_str(), v.storage_class), ("null", StorageClass::StandardIa));
    }

    #[test]
    fn inventory_lines_of_every_class_are_registered_with_it() {
        let s = InventorySchema::parse("Bucket, Key, Size, ETag, StorageClass", REGISTERED_FIELDS).unwrap();
        let class = |c: &str| s.row(&record(&format!(r#""b","k","3","e","{c}""#))).unwrap().unwrap().1.storage_class;
        assert_eq!(class("INTELLIGENT_TIERING"), StorageClass::IntelligentTiering);
        assert_eq!(class("ONEZONE_IA"), StorageClass::OnezoneIa);
        assert_eq!(class("FSX_OPENZFS").as_str(), "FSX_OPENZFS");
        assert!(s.row(&record(r#""b","k","3","e","not a class""#)).unwrap_err().contains("A-Z"));
    }
}
