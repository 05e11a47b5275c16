//! Dates as WebDAV writes them: IMF-fixdate (RFC 9110 §5.6.7) for `Last-Modified` and
//! `getlastmodified`, and RFC 3339 in UTC for `creationdate` (RFC 4918 §15.1).
//!
//! Written by hand for two reasons. The `httpdate` and `humantime` formatters panic on a time
//! before 1970, which a file can carry (an archive unpacked with its old times), and that
//! took down every answer dating the file, listings of its folder included. And a listing
//! formats two dates per member: through `core::fmt` that was a tenth of its cost.

use std::time::{SystemTime, UNIX_EPOCH};

/// The earliest and latest times with a four-digit year: 0000-01-01 and 9999-12-31 23:59:59.
/// Both formats have room for four digits only; a time outside is written as the nearer end.
const FIRST_SECOND: i64 = -62_167_219_200;
const LAST_SECOND: i64 = 253_402_300_799;

const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(time: SystemTime) -> String {
    let t = Civil::of(time);
    let mut out = String::with_capacity(29);
    out.push_str(DAYS[t.weekday]);
    out.push_str(", ");
    push_digits(&mut out, t.day, 2);
    out.push(' ');
    out.push_str(MONTHS[t.month as usize - 1]);
    out.push(' ');
    push_digits(&mut out, t.year, 4);
    out.push(' ');
    push_time(&mut out, &t);
    out.push_str(" GMT");
    out
}

/// `1994-11-06T08:49:37Z`.
pub fn rfc3339(time: SystemTime) -> String {
    let t = Civil::of(time);
    let mut out = String::with_capacity(20);
    push_digits(&mut out, t.year, 4);
    out.push('-');
    push_digits(&mut out, t.month, 2);
    out.push('-');
    push_digits(&mut out, t.day, 2);
    out.push('T');
    push_time(&mut out, &t);
    out.push('Z');
    out
}

/// A time in UTC, to the second, in the proleptic Gregorian calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: u32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    /// 0 is Sunday.
    pub weekday: usize,
}

impl Civil {
    /// `time` rounded down to the second; times outside years 0000-9999 become the nearer end.
    pub fn of(time: SystemTime) -> Civil {
        // Whole seconds, rounded down (toward the past) as both formats expect.
        let seconds = match time.duration_since(UNIX_EPOCH) {
            Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
            Err(before) => {
                let before = before.duration();
                let whole = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
                -whole.saturating_add(i64::from(before.subsec_nanos() > 0))
            }
        }
        .clamp(FIRST_SECOND, LAST_SECOND);
        let days = seconds.div_euclid(86_400);
        let of_day = seconds.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: of_day / 3600,
            minute: of_day / 60 % 60,
            second: of_day % 60,
            // 1970-01-01 was a Thursday.
            weekday: (days + 4).rem_euclid(7) as usize,
        }
    }
}

/// Year, month and day of the proleptic Gregorian calendar for a count of days since
/// 1970-01-01 (Howard Hinnant's `civil_from_days`). `days` is within the clamped range, so the
/// year is 0..=9999.
fn civil_from_days(days: i64) -> (u32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year as u32, month as u32, day as u32)
}

fn push_time(out: &mut String, t: &Civil) {
    push_digits(out, t.hour, 2);
    out.push(':');
    push_digits(out, t.minute, 2);
    out.push(':');
    push_digits(out, t.second, 2);
}

/// `value` in exactly `width` decimal digits (it never has more).
fn push_digits(out: &mut String, value: u32, width: u32) {
    let mut place = 10u32.pow(width - 1);
    while place > 0 {
        out.push(char::from(b'0' + (value / place % 10) as u8));
        place /= 10;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;

    fn at(seconds: i64) -> SystemTime {
        if seconds >= 0 {
            UNIX_EPOCH + Duration::from_secs(seconds as u64)
        } else {
            UNIX_EPOCH - Duration::from_secs(seconds.unsigned_abs())
        }
    }

    #[test]
    fn known_dates() {
        assert_eq!(http_date(at(784_111_777)), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(rfc3339(at(784_111_777)), "1994-11-06T08:49:37Z");
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(at(951_782_400)), "Tue, 29 Feb 2000 00:00:00 GMT");
    }

    #[test]
    fn before_1970() {
        assert_eq!(http_date(at(-315_619_200)), "Fri, 01 Jan 1960 00:00:00 GMT");
        assert_eq!(rfc3339(at(-315_619_200)), "1960-01-01T00:00:00Z");
        assert_eq!(http_date(at(-1)), "Wed, 31 Dec 1969 23:59:59 GMT");
        // Half a second before the epoch is still in the last second of 1969.
        let half = UNIX_EPOCH - Duration::from_millis(500);
        assert_eq!(rfc3339(half), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339(at(-2_208_988_800)), "1900-01-01T00:00:00Z");
    }

    #[test]
    fn out_of_range_times_are_written_as_the_nearer_end() {
        assert_eq!(rfc3339(at(FIRST_SECOND)), "0000-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(at(FIRST_SECOND - 86_400 * 400)),
            "0000-01-01T00:00:00Z"
        );
        assert_eq!(http_date(at(LAST_SECOND)), "Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(
            http_date(UNIX_EPOCH + Duration::from_secs(u64::MAX / 2)),
            "Fri, 31 Dec 9999 23:59:59 GMT"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// The same text as the `httpdate` and `humantime` crates, wherever they can answer.
        #[test]
        fn agrees_with_the_crates(seconds in 0..=LAST_SECOND, nanos in 0u32..1_000_000_000) {
            let time = UNIX_EPOCH + Duration::new(seconds as u64, nanos);
            prop_assert_eq!(http_date(time), httpdate::fmt_http_date(time));
            prop_assert_eq!(
                rfc3339(time),
                humantime::format_rfc3339_seconds(time).to_string()
            );
        }

        /// Before 1970 the crates cannot answer, but the calendar repeats every 400 years
        /// (146,097 days, a whole number of weeks): 2,000 years on, they give the same text
        /// but for the year.
        #[test]
        fn agrees_with_the_crates_2000_years_on(seconds in FIRST_SECOND..0) {
            const YEARS: u32 = 2000;
            let later = at(seconds + 5 * 146_097 * 86_400);
            let expected = httpdate::fmt_http_date(later);
            let (day, rest) = expected.split_at(12); // "Sun, 06 Nov " and "1994 08:49:37 GMT"
            let year: u32 = rest[..4].parse().unwrap();
            prop_assert_eq!(
                http_date(at(seconds)),
                format!("{day}{:04}{}", year - YEARS, &rest[4..])
            );
            let expected = humantime::format_rfc3339_seconds(later).to_string();
            let year: u32 = expected[..4].parse().unwrap();
            prop_assert_eq!(
                rfc3339(at(seconds)),
                format!("{:04}{}", year - YEARS, &expected[4..])
            );
        }
    }
}
