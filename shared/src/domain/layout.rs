//! The key layout: how an object's key names its title, asset type and asset, so objects are
//! registered as they arrive (ObjectCreated) or by a backfill, without a call to the API.
//! Configured per deployment (`ASSET_KEY_LAYOUT`, default `{title_id}/{asset_type}/{asset_id}/`).

use super::asset::validate_id;
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    TitleId,
    AssetType,
    AssetId,
}

/// A parsed layout: `/`-separated segments, each a literal or one of `{title_id}`,
/// `{asset_type}`, `{asset_id}` (each exactly once); the asset's prefix ends after the last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLayout {
    segments: Vec<Segment>,
}

/// Where a key belongs by the layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub title_id: String,
    pub asset_type: String,
    pub asset_id: String,
    /// The asset's prefix: the key's segments up to the layout's end, with a trailing '/'.
    pub prefix: String,
}

pub const DEFAULT_LAYOUT: &str = "{title_id}/{asset_type}/{asset_id}/";

impl std::str::FromStr for KeyLayout {
    type Err = Error;

    fn from_str(pattern: &str) -> Result<Self> {
        let bad = |why: &str| Error::validation(format!("key layout {pattern:?}: {why}"));
        let body = pattern.strip_suffix('/').ok_or_else(|| bad("must end with '/'"))?;
        let mut segments = Vec::new();
        for part in body.split('/') {
            segments.push(match part {
                "{title_id}" => Segment::TitleId,
                "{asset_type}" => Segment::AssetType,
                "{asset_id}" => Segment::AssetId,
                p if p.is_empty() || p == ".." || p.contains(['{', '}']) || p.chars().any(char::is_control) => {
                    return Err(bad(&format!("segment {p:?} is neither a literal nor a placeholder")));
                }
                p => Segment::Literal(p.to_string()),
            });
        }
        for needed in [Segment::TitleId, Segment::AssetType, Segment::AssetId] {
            if segments.iter().filter(|s| **s == needed).count() != 1 {
                return Err(bad("needs {title_id}, {asset_type} and {asset_id}, each once"));
            }
        }
        Ok(KeyLayout { segments })
    }
}

impl Default for KeyLayout {
    fn default() -> Self {
        DEFAULT_LAYOUT.parse().expect("the default layout parses")
    }
}

impl KeyLayout {
    /// The asset a key belongs to, or why it belongs to none (outside the layout, or its ids
    /// are not ids slm accepts). A key must lie below the asset's prefix, not be the prefix.
    pub fn place(&self, key: &str) -> std::result::Result<Placement, String> {
        let parts: Vec<&str> = key.split('/').collect();
        if parts.len() <= self.segments.len() || parts[self.segments.len()..].iter().all(|p| p.is_empty()) {
            return Err(format!("{key:?} is not below an asset prefix of the layout"));
        }
        let (mut title_id, mut asset_type, mut asset_id) = ("", "", "");
        for (segment, part) in self.segments.iter().zip(&parts) {
            match segment {
                Segment::Literal(l) if l != part => return Err(format!("{key:?} does not start with the layout's {l:?}")),
                Segment::Literal(_) => {}
                Segment::TitleId => title_id = part,
                Segment::AssetType => asset_type = part,
                Segment::AssetId => asset_id = part,
            }
        }
        for (field, value) in [("title_id", title_id), ("asset_type", asset_type), ("asset_id", asset_id)] {
            validate_id(field, value).map_err(|e| format!("{key:?}: {e}"))?;
        }
        let prefix = format!("{}/", parts[..self.segments.len()].join("/"));
        Ok(Placement { title_id: title_id.into(), asset_type: asset_type.into(), asset_id: asset_id.into(), prefix })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_placed_by_the_default_layout() {
        let layout = KeyLayout::default();
        let p = layout.place("show-1/camera_original/A001/reel 1/frame_0001.ari").unwrap();
        assert_eq!((p.title_id.as_str(), p.asset_type.as_str(), p.asset_id.as_str(), p.prefix.as_str()), ("show-1", "camera_original", "A001", "show-1/camera_original/A001/"));
        for outside in ["show-1/camera_original/A001/", "show-1/camera_original/A001", "show-1/x.exr", "show-1/cam/A001//", "a/b/c d/e.exr", "a/b/../e.exr"] {
            assert!(layout.place(outside).is_err(), "{outside}");
        }
    }

    #[test]
    fn layouts_with_literals_and_another_order() {
        let layout: KeyLayout = "media/{asset_type}/{title_id}/assets/{asset_id}/".parse().unwrap();
        let p = layout.place("media/vfx_plate/t9/assets/p-1/f.exr").unwrap();
        assert_eq!((p.title_id.as_str(), p.asset_id.as_str(), p.prefix.as_str()), ("t9", "p-1", "media/vfx_plate/t9/assets/p-1/"));
        assert!(layout.place("other/vfx_plate/t9/assets/p-1/f.exr").is_err());
    }

    #[test]
    fn bad_layouts_are_refused() {
        for bad in ["{title_id}/{asset_type}/{asset_id}", "{title_id}/{asset_id}/", "{title_id}/{asset_type}/{asset_id}/{asset_id}/", "a//{title_id}/{asset_type}/{asset_id}/", "{title}/{asset_type}/{asset_id}/", "../{title_id}/{asset_type}/{asset_id}/"] {
            assert!(bad.parse::<KeyLayout>().is_err(), "{bad}");
        }
    }
}
