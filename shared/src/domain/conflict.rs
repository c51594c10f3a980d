//! One active task per asset: what becomes of a request that meets a running task. The matrix
//! is written out in docs/architecture.md ("Conflicts") and pinned by the test below.

use super::action::Action;

/// The answer to a request on an asset that a task holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The running task does what was asked: the request gets that task.
    Join,
    /// The request waits in the asset's one queue slot and starts when the running task ends.
    Queue(&'static str),
    /// Refused (409), with why.
    Refuse(&'static str),
}

/// What a request for `new` gets while a task doing `running` holds the asset.
pub fn answer(running: &Action, new: &Action) -> Answer {
    use Action::*;
    match (running, new) {
        (a, b) if a == b => Answer::Join,
        (Archive { .. }, Archive { .. }) => {
            Answer::Refuse("the asset is being archived to another class; request again when that archive ends")
        }
        (Archive { .. }, Restore { .. }) => Answer::Queue("the restore starts when the archive ends, on the archived files"),
        (Archive { .. }, Purge) => Answer::Queue(
            "copies in flight cannot be taken back; the purge starts when the archive ends and deletes every version",
        ),
        (Restore { .. }, Archive { .. }) => Answer::Refuse(
            "the asset is being restored for a reader, and a restored copy expires by itself; archive after the restore ends",
        ),
        (Restore { .. }, Restore { .. }) => Answer::Queue(
            "S3 takes a new restore of an object only once the running one completed; the queued restore then sets the new window",
        ),
        (Restore { .. }, Purge) => {
            Answer::Refuse("the asset is being restored for a reader; purge after the restore ends")
        }
        (Purge, _) => Answer::Refuse("the asset is being purged"),
    }
}

/// What a request gets when a task holds the asset and another waits in its queue slot.
pub fn answer_queued(running: &Action, queued: &Action, new: &Action) -> Answer {
    match answer(running, new) {
        Answer::Join => Answer::Join,
        Answer::Refuse(why) => Answer::Refuse(why),
        Answer::Queue(_) if queued == new => Answer::Join,
        Answer::Queue(_) => Answer::Refuse("another task waits for this asset already; request again when it has started"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{RestoreTier, StorageClass};

    #[test]
    fn the_conflict_matrix() {
        let glacier = Action::Archive { storage_class: StorageClass::Glacier };
        let deep = Action::Archive { storage_class: StorageClass::DeepArchive };
        let restore = Action::Restore { days: 3, tier: RestoreTier::Bulk };
        let longer = Action::Restore { days: 10, tier: RestoreTier::Bulk };
        let purge = Action::Purge;
        let kind = |a: Answer| match a {
            Answer::Join => "join",
            Answer::Queue(_) => "queue",
            Answer::Refuse(_) => "refuse",
        };
        let cases = [
            (&glacier, &glacier, "join"),
            (&glacier, &deep, "refuse"),
            (&glacier, &restore, "queue"),
            (&glacier, &purge, "queue"),
            (&restore, &glacier, "refuse"),
            (&restore, &restore, "join"),
            (&restore, &longer, "queue"),
            (&restore, &purge, "refuse"),
            (&purge, &glacier, "refuse"),
            (&purge, &restore, "refuse"),
            (&purge, &purge, "join"),
        ];
        for (running, new, expected) in cases {
            assert_eq!(kind(answer(running, new)), expected, "{} while {} runs", new.fingerprint(), running.fingerprint());
        }
    }

    #[test]
    fn one_queue_slot() {
        let glacier = Action::Archive { storage_class: StorageClass::Glacier };
        let restore = Action::Restore { days: 3, tier: RestoreTier::Bulk };
        // the same request as the queued one joins it; another is refused; a join of the running task stays a join
        assert_eq!(answer_queued(&glacier, &restore, &restore), Answer::Join);
        assert!(matches!(answer_queued(&glacier, &restore, &Action::Purge), Answer::Refuse(_)));
        assert_eq!(answer_queued(&glacier, &restore, &glacier), Answer::Join);
        assert!(matches!(answer_queued(&Action::Purge, &restore, &restore), Answer::Refuse(_)));
    }
}
