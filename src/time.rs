//! Time on the wire and in the indexes: RFC 3339 in, `YYYY-MM-DDThh:mm:ssZ`
//! out, nanoseconds since the epoch as index keys.

use std::fmt;

use chrono::{DateTime, Datelike, Timelike, Utc};

/// A time as an index key: nanoseconds since the Unix epoch, or `None`
/// outside the range an `i64` holds (about 1677-09-21 to 2262-04-11).
pub(crate) fn to_nanos(time: DateTime<Utc>) -> Option<i64> {
    time.timestamp_nanos_opt()
}

/// An index key back as a time.
pub(crate) fn from_nanos(nanos: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(nanos)
}

/// `time` in RFC 3339, UTC, with every non-zero fraction digit: the form
/// records and events keep, which [`parse_timestamp`] reads back exactly.
pub(crate) fn format_precise(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Writes a timestamp the way the API does: `YYYY-MM-DDThh:mm:ssZ`, whole
/// seconds, UTC.
///
/// ```
/// let at = joblog::chrono::DateTime::parse_from_rfc3339("2018-03-04T13:37:58.9+08:00")?;
/// assert_eq!(joblog::format_timestamp(at.to_utc()), "2018-03-04T05:37:58Z");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn format_timestamp(time: DateTime<Utc>) -> String {
    Stamp(time).to_string()
}

/// Appends the API's form of a time kept as nanoseconds since the epoch:
/// what [`Stamp`] writes of it, without making a `DateTime` (the days are
/// turned into a date with the civil-from-days algorithm of Howard
/// Hinnant's "chrono-Compatible Low-Level Date Algorithms").
pub(crate) fn push_stamp(out: &mut String, nanos: i64) {
    let seconds = nanos.div_euclid(1_000_000_000);
    let (days, of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    // From 1677 to 2262 (an i64 of nanoseconds), always four digits.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let of_era = z.rem_euclid(146_097);
    let year_of_era = (of_era - of_era / 1460 + of_era / 36_524 - of_era / 146_096) / 365;
    let day_of_year = of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    let mut text = *b"0000-00-00T00:00:00Z";
    let mut put = |at: usize, value: i64| {
        text[at..at + 2].copy_from_slice(pair(value).as_bytes());
    };
    put(0, year / 100);
    put(2, year);
    put(5, month);
    put(8, day);
    put(11, of_day / 3600);
    put(14, of_day / 60 % 60);
    put(17, of_day % 60);
    // Only ASCII digits and punctuation were placed.
    out.push_str(std::str::from_utf8(&text).unwrap_or_default());
}

/// Two digits at a time, from a table of "00" to "99".
const PAIRS: &str = "0001020304050607080910111213141516171819\
                     2021222324252627282930313233343536373839\
                     4041424344454647484950515253545556575859\
                     6061626364656667686970717273747576777879\
                     8081828384858687888990919293949596979899";

/// The two digits of `value % 100` (Euclidean, so never negative).
fn pair(value: i64) -> &'static str {
    let at = 2 * value.rem_euclid(100) as usize;
    PAIRS.get(at..at + 2).unwrap_or("00")
}

/// `YYYY-MM-DDThh:`, the part of a stamp [`StampWriter`] remembers.
const DATE_HOUR: usize = 14;

/// Every `mm:ssZ` of an hour, one after the other, made when compiling.
static MINUTES_SECONDS: &str = {
    static BYTES: [u8; 6 * 3600] = {
        let mut bytes = [b':'; 6 * 3600];
        let mut i = 0;
        while i < 3600 {
            let (minute, second) = ((i / 60) as u8, (i % 60) as u8);
            bytes[6 * i] = b'0' + minute / 10;
            bytes[6 * i + 1] = b'0' + minute % 10;
            bytes[6 * i + 3] = b'0' + second / 10;
            bytes[6 * i + 4] = b'0' + second % 10;
            bytes[6 * i + 5] = b'Z';
            i += 1;
        }
        bytes
    };
    match std::str::from_utf8(&BYTES) {
        Ok(text) => text,
        Err(_) => panic!("digits, colons and Z are ASCII"),
    }
};

