//! Sending a staged file on its way to the disk before it is published.
//!
//! ext4 (with its default `auto_da_alloc`) starts the writeback of a file renamed over another
//! inside the `rename` itself, so that the classic write-then-rename does not leave an empty
//! file after a power cut. That rename is a PUT's publish, under the path's latch: every PUT to
//! the path queued behind it while the block layer took the pages (`perf` put a quarter of the
//! latch's time there, docs/performance.md). Started when the body is staged, before the latch,
//! the same work is done where nothing waits for it, and the rename finds no delayed allocation
//! left to flush. On other file systems the data only reaches the disk sooner than the kernel's
//! 30-second flush would have taken it, which a power cut only benefits from.
//!
//! This is a crate of its own because `sync_file_range` has no safe wrapper in the crates davd
//! uses (rustix, nix): it is the one `unsafe` call in davd, kept where the workspace's
//! `forbid(unsafe_code)` does not reach the rest (docs/adr/0024-sync-file-range.md).

use std::io;
use std::os::fd::{AsFd, AsRawFd};

/// Starts writing `file`'s dirty pages to the disk without waiting for them
/// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`). Not a sync: nothing is promised when it
/// returns, which is why a failure is for the caller to log, never to act on.
pub fn start(file: &impl AsFd) -> io::Result<()> {
    let fd = file.as_fd().as_raw_fd();
    #[allow(unsafe_code)]
    // SAFETY: the call takes a descriptor and three integers and touches no memory of ours;
    // `fd` is borrowed from `file`, which stays open for the whole call.
    let done = unsafe { libc::sync_file_range(fd, 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
    match done {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::{Read, Seek, Write};

    use super::*;

    #[test]
    fn a_written_file_is_sent_on_and_keeps_its_content() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(b"staged body").unwrap();
        start(&file).unwrap();
        file.rewind().unwrap();
        let mut read = String::new();
        file.read_to_string(&mut read).unwrap();
        assert_eq!(read, "staged body");
    }

    #[test]
    fn what_has_no_pages_to_write_says_so() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        assert_eq!(
            start(&socket).unwrap_err().raw_os_error(),
            Some(libc::ESPIPE)
        );
    }
}
