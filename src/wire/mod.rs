//! The cloud API on the wire: a request string in, JSON out.
//!
//! The rules are the crate docs' "The request" and "Errors": a malformed
//! request fails with 1100 at its first fault in request order (a missing
//! `app` after every other fault); only a well-formed request reaches the
//! planner, which may answer 1400 and then 2100.

mod request;
mod response;

pub use response::{ErrorResponse, JobElement, Response};

use crate::error::Error;
use crate::query::{Caller, Query};
use crate::store::{JobStore, Page};

impl JobStore {
    /// Answers a request string for `caller`: parse it, then
    /// [`JobStore::describe`] it.
    ///
    /// # Errors
    ///
    /// 1100 for a malformed request (see [`Query`]'s `FromStr`), then the
    /// errors of [`JobStore::describe`].
    ///
    /// ```
    /// use joblog::{Caller, Job, JobStore, Status};
    ///
    /// let mut store = JobStore::new();
    /// let at = "2018-03-04T05:37:58Z".parse()?;
    /// store.insert(Job::new("j-1", "app-1", "usr-1", "RunJob", Status::Pending, at))?;
    /// let page = store.describe_request(&Caller::user("usr-1"), "app=app-1&status=pending")?;
    /// assert_eq!(page.total_count(), 1);
    /// assert_eq!(page.jobs()[0].job_id(), "j-1");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn describe_request<'s>(
        &'s self,
        caller: &Caller,
        request: &str,
    ) -> Result<Page<'s>, Error> {
        let query: Query = request.parse()?;
        self.describe(caller, &query)
    }

    /// Answers a request string for `caller` with the API's JSON, success
    /// or failure, on one line.
    ///
    /// ```
    /// use joblog::{Caller, JobStore};
    ///
    /// let store = JobStore::new();
    /// let json = store.describe_json(&Caller::user("usr-1"), "app=app-1&status.1=bogus");
    /// assert_eq!(
    ///     json,
    ///     r#"{"ret_code":1100,"message":"ParameterError, invalid value [bogus] for parameter [status.1]: must be one of pending, working, failed, successful"}"#
    /// );
    /// let json = store.describe_json(&Caller::user("usr-1"), "app=app-1");
    /// assert_eq!(
    ///     json,
    ///     r#"{"action":"DescribeClusterJobsResponse","total_count":0,"job_set":[],"ret_code":0}"#
    /// );
    /// ```
    pub fn describe_json(&self, caller: &Caller, request: &str) -> String {
        let written = match self.describe_request(caller, request) {
            Ok(page) => Ok(response::page_json(&page)),
            Err(err) => serde_json::to_string(&err),
        };
        // Writing fails only should a stored job's JSON not read back, a
        // bug of this crate; answer as the API does for the unexpected.
        written.unwrap_or_else(|err| {
            format!(
                r#"{{"ret_code":5000,"message":"InternalError, {}"}}"#,
                err.to_string().replace(['"', '\\'], "'")
            )
        })
    }
}
