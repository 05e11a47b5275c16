//! Windows sets a file's times with a PROPPATCH of the `Z:Win32*` properties (MS-WDVME 2.2.10;
//! Explorer after a copy, Office after a save), alone or prefixed to a PUT (MS-WDV 3.2.5.5).
//! The properties are stored as they came, as dead properties; a valid
//! `Z:Win32LastModifiedTime` also becomes the resource's modification time, through the same
//! command as ownCloud's `X-OC-Mtime` (`commands::modified`), so that `getlastmodified`, the
//! ETag and other programs reading the tree all see the time Windows set. A value that is not
//! an HTTP date is only stored, as before.

use std::time::SystemTime;

use davd_protocol::headers::parse_http_date;
use davd_protocol::xml::{PatchInstruction, fragment_text};

/// `Win32LastModifiedTime`, in the `Z:` namespace of `policy::locks::is_win32_property`.
const LAST_MODIFIED: (&str, &str) = ("urn:schemas-microsoft-com:", "Win32LastModifiedTime");

/// The modification time the instructions ask for: the last `Z:Win32LastModifiedTime` they
/// set, if its value is an HTTP date (`Wed, 20 Dec 2023 10:00:00 GMT`, what Windows sends);
/// a later `remove` of it cancels it.
pub fn requested_modified(instructions: &[PatchInstruction]) -> Option<SystemTime> {
    let mut requested = None;
    for instruction in instructions {
        let name = instruction.name();
        if (&*name.namespace, &*name.local) != LAST_MODIFIED {
            continue;
        }
        requested = match instruction {
            PatchInstruction::Set { value, .. } => {
                fragment_text(value).and_then(|text| parse_http_date(&text))
            }
            PatchInstruction::Remove { .. } => None,
        };
    }
    requested
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use davd_protocol::PropName;

    use super::*;

    fn set(local: &'static str, text: &str) -> PatchInstruction {
        PatchInstruction::Set {
            name: PropName::new("urn:schemas-microsoft-com:", local),
            value: format!("<Z:{local} xmlns:Z=\"urn:schemas-microsoft-com:\">{text}</Z:{local}>"),
        }
    }

    #[test]
    fn the_last_valid_time_counts() {
        let at = UNIX_EPOCH + Duration::from_secs(1_703_066_400);
        let date = "Wed, 20 Dec 2023 10:00:00 GMT";
        assert_eq!(
            requested_modified(&[set("Win32LastModifiedTime", date)]),
            Some(at)
        );
        assert_eq!(
            requested_modified(&[
                set("Win32CreationTime", "Mon, 01 Jan 2001 00:00:00 GMT"),
                set("Win32LastModifiedTime", date),
                set("Win32FileAttributes", "00000020"),
            ]),
            Some(at)
        );
        assert_eq!(
            requested_modified(&[set("Win32LastModifiedTime", "not a date")]),
            None
        );
        let remove = PatchInstruction::Remove {
            name: PropName::new("urn:schemas-microsoft-com:", "Win32LastModifiedTime"),
        };
        assert_eq!(
            requested_modified(&[set("Win32LastModifiedTime", date), remove]),
            None
        );
        assert_eq!(requested_modified(&[]), None);
    }
}
