//! UTC timestamps as TUF metadata writes them: `YYYY-MM-DDTHH:MM:SSZ`.
//!
//! Only this one form is accepted: expiry comparisons must not depend on how a
//! timestamp was spelled.

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// Parses `YYYY-MM-DDTHH:MM:SSZ` into ms since the epoch.
pub fn parse_utc(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = &text[range];
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    // Reject impossible days (e.g. 02-30) by round-tripping.
    if civil_from_days(days) != (year, month, day) {
        return None;
    }
    Some(((days * 86_400) + hour * 3600 + minute * 60 + second) * 1000)
}

/// Formats ms since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (whole seconds).
pub fn format_utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_known_values() {
        assert_eq!(parse_utc("1970-01-01T00:00:00Z"), Some(0));
        // `date -u -d @1795389326` → 2026-11-22 23:15:26 UTC.
        assert_eq!(parse_utc("2026-11-22T23:15:26Z"), Some(1_795_389_326_000));
        assert_eq!(
            parse_utc("2000-02-29T12:00:00Z").map(format_utc).as_deref(),
            Some("2000-02-29T12:00:00Z")
        );
        assert_eq!(format_utc(1_795_389_326_999), "2026-11-22T23:15:26Z");
    }

    #[test]
    fn only_the_canonical_form_parses() {
        for bad in [
            "2026-11-22T23:15:26",
            "2026-11-22 23:15:26Z",
            "2026-11-22T23:15:26+00:00",
            "2026-02-30T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-22T24:00:00Z",
            "+026-11-22T23:15:26Z",
            "",
        ] {
            assert_eq!(parse_utc(bad), None, "{bad}");
        }
    }
}
