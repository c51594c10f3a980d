//! Part planning for copies of objects too large for one CopyObject (S3 limit: 5 GiB).

/// S3's limits on multipart uploads.
pub const MIN_PART: u64 = 5 * 1024 * 1024;
pub const MAX_PART: u64 = 5 * 1024 * 1024 * 1024;
pub const MAX_PARTS: u64 = 10_000;
pub const MAX_OBJECT: u64 = 5 * 1024 * 1024 * 1024 * 1024;
/// Objects above this size cannot be copied by a single CopyObject.
pub const SINGLE_COPY_LIMIT: u64 = 5 * 1024 * 1024 * 1024;

/// One part of a multipart copy: an inclusive byte range, as UploadPartCopy wants it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    pub number: i32,
    pub first: u64,
    pub last: u64,
}

impl Part {
    pub fn range_header(&self) -> String {
        format!("bytes={}-{}", self.first, self.last)
    }
}

/// Splits `size` bytes into parts of at least `preferred` bytes (raised as needed to stay within
/// 10,000 parts), each within S3's part limits. Returns None for sizes S3 cannot hold.
pub fn plan_parts(size: u64, preferred: u64) -> Option<Vec<Part>> {
    if size == 0 || size > MAX_OBJECT {
        return None;
    }
    let min_for_count = size.div_ceil(MAX_PARTS);
    let part = preferred.max(min_for_count).clamp(MIN_PART, MAX_PART);
    let count = size.div_ceil(part);
    Some(
        (0..count)
            .map(|i| Part {
                number: i as i32 + 1,
                first: i * part,
                last: ((i + 1) * part).min(size) - 1,
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    const GIB: u64 = 1024 * 1024 * 1024;

    fn assert_covers(parts: &[Part], size: u64) {
        assert_eq!(parts.first().unwrap().first, 0);
        assert_eq!(parts.last().unwrap().last, size - 1);
        for w in parts.windows(2) {
            assert_eq!(w[0].last + 1, w[1].first, "gap or overlap");
            assert_eq!(w[0].number + 1, w[1].number);
        }
        for p in &parts[..parts.len() - 1] {
            let len = p.last - p.first + 1;
            assert!((MIN_PART..=MAX_PART).contains(&len), "part {} is {len} bytes", p.number);
        }
        assert!(parts.len() as u64 <= MAX_PARTS);
    }

    #[test]
    fn a_6_gib_object_in_512_mib_parts_is_12_parts_covering_every_byte() {
        let parts = plan_parts(6 * GIB, GIB / 2).unwrap();
        assert_eq!(parts.len(), 12);
        assert_covers(&parts, 6 * GIB);
    }

    #[test]
    fn the_last_part_may_be_short() {
        let size = 5 * GIB + 1;
        let parts = plan_parts(size, GIB).unwrap();
        assert_eq!(parts.len(), 6);
        assert_eq!(parts[5].last - parts[5].first + 1, 1);
        assert_covers(&parts, size);
    }

    #[test]
    fn the_largest_object_stays_within_ten_thousand_parts() {
        let parts = plan_parts(MAX_OBJECT, 8 * 1024 * 1024).unwrap();
        assert!(parts.len() as u64 <= MAX_PARTS);
        assert_covers(&parts, MAX_OBJECT);
    }

    #[test]
    fn a_preferred_size_below_the_minimum_is_raised() {
        let parts = plan_parts(12 * 1024 * 1024, 1).unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].range_header(), format!("bytes=0-{}", MIN_PART - 1));
    }

    #[test]
    fn empty_and_oversized_objects_have_no_plan() {
        assert!(plan_parts(0, GIB).is_none());
        assert!(plan_parts(MAX_OBJECT + 1, GIB).is_none());
    }
}
