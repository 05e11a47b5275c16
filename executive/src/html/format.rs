//! Sizes, dates and types as a person reads them.

use std::time::{SystemTime, UNIX_EPOCH};

use davd_protocol::date::{self, Civil};

/// Decimal units, as desktop file managers show them, so a size reads the same here as there.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["kB", "MB", "GB", "TB", "PB", "EB"];
    if bytes < 1000 {
        return if bytes == 1 {
            "1 byte".to_owned()
        } else {
            format!("{bytes} bytes")
        };
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 999.5 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if value < 9.95 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

/// Seconds since the epoch (0 for times before it), for sorting in the page's script.
pub fn epoch_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `2024-05-01 12:34 UTC`: what the page shows until its script localises it.
pub fn display_time(time: SystemTime) -> String {
    let c = Civil::of(time);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        c.year, c.month, c.day, c.hour, c.minute
    )
}

/// `2024-05-01T12:34:56Z`, for `<time datetime>`.
pub fn iso_time(time: SystemTime) -> String {
    date::rfc3339(time)
}

/// What a person calls a file of this type ("PDF document", "JPEG image"); the media type
/// itself is too long for a column and means little to most people.
pub fn kind_label(name: &str, media: &str) -> String {
    let media = media.split(';').next().unwrap_or("").trim();
    let known = match media {
        "application/pdf" => "PDF document",
        "application/msword"
        | "application/rtf"
        | "application/vnd.oasis.opendocument.text"
        | "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => "Document",
        "application/vnd.ms-excel"
        | "application/vnd.oasis.opendocument.spreadsheet"
        | "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        | "text/csv" => "Spreadsheet",
        "application/vnd.ms-powerpoint"
        | "application/vnd.oasis.opendocument.presentation"
        | "application/vnd.openxmlformats-officedocument.presentationml.presentation" => {
            "Presentation"
        }
        "application/zip"
        | "application/gzip"
        | "application/x-tar"
        | "application/x-bzip2"
        | "application/x-xz"
        | "application/x-7z-compressed"
        | "application/vnd.rar" => "Archive",
        "text/plain" => "Text",
        "text/markdown" => "Markdown",
        "text/html" => "Web page",
        "text/vcard" | "text/x-vcard" => "Contact card",
        "text/calendar" => "Calendar",
        "application/json" => "JSON",
        "application/xml" | "text/xml" => "XML",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_owned();
    }
    let extension = name
        .rsplit_once('.')
        .filter(|(stem, ext)| {
            !stem.is_empty()
                && (1..=5).contains(&ext.len())
                && ext.chars().all(|c| c.is_ascii_alphanumeric())
        })
        .map(|(_, ext)| ext.to_ascii_uppercase());
    let (top, sub) = media.split_once('/').unwrap_or((media, ""));
    let family = match top {
        "image" => "image",
        "video" => "video",
        "audio" => "audio",
        "font" => "font",
        "text" => "text",
        _ => "file",
    };
    let sub = sub.split('+').next().unwrap_or("");
    match extension {
        Some(ext) => format!("{ext} {family}"),
        None if family != "file" && !sub.is_empty() && !sub.starts_with("x-") => {
            format!("{} {family}", sub.to_ascii_uppercase())
        }
        None => "File".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn sizes() {
        assert_eq!(human_size(0), "0 bytes");
        assert_eq!(human_size(1), "1 byte");
        assert_eq!(human_size(999), "999 bytes");
        assert_eq!(human_size(1000), "1.0 kB");
        assert_eq!(human_size(1536), "1.5 kB");
        assert_eq!(human_size(12_345), "12 kB");
        assert_eq!(human_size(999_999), "1.0 MB");
        assert_eq!(human_size(5_300_000_000), "5.3 GB");
        assert_eq!(human_size(u64::MAX), "18 EB");
    }

    #[test]
    fn dates() {
        let at = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(display_time(at(0)), "1970-01-01 00:00 UTC");
        assert_eq!(iso_time(at(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(iso_time(at(1_709_210_096)), "2024-02-29T12:34:56Z");
        assert_eq!(display_time(at(4_102_444_799)), "2099-12-31 23:59 UTC");
        assert_eq!(epoch_seconds(UNIX_EPOCH - Duration::from_secs(5)), 0);
    }

    #[test]
    fn types() {
        let file = davd_registry::ResourceMeta {
            collection: false,
            len: 0,
            modified: UNIX_EPOCH,
            created: None,
            etag: String::new(),
            content_type: None,
        };
        let label = |name: &str| kind_label(name, &file.media_type(name));
        assert_eq!(label("a.pdf"), "PDF document");
        assert_eq!(label("a.docx"), "Document");
        assert_eq!(label("a.ods"), "Spreadsheet");
        assert_eq!(label("holiday.jpg"), "JPG image");
        assert_eq!(label("notes.md"), "Markdown");
        assert_eq!(label("song.mp3"), "MP3 audio");
        assert_eq!(label("x.tar.gz"), "Archive");
        assert_eq!(label("data.bin"), "BIN file");
        assert_eq!(label("README"), "File");
        assert_eq!(label(".bashrc"), "File");
        assert_eq!(kind_label("pic", "image/svg+xml"), "SVG image");
        assert_eq!(kind_label("a.txt", "text/plain; charset=utf-8"), "Text");
    }
}
