//! Named pipes, sockets and device nodes under the root.
//!
//! davd serves files and directories. Anything else is neither listed nor opened: opening a
//! named pipe waits for a writer (forever, holding a thread; one per worker stopped the whole
//! server), and a device can read without end. To clients such entries do not exist.

use cap_std::fs::{Metadata, OpenOptions, OpenOptionsExt};

/// True for what davd serves: regular files and directories (after following symlinks).
pub(super) fn is_resource(meta: &Metadata) -> bool {
    meta.is_file() || meta.is_dir()
}

/// Read-only, and without waiting: a named pipe swapped in after the check still opens at
/// once (and is then refused by [`is_resource`]). On regular files the flag changes nothing.
pub(super) fn read_without_waiting() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.read(true).custom_flags(libc::O_NONBLOCK);
    options
}