/// Appends the API's form of many times, as [`push_stamp`] writes each.
/// It remembers the date and hour of the last: the times of one page fall
/// in a few hours at most, so most copy them and take `mm:ssZ` from a
/// table, two copies of a known length.
#[derive(Default)]
pub(crate) struct StampWriter {
    /// `YYYY-MM-DDThh:`.
    date_hour: String,
    /// Hours since the epoch of `date_hour`.
    hour: Option<i64>,
}

impl StampWriter {
    // Inlined at both of an element's times: a call costs a tenth of it.
    #[inline(always)]
    pub(crate) fn push(&mut self, out: &mut String, nanos: i64) {
        // Unsigned division is cheaper; times before 1970 are rare.
        let (hour, of_hour) = match u64::try_from(nanos) {
            Ok(nanos) => {
                let seconds = nanos / 1_000_000_000;
                ((seconds / 3600) as i64, (seconds % 3600) as usize)
            }
            Err(_) => {
                let seconds = nanos.div_euclid(1_000_000_000);
                (seconds.div_euclid(3600), seconds.rem_euclid(3600) as usize)
            }
        };
        if self.hour != Some(hour) {
            self.remember(hour, nanos);
        }
        // Both are there: a stamp is 20 ASCII bytes, the table 6 a second.
        if let Some(date_hour) = self.date_hour.get(..DATE_HOUR) {
            out.push_str(date_hour);
        }
        let at = 6 * of_hour;
        if let Some(rest) = MINUTES_SECONDS.get(at..at + 6) {
            out.push_str(rest);
        }
    }

    /// Takes the date and hour of `nanos`, `hour` hours since the epoch:
    /// kept apart, as it is rare, so the common path stays small.
    #[cold]
    #[inline(never)]
    fn remember(&mut self, hour: i64, nanos: i64) {
        self.hour = Some(hour);
        self.date_hour.clear();
        push_stamp(&mut self.date_hour, nanos);
    }
}

/// A timestamp written the API's way; digits are placed by hand, since
/// answers write two per job.
pub(crate) struct Stamp(pub(crate) DateTime<Utc>);

impl fmt::Display for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let time = self.0;
        let year = match u32::try_from(time.year()) {
            Ok(year) if year <= 9999 => year,
            _ => return write!(f, "{}", time.format("%Y-%m-%dT%H:%M:%SZ")),
        };
        let mut text = *b"0000-00-00T00:00:00Z";
        let mut put = |at: usize, width: usize, mut value: u32| {
            for slot in text[at..at + width].iter_mut().rev() {
                *slot = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        put(0, 4, year);
        put(5, 2, time.month());
        put(8, 2, time.day());
        put(11, 2, time.hour());
        put(14, 2, time.minute());
        // A leap second is written as second 60, as chrono would.
        put(17, 2, time.second() + time.nanosecond() / 1_000_000_000);
        f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
    }
}

impl serde::Serialize for Stamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Reads an RFC 3339 / ISO 8601 timestamp in any offset into UTC, keeping
/// its full precision. A leap second is accepted only where one can be,
/// at `23:59:60` UTC, and read as the second after it (`00:00:00`), as the
/// count of seconds since the epoch has it.
///
/// # Errors
///
/// [`ParseTimestampError`] when `text` is not RFC 3339, or has a second 60
/// anywhere but 23:59 UTC.
///
/// ```
/// let at = joblog::parse_timestamp("2018-03-04T13:37:58.520+08:00")?;
/// assert_eq!(at.timestamp_subsec_millis(), 520);
/// assert_eq!(joblog::format_timestamp(at), "2018-03-04T05:37:58Z");
/// let leap = joblog::parse_timestamp("2016-12-31T23:59:60Z")?;
/// assert_eq!(joblog::format_timestamp(leap), "2017-01-01T00:00:00Z");
/// let err = joblog::parse_timestamp("2018-03-04T05:37:60Z").unwrap_err();
/// assert_eq!(err.to_string(), "a leap second (:60) can only be 23:59:60 UTC");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn parse_timestamp(text: &str) -> Result<DateTime<Utc>, ParseTimestampError> {
    let time = DateTime::parse_from_rfc3339(text)
        .map_err(ParseTimestampError::Format)?
        .to_utc();
    let Some(rest) = time.timestamp_subsec_nanos().checked_sub(1_000_000_000) else {
        return Ok(time);
    };
    if (time.hour(), time.minute()) != (23, 59) {
        return Err(ParseTimestampError::MisplacedLeapSecond);
    }
    // Kept as the second after it: the store counts nanoseconds since the
    // epoch, where there is no second 60. RFC 3339 years end at 9999, far
    // inside chrono's range, so that second always exists.
    DateTime::from_timestamp(time.timestamp() + 1, rest)
        .ok_or(ParseTimestampError::MisplacedLeapSecond)
}

