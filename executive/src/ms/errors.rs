//! `X-MSDAVEXT_ERROR` (MS-WDV 2.2.3): an error number and text for Windows to show.
//!
//! MS-WDV defines no numbers; the Windows client maps twelve SharePoint numbers to Win32
//! errors (MS-WDV Appendix A <17>) and passes any other one to the application as text only.
//! davd sends a number only where one of those twelve fits, so that Explorer shows the right
//! message; everywhere else the status code alone speaks (clients "MAY ignore the header").
//!
//! | davd condition                                          | status | number  | Win32 |
//! |---------------------------------------------------------|--------|---------|-------|
//! | resource locked (any method, bundled locks included)    | 423    | 589838  | 220   |
//! | request path with characters davd refuses               | 400    | 589936  | 123   |
//! | URL too long                                            | 414    | 589928  | 206   |
//! | storage full (RFC 4331 quota or disk)                   | 507    | 589923  | 1295  |
//!
//! Never a 449 (davd has nothing a retry could supply), so `Ms-Echo-Reply` needs no handling.

use http::StatusCode;

use davd_protocol::Response;
use davd_protocol::headers::ms::ms_error_value;
use davd_protocol::headers::ms::names::X_MSDAVEXT_ERROR;

/// V_DOC_CHECKED_OUT: "The file is locked or checked out".
pub const DOC_CHECKED_OUT: u32 = 0x0009_000E;
/// V_BAD_CHARS_IN_URL: "The server does not support the URL".
pub const BAD_CHARS_IN_URL: u32 = 0x0009_0070;
/// V_URL_TOO_LONG.
pub const URL_TOO_LONG: u32 = 0x0009_0068;
/// V_OVER_QUOTA.
pub const OVER_QUOTA: u32 = 0x0009_0063;

/// The number for an error response of `status`, if one of the mapped ones fits. Path errors
/// are told apart by the caller (`bad_path`), since most 400s are not about the URL.
pub fn number_for(status: StatusCode, bad_path: bool) -> Option<u32> {
    match status {
        StatusCode::LOCKED => Some(DOC_CHECKED_OUT),
        StatusCode::URI_TOO_LONG => Some(URL_TOO_LONG),
        StatusCode::INSUFFICIENT_STORAGE => Some(OVER_QUOTA),
        StatusCode::BAD_REQUEST if bad_path => Some(BAD_CHARS_IN_URL),
        _ => None,
    }
}

/// Adds the header to an error response when a number fits.
pub fn annotate(response: &mut Response, message: &str, bad_path: bool) {
    if let Some(number) = number_for(response.status, bad_path) {
        response.set_header(X_MSDAVEXT_ERROR, ms_error_value(number, message.trim()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_numbers_are_the_windows_ones() {
        assert_eq!(DOC_CHECKED_OUT, 589838);
        assert_eq!(BAD_CHARS_IN_URL, 589936);
        assert_eq!(URL_TOO_LONG, 589928);
        assert_eq!(OVER_QUOTA, 589923);
        assert_eq!(number_for(StatusCode::BAD_REQUEST, false), None);
        assert_eq!(number_for(StatusCode::FORBIDDEN, true), None);
        let mut r = Response::new(StatusCode::LOCKED);
        annotate(&mut r, "locked by alice", false);
        assert_eq!(r.headers[X_MSDAVEXT_ERROR], "589838; locked%20by%20alice");
    }
}
