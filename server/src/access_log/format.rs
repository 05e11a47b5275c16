//! One access-log line in the Combined Log Format, followed by the duration:
//!
//! ```text
//! 127.0.0.1 - alice [04/Dec/2026:22:46:55 +0000] "PUT /a.txt HTTP/1.1" 201 0 "-" "curl/8.5.0" 1532
//! ```
//!
//! remote address, identity (always `-`, as Apache and nginx write it), user, time the request
//! arrived (UTC), request line, status, bytes of the response body sent, `Referer`,
//! `User-Agent`, and the time until the response was sent in microseconds (Apache's `%D`).
//! Whatever the client controls is escaped the way nginx escapes it (`"` as `\"`, `\` as `\\`,
//! control and non-ASCII bytes as `\xHH`), so a line is always one line and its quoted
//! fields always split cleanly.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What is logged of one exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRecord {
    pub remote: Option<IpAddr>,
    pub user: Option<String>,
    pub received: SystemTime,
    pub method: String,
    /// The request target as sent (still percent-encoded), with its query.
    pub target: String,
    /// `HTTP/1.1`, `HTTP/2.0`.
    pub version: &'static str,
    pub status: u16,
    pub bytes_sent: u64,
    pub referer: Option<Vec<u8>>,
    pub user_agent: Option<Vec<u8>>,
    pub duration: Duration,
}

impl AccessRecord {
    /// The line, with its newline.
    pub fn line(&self) -> String {
        let mut line = String::with_capacity(160);
        match self.remote {
            Some(ip) => {
                let _ = write!(line, "{ip}");
            }
            None => line.push('-'),
        }
        line.push_str(" - ");
        match &self.user {
            Some(user) if !user.is_empty() => escape_into(&mut line, user.as_bytes()),
            _ => line.push('-'),
        }
        line.push_str(" [");
        clf_time(&mut line, self.received);
        line.push_str("] \"");
        escape_into(&mut line, self.method.as_bytes());
        line.push(' ');
        escape_into(&mut line, self.target.as_bytes());
        line.push(' ');
        line.push_str(self.version);
        let _ = write!(line, "\" {} {} \"", self.status, self.bytes_sent);
        quoted_or_dash(&mut line, self.referer.as_deref());
        line.push_str("\" \"");
        quoted_or_dash(&mut line, self.user_agent.as_deref());
        let _ = writeln!(line, "\" {}", self.duration.as_micros());
        line
    }
}

fn quoted_or_dash(line: &mut String, value: Option<&[u8]>) {
    match value {
        Some(v) if !v.is_empty() => escape_into(line, v),
        _ => line.push('-'),
    }
}

/// Appends `bytes` escaped: printable ASCII as is, except `"` and `\`.
fn escape_into(line: &mut String, bytes: &[u8]) {
    for &b in bytes {
        match b {
            b'"' => line.push_str("\\\""),
            b'\\' => line.push_str("\\\\"),
            0x20..=0x7e => line.push(char::from(b)),
            _ => {
                let _ = write!(line, "\\x{b:02X}");
            }
        }
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `04/Dec/2026:22:46:55 +0000`: the Common Log Format's time, in UTC.
fn clf_time(line: &mut String, at: SystemTime) {
    let seconds = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days);
    let _ = write!(
        line,
        "{day:02}/{}/{year:04}:{:02}:{:02}:{:02} +0000",
        MONTHS[(month - 1) as usize],
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    );
}

/// The calendar date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> AccessRecord {
        AccessRecord {
            remote: Some(IpAddr::from([127, 0, 0, 1])),
            user: Some("alice".into()),
            received: UNIX_EPOCH + Duration::from_secs(1_796_424_415),
            method: "PUT".into(),
            target: "/a%20b.txt?x=1".into(),
            version: "HTTP/1.1",
            status: 201,
            bytes_sent: 0,
            referer: None,
            user_agent: Some(b"curl/8.5.0".to_vec()),
            duration: Duration::from_micros(1532),
        }
    }

    #[test]
    fn a_line_in_the_combined_format_with_the_duration() {
        assert_eq!(
            record().line(),
            "127.0.0.1 - alice [04/Dec/2026:22:46:55 +0000] \"PUT /a%20b.txt?x=1 HTTP/1.1\" 201 0 \"-\" \"curl/8.5.0\" 1532\n"
        );
    }

    #[test]
    fn what_the_client_sends_cannot_break_the_line() {
        let mut r = record();
        r.user = None;
        r.remote = None;
        r.user_agent = Some(b"evil\" \"x\n\\\xc3\xa9".to_vec());
        r.referer = Some(b"http://h/".to_vec());
        assert_eq!(
            r.line(),
            "- - - [04/Dec/2026:22:46:55 +0000] \"PUT /a%20b.txt?x=1 HTTP/1.1\" 201 0 \"http://h/\" \"evil\\\" \\\"x\\x0A\\\\\\xC3\\xA9\" 1532\n"
        );
    }

    #[test]
    fn dates_across_leap_years_and_century_rules() {
        for (seconds, expected) in [
            (0, "01/Jan/1970:00:00:00 +0000"),
            (951_782_400, "29/Feb/2000:00:00:00 +0000"),
            (4_107_542_399, "28/Feb/2100:23:59:59 +0000"),
            (4_133_980_799, "31/Dec/2100:23:59:59 +0000"),
            (1_709_164_800, "29/Feb/2024:00:00:00 +0000"),
        ] {
            let mut line = String::new();
            clf_time(&mut line, UNIX_EPOCH + Duration::from_secs(seconds));
            assert_eq!(line, expected);
        }
    }
}