/// Why a timestamp does not parse ([`parse_timestamp`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseTimestampError {
    /// Not RFC 3339: chrono's reason.
    Format(chrono::ParseError),
    /// A second 60 anywhere but 23:59 UTC, where no leap second can be.
    MisplacedLeapSecond,
}

impl fmt::Display for ParseTimestampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseTimestampError::Format(err) => write!(f, "{err}"),
            ParseTimestampError::MisplacedLeapSecond => {
                f.write_str("a leap second (:60) can only be 23:59:60 UTC")
            }
        }
    }
}

impl std::error::Error for ParseTimestampError {}

/// Serde for timestamps in the API's wire form, for `#[serde(with = …)]`:
/// written `YYYY-MM-DDThh:mm:ssZ` ([`format_timestamp`]), read as RFC 3339
/// in any offset ([`parse_timestamp`]).
///
/// ```
/// use joblog::chrono::{DateTime, Utc};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct Audit {
///     #[serde(with = "joblog::timestamp")]
///     at: DateTime<Utc>,
///     #[serde(default, with = "joblog::timestamp::option")]
///     until: Option<DateTime<Utc>>,
/// }
///
/// let audit: Audit = serde_json::from_str(r#"{"at":"2018-03-04T13:37:58.5+08:00"}"#)?;
/// assert!(audit.until.is_none());
/// assert_eq!(
///     serde_json::to_string(&audit)?,
///     r#"{"at":"2018-03-04T05:37:58Z","until":null}"#
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub mod timestamp {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error as _};

    /// Writes `time` as `YYYY-MM-DDThh:mm:ssZ`.
    ///
    /// # Errors
    ///
    /// The serializer's own errors.
    pub fn serialize<S: Serializer>(
        time: &DateTime<Utc>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        super::Stamp(*time).serialize(serializer)
    }

    /// Reads an RFC 3339 timestamp, as [`parse_timestamp`] does.
    ///
    /// # Errors
    ///
    /// A custom error quoting the text when it is not RFC 3339.
    ///
    /// [`parse_timestamp`]: crate::parse_timestamp
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<DateTime<Utc>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        super::parse_timestamp(&text).map_err(|err| {
            D::Error::custom(format_args!(
                "invalid timestamp {text:?}: {err} (expected RFC 3339, e.g. 2018-03-04T05:37:58Z)"
            ))
        })
    }

    /// Serde helpers that keep every digit: RFC 3339 in UTC with as many
    /// fraction digits as the time needs (none for a whole second, so
    /// `2018-03-04T05:38:00Z` stays as it is), for records that must read
    /// back exactly: jobs in the ingest form, change events.
    ///
    /// ```
    /// use joblog::chrono::{DateTime, Utc};
    ///
    /// #[derive(serde::Serialize, serde::Deserialize)]
    /// struct Stamped {
    ///     #[serde(with = "joblog::timestamp::precise")]
    ///     at: DateTime<Utc>,
    /// }
    ///
    /// let at: DateTime<Utc> = "2018-03-04T13:37:58.000000250+08:00".parse()?;
    /// let json = serde_json::to_string(&Stamped { at })?;
    /// assert_eq!(json, r#"{"at":"2018-03-04T05:37:58.000000250Z"}"#);
    /// assert_eq!(serde_json::from_str::<Stamped>(&json)?.at, at);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub mod precise {
        use chrono::{DateTime, Utc};
        use serde::{Deserializer, Serializer};

        /// Writes `time` in RFC 3339, UTC, with every non-zero fraction
        /// digit.
        ///
        /// # Errors
        ///
        /// The serializer's own errors.
        pub fn serialize<S: Serializer>(
            time: &DateTime<Utc>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            serializer.collect_str(&crate::time::format_precise(*time))
        }

        /// Reads an RFC 3339 timestamp, as [`deserialize`](super::deserialize).
        ///
        /// # Errors
        ///
        /// As [`deserialize`](super::deserialize).
        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<DateTime<Utc>, D::Error> {
            super::deserialize(deserializer)
        }
    }

    /// The same for an `Option`: `null` (or, with `#[serde(default)]`, an
    /// absent field) is `None`.
    pub mod option {
        use chrono::{DateTime, Utc};
        use serde::{Deserialize, Deserializer, Serialize, Serializer};

        #[derive(Serialize, Deserialize)]
        struct Wrapped(#[serde(with = "super")] DateTime<Utc>);

        /// Writes `Some(time)` as `YYYY-MM-DDThh:mm:ssZ` and `None` as `null`.
        ///
        /// # Errors
        ///
        /// The serializer's own errors.
        pub fn serialize<S: Serializer>(
            time: &Option<DateTime<Utc>>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            time.map(Wrapped).serialize(serializer)
        }

        /// Reads `null` as `None` and an RFC 3339 timestamp as `Some`.
        ///
        /// # Errors
        ///
        /// As [`deserialize`](super::deserialize).
        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<DateTime<Utc>>, D::Error> {
            Ok(Option::<Wrapped>::deserialize(deserializer)?.map(|Wrapped(time)| time))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn stamp(nanos: i64) -> String {
        let mut out = String::new();
        push_stamp(&mut out, nanos);
        out
    }

    proptest! {
        /// The stamp from nanoseconds is the one chrono's fields give.
        #[test]
        fn a_stamp_from_nanoseconds_is_the_stamp_of_the_time(nanos in any::<i64>()) {
            prop_assert_eq!(stamp(nanos), Stamp(from_nanos(nanos)).to_string());
        }

        /// Runs of times written by two [`StampWriter`]s into one answer,
        /// with other text between them (as a page writes each job's two
        /// times), near each other (the same hour, the next, the one before)
        /// and far apart, read as each written alone.
        #[test]
        fn stamp_writers_write_each_time_as_alone(
            base in any::<i64>(),
            steps in proptest::collection::vec(
                (
                    prop_oneof![
                        -7_200_000_000_000i64..7_200_000_000_000,
                        Just(1_000_000_000),
                        Just(-1),
                        any::<i64>(),
                    ],
                    any::<bool>(),
                    "[a-z\":,]{0,12}",
                ),
                1..40,
            ),
        ) {
            let mut writers = [StampWriter::default(), StampWriter::default()];
            let (mut nanos, mut written, mut alone) = (base, String::from("{"), String::from("{"));
            for (step, second, between) in steps {
                nanos = nanos.saturating_add(step);
                writers[usize::from(second)].push(&mut written, nanos);
                push_stamp(&mut alone, nanos);
                written.push_str(&between);
                alone.push_str(&between);
                prop_assert_eq!(&written, &alone);
            }
        }
    }

    #[test]
    fn stamps_at_the_edges_of_the_range() {
        for nanos in [
            i64::MIN,
            i64::MAX,
            0,
            -1,
            951_782_400_000_000_000,
            1_456_704_000_000_000_000,
        ] {
            assert_eq!(
                stamp(nanos),
                Stamp(from_nanos(nanos)).to_string(),
                "{nanos}"
            );
        }
        assert_eq!(stamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(stamp(-1), "1969-12-31T23:59:59Z");
    }
}
