//! The two ways the project writes a time, in one place.
//!
//! - The compact stamp `YYYYMMDDhhmmss` (UTC): the revision of a new origin key and the release
//!   of a new package (docs/formats.md).
//! - RFC 3339 in whole seconds (`2026-01-02T03:04:05Z`): every time in the depot API's JSON
//!   (docs/api.md, "JSON values") and in the depot's metadata stores.
//!
//! ```
//! use habitat_core::timestamp;
//!
//! let stamp = timestamp::compact_now();
//! assert_eq!(stamp.len(), 14);
//! let now = timestamp::now();
//! let text = timestamp::format_rfc3339(now);
//! assert_eq!(timestamp::parse_rfc3339(&text)?, now);
//! # Ok::<(), habitat_core::Error>(())
//! ```

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{Error, Result};

/// The UTC time now as `YYYYMMDDhhmmss`: the revision of new keys and the release of new
/// packages.
pub fn compact_now() -> String {
    let format = time::macros::format_description!("[year][month][day][hour][minute][second]");
    // Formatting a valid UTC date with a fixed numeric description cannot fail.
    OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_default()
}

/// The UTC time now in whole seconds: the precision the API and the stores keep, so a time
/// read back equals the time written.
pub fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}

/// `t` as RFC 3339 in whole seconds, the form of every time in the API and the stores.
pub fn format_rfc3339(t: OffsetDateTime) -> String {
    // RFC 3339 cannot show a year outside 0..=9999 or an offset with seconds; no time this
    // project makes has either, and the empty string is what such a time always gave.
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// Parses an RFC 3339 time (with any fraction of a second and any offset).
///
/// # Errors
/// [`Error::InvalidValue`] naming the text when it is not RFC 3339 (for instance a time without
/// an offset).
pub fn parse_rfc3339(text: &str) -> Result<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).map_err(|_| Error::InvalidValue {
        what: "RFC 3339 time",
        input: text.to_owned(),
        reason: "expected `YYYY-MM-DDThh:mm:ss` with a `Z` or `±hh:mm` offset",
    })
}

/// Serde helpers for RFC 3339 fields: `#[serde(with = "habitat_core::timestamp::rfc3339")]`.
/// Times are written in whole seconds; any RFC 3339 time is read.
pub mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;

    /// Writes `t` as [`format_rfc3339`](super::format_rfc3339) does.
    pub fn serialize<S: Serializer>(t: &OffsetDateTime, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format_rfc3339(*t))
    }

    /// Reads an RFC 3339 string; anything else is an error naming it.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<OffsetDateTime, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::parse_rfc3339(&text).map_err(serde::de::Error::custom)
    }

    /// The same for an optional field: `null` or absent (with `#[serde(default)]`) is `None`.
    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};
        use time::OffsetDateTime;

        /// Writes `null` or the time as [`format_rfc3339`](super::super::format_rfc3339) does.
        pub fn serialize<S: Serializer>(
            t: &Option<OffsetDateTime>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => super::serialize(t, serializer),
                None => serializer.serialize_none(),
            }
        }

        /// Reads `null` or an RFC 3339 string; anything else is an error naming it.
        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<OffsetDateTime>, D::Error> {
            Option::<String>::deserialize(deserializer)?
                .map(|text| super::super::parse_rfc3339(&text).map_err(serde::de::Error::custom))
                .transpose()
        }
    }

    /// Reads an optional time leniently: `null`, absent or anything but RFC 3339 (another
    /// depot's times without an offset) is `None`. Use with `deserialize_with` and
    /// `#[serde(default)]`.
    pub fn lenient<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<OffsetDateTime>, D::Error> {
        let text = Option::<String>::deserialize(deserializer)?;
        Ok(text.and_then(|t| super::parse_rfc3339(&t).ok()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn compact_stamps_are_fourteen_digits() {
        let stamp = compact_now();
        assert_eq!(stamp.len(), 14);
        stamp.parse::<u64>().unwrap();
    }

    #[test]
    fn rfc3339_is_written_in_whole_seconds_and_read_back() {
        let t = datetime!(2019-03-19 15:58:52.123456 UTC);
        assert_eq!(format_rfc3339(t), "2019-03-19T15:58:52Z");
        assert_eq!(
            parse_rfc3339("2019-03-19T15:58:52Z").unwrap(),
            datetime!(2019-03-19 15:58:52 UTC)
        );
        assert_eq!(
            parse_rfc3339("2019-03-19T16:58:52.5+01:00").unwrap(),
            datetime!(2019-03-19 15:58:52.5 UTC)
        );
        assert_eq!(now().nanosecond(), 0);
        assert_eq!(
            parse_rfc3339(&format_rfc3339(now())).unwrap().nanosecond(),
            0
        );
    }

    #[test]
    fn times_without_an_offset_are_refused_by_name() {
        let err = parse_rfc3339("2019-03-19T15:58:52.123456")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("invalid RFC 3339 time `2019-03-19T15:58:52.123456`"),
            "{err}"
        );
    }

    #[test]
    fn serde_helpers() {
        #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
        struct Times {
            #[serde(with = "rfc3339")]
            at: OffsetDateTime,
            #[serde(default, with = "rfc3339::option")]
            until: Option<OffsetDateTime>,
            #[serde(default, deserialize_with = "rfc3339::lenient", skip_serializing)]
            loose: Option<OffsetDateTime>,
        }
        let times: Times = serde_json::from_str(
            r#"{"at":"2020-01-02T03:04:05Z","loose":"2020-01-02T03:04:05.123"}"#,
        )
        .unwrap();
        assert_eq!(times.at, datetime!(2020-01-02 03:04:05 UTC));
        assert_eq!((times.until, times.loose), (None, None));
        assert_eq!(
            serde_json::to_string(&times).unwrap(),
            r#"{"at":"2020-01-02T03:04:05Z","until":null}"#
        );
        let bad = serde_json::from_str::<Times>(r#"{"at":"yesterday"}"#).unwrap_err();
        assert!(bad.to_string().contains("`yesterday`"), "{bad}");
    }
}
