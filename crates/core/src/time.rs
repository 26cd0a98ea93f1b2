//! Points in time as people type them on the command line.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::error::Error;

/// The zone named by `--time-zone`, else this machine's.
pub fn zone(name: Option<&str>) -> Result<TimeZone, Error> {
    match name {
        Some(n) => TimeZone::get(n).map_err(|e| Error::Argument {
            flag: "--time-zone",
            value: n.to_owned(),
            reason: e.to_string(),
        }),
        None => Ok(TimeZone::system()),
    }
}

/// A point in time: RFC 3339, or a civil `YYYY-MM-DD HH:MM[:SS[.ffffff]]` in `tz`.
pub fn parse(text: &str, tz: &TimeZone) -> Result<Timestamp, String> {
    if let Ok(t) = text.parse::<Timestamp>() {
        return Ok(t);
    }
    let civil: jiff::civil::DateTime = text
        .trim()
        .parse()
        .map_err(|e: jiff::Error| e.to_string())?;
    civil
        .to_zoned(tz.clone())
        .map(|z| z.timestamp())
        .map_err(|e| e.to_string())
}

/// The value of `flag`, when given, parsed as a point in time in `tz`.
pub fn flag(
    flag: &'static str,
    value: Option<&str>,
    tz: &TimeZone,
) -> Result<Option<Timestamp>, Error> {
    value
        .map(|t| {
            parse(t, tz).map_err(|reason| Error::Argument {
                flag,
                value: t.to_owned(),
                reason,
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_times_take_the_zone_and_rfc3339_its_own_offset() {
        let tz = TimeZone::get("Europe/Paris").unwrap();
        let a = parse("2026-11-21 03:12:00", &tz).unwrap();
        let b = parse("2026-11-21T02:12:00Z", &tz).unwrap();
        assert_eq!(a, b);
        assert!(parse("yesterday", &tz).is_err());
    }
}
