//! A job's [`Status`], and sets of statuses as the indexes count them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a job is in its lifecycle.
///
/// `Pending → Working → Successful | Failed`, and `Pending → Successful |
/// Failed` directly. `Successful` and `Failed` are final.
///
/// On the wire a status is its lower-case name (`"pending"`, …); parsing is
/// exact and case-sensitive, as the API is.
///
/// ```
/// use joblog::Status;
///
/// let status: Status = "working".parse()?;
/// assert_eq!(status, Status::Working);
/// assert!(status.can_become(Status::Successful));
/// assert!(!Status::Failed.can_become(Status::Working));
/// assert!("Working".parse::<Status>().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Waiting to run.
    Pending,
    /// Running.
    Working,
    /// Finished with an error (final).
    Failed,
    /// Finished well (final).
    Successful,
}

impl Status {
    /// Every status, in the order the API page lists them.
    pub const ALL: [Status; 4] = [
        Status::Pending,
        Status::Working,
        Status::Failed,
        Status::Successful,
    ];

    /// The wire name: `pending`, `working`, `failed` or `successful`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Working => "working",
            Status::Failed => "failed",
            Status::Successful => "successful",
        }
    }

    /// Whether the job is done: `Successful` or `Failed`.
    pub fn is_finished(self) -> bool {
        matches!(self, Status::Failed | Status::Successful)
    }

    /// Whether the lifecycle allows moving from `self` to `next`.
    ///
    /// Staying on the same status is not a move; [`JobStore::set_status`]
    /// treats it as a no-op that succeeds.
    ///
    /// [`JobStore::set_status`]: crate::JobStore::set_status
    pub fn can_become(self, next: Status) -> bool {
        match self {
            Status::Pending => next != Status::Pending,
            Status::Working => next.is_finished(),
            Status::Failed | Status::Successful => false,
        }
    }

    /// A dense number 0..4, in the order of [`Status::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`Status`] from a string that names none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseStatusError(());

impl fmt::Display for ParseStatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("must be one of pending, working, failed, successful")
    }
}

impl std::error::Error for ParseStatusError {}

impl FromStr for Status {
    type Err = ParseStatusError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or(ParseStatusError(()))
    }
}

/// A set of statuses, as a bit per [`Status::index`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct StatusSet(u8);

impl StatusSet {
    pub(crate) const ALL: StatusSet = StatusSet(0b1111);

    /// `successful` and `failed`: the jobs retention may drop.
    pub(crate) const FINISHED: StatusSet =
        StatusSet(1 << Status::Failed as u8 | 1 << Status::Successful as u8);

    pub(crate) fn with(self, status: Status) -> StatusSet {
        StatusSet(self.0 | 1 << status.index())
    }

    pub(crate) fn contains(self, status: Status) -> bool {
        self.0 & (1 << status.index()) != 0
    }

    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Sum of the counts, kept per [`Status::index`], of the statuses in the set.
    pub(crate) fn sum(self, counts: &[u32; 4]) -> usize {
        self.iter()
            .map(|status| counts[status.index()] as usize)
            .sum()
    }

    pub(crate) fn iter(self) -> impl Iterator<Item = Status> {
        Status::ALL
            .into_iter()
            .filter(move |&status| self.contains(status))
    }
}
