//! The access log: one line per request ([`format`]), written by a thread of its own so that
//! no request ever waits for the disk or for a slow reader of standard output.
//!
//! Requests hand their line to a bounded queue ([`QUEUE_LINES`]) and go on. When the writer
//! cannot keep up and the queue is full, the line is **dropped**, counted, and the writer
//! warns how many it lost once it catches up (`davd_access_log_dropped_total` counts them
//! too): a server that slows every request down to the pace of its log disk would be worse.
//! SIGHUP reopens the file (for logrotate's `create`); the file is opened for appending, so
//! logrotate's `copytruncate` works as well.

pub mod format;

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing::warn;

pub use format::AccessRecord;

/// Where access lines go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AccessLogTarget {
    /// Not written.
    #[default]
    Off,
    /// Standard output, beside the diagnostic log.
    Stdout,
    /// Appended to this file (created with mode 0640 if missing).
    File(PathBuf),
}

impl AccessLogTarget {
    /// `--access-log` and `access_log =`: `off`, `-` (standard output) or a file name.
    pub fn parse(text: &str) -> Result<AccessLogTarget, String> {
        match text {
            "" => Err("access_log: give a file name, \"-\" or \"off\"".into()),
            "off" => Ok(AccessLogTarget::Off),
            "-" => Ok(AccessLogTarget::Stdout),
            path => Ok(AccessLogTarget::File(PathBuf::from(path))),
        }
    }
}

/// Lines that may wait for the writer; beyond them lines are dropped.
pub const QUEUE_LINES: usize = 16 * 1024;

/// Metric: access-log lines dropped because the writer could not keep up.
pub const DROPPED_METRIC: &str = "davd_access_log_dropped_total";

enum Message {
    Line(String),
    Reopen,
    Stop,
}

/// The access log of a running server; cheap to clone.
#[derive(Clone)]
pub struct AccessLog {
    queue: SyncSender<Message>,
    shared: Arc<Shared>,
}

struct Shared {
    dropped: AtomicU64,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessLog")
    }
}

impl AccessLog {
    /// Opens `target` and starts its writer; `None` when it is off. The file is opened here,
    /// so a path that cannot be written stops startup.
    pub fn open(target: &AccessLogTarget) -> io::Result<Option<AccessLog>> {
        let sink = match target {
            AccessLogTarget::Off => return Ok(None),
            AccessLogTarget::Stdout => Sink::Stdout,
            AccessLogTarget::File(path) => Sink::File {
                file: open_for_append(path)?,
                path: path.clone(),
            },
        };
        let (queue, lines) = sync_channel(QUEUE_LINES);
        let shared = Arc::new(Shared {
            dropped: AtomicU64::new(0),
            writer: Mutex::new(None),
        });
        let writer = std::thread::Builder::new()
            .name("davd-access-log".into())
            .spawn({
                let shared = shared.clone();
                move || write_lines(sink, lines, &shared)
            })?;
        if let Ok(mut slot) = shared.writer.lock() {
            *slot = Some(writer);
        }
        Ok(Some(AccessLog { queue, shared }))
    }

    /// Queues the record's line; never waits.
    pub fn record(&self, record: &AccessRecord) {
        match self.queue.try_send(Message::Line(record.line())) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                metrics::counter!(DROPPED_METRIC).increment(1);
            }
            // Stopped: the server is shutting down.
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    /// Reopens the file (after logrotate moved it away); does nothing for standard output.
    pub fn reopen(&self) {
        // Waits only if the queue is full, and then only on the writer thread's pace.
        let queue = self.queue.clone();
        std::thread::spawn(move || {
            let _ = queue.send(Message::Reopen);
        });
    }

    /// Writes out every queued line and stops the writer; later records are not written.
    pub fn close(&self) {
        let _ = self.queue.send(Message::Stop);
        let writer = self.shared.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(writer) = writer {
            let _ = writer.join();
        }
    }
}

fn open_for_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("access log {}: {e}", path.display())))
}

enum Sink {
    Stdout,
    File { file: File, path: PathBuf },
}

impl Sink {
    fn write(&mut self, batch: &[u8]) -> io::Result<()> {
        match self {
            // One write for the whole batch: the standard output's lock keeps it from
            // interleaving with the diagnostic log's lines.
            Sink::Stdout => {
                let mut out = io::stdout().lock();
                out.write_all(batch)?;
                out.flush()
            }
            Sink::File { file, .. } => file.write_all(batch),
        }
    }

    fn reopen(&mut self) {
        if let Sink::File { file, path } = self {
            match open_for_append(path) {
                Ok(reopened) => *file = reopened,
                Err(e) => {
                    warn!(error = %e, "cannot reopen the access log; writing to the old file")
                }
            }
        }
    }
}

/// How long the writer rests after writing a batch. While it rests, requests queue their lines
/// without waking it (a wake-up is a `futex` call on the request's thread and a context switch
/// per line, which cost a busy server more than formatting the line); it then takes everything
/// queued in one batch. Only when the queue is empty does it block, and the next line wakes it.
/// At [`QUEUE_LINES`] per rest, that bounds the rate it keeps up with to 1.6 million lines/s.
pub const WRITER_REST: Duration = Duration::from_millis(10);

/// The writer thread: takes what is queued, writes it in one batch, rests, repeats.
fn write_lines(mut sink: Sink, lines: Receiver<Message>, shared: &Shared) {
    let mut batch = Vec::with_capacity(64 * 1024);
    let mut reported_dropped = 0;
    let mut failing = false;
    while let Ok(first) = lines.recv() {
        let mut stop = false;
        let mut next = Some(first);
        while let Some(message) = next {
            match message {
                Message::Line(line) => batch.extend_from_slice(line.as_bytes()),
                Message::Reopen => {
                    flush(&mut sink, &mut batch, &mut failing);
                    sink.reopen();
                }
                Message::Stop => {
                    stop = true;
                    break;
                }
            }
            if batch.len() >= 64 * 1024 {
                flush(&mut sink, &mut batch, &mut failing);
            }
            next = lines.try_recv().ok();
        }
        flush(&mut sink, &mut batch, &mut failing);
        let dropped = shared.dropped.load(Ordering::Relaxed);
        if dropped > reported_dropped {
            warn!(
                lines = dropped - reported_dropped,
                "the access log could not keep up; lines were dropped"
            );
            reported_dropped = dropped;
        }
        if stop {
            return;
        }
        std::thread::sleep(WRITER_REST);
    }
}

/// Writes the batch; a failure is reported once (until writing works again), and the lines
/// are lost rather than kept without bound.
fn flush(sink: &mut Sink, batch: &mut Vec<u8>, failing: &mut bool) {
    if batch.is_empty() {
        return;
    }
    match sink.write(batch) {
        Ok(()) => *failing = false,
        Err(e) => {
            if !*failing {
                warn!(error = %e, "cannot write the access log; lines are lost until it works again");
            }
            *failing = true;
        }
    }
    batch.clear();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn record(target: &str) -> AccessRecord {
        AccessRecord {
            remote: None,
            user: None,
            received: UNIX_EPOCH,
            method: "GET".into(),
            target: target.into(),
            version: "HTTP/1.1",
            status: 200,
            bytes_sent: 1,
            referer: None,
            user_agent: None,
            duration: Duration::ZERO,
        }
    }

    #[test]
    fn targets_by_name() {
        assert_eq!(AccessLogTarget::parse("off"), Ok(AccessLogTarget::Off));
        assert_eq!(AccessLogTarget::parse("-"), Ok(AccessLogTarget::Stdout));
        assert_eq!(
            AccessLogTarget::parse("/var/log/davd/access.log"),
            Ok(AccessLogTarget::File("/var/log/davd/access.log".into()))
        );
        assert!(AccessLogTarget::parse("").is_err());
    }

    #[test]
    fn lines_are_written_in_order_and_all_of_them_by_close() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let log = AccessLog::open(&AccessLogTarget::File(path.clone()))
            .unwrap()
            .unwrap();
        for n in 0..100 {
            log.record(&record(&format!("/{n}")));
        }
        log.close();
        let text = std::fs::read_to_string(&path).unwrap();
        let targets: Vec<&str> = text.lines().map(|l| l.split(' ').nth(6).unwrap()).collect();
        let expected: Vec<String> = (0..100).map(|n| format!("/{n}")).collect();
        assert_eq!(targets, expected);
    }

    #[test]
    fn a_reopen_after_the_file_was_moved_writes_a_new_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let log = AccessLog::open(&AccessLogTarget::File(path.clone()))
            .unwrap()
            .unwrap();
        log.record(&record("/before"));
        std::fs::rename(&path, dir.path().join("access.log.1")).unwrap();
        // Sent in order with the lines, so what follows goes to the new file.
        let _ = log.queue.send(Message::Reopen);
        log.record(&record("/after"));
        log.close();
        let old = std::fs::read_to_string(dir.path().join("access.log.1")).unwrap();
        let new = std::fs::read_to_string(&path).unwrap();
        assert!(old.contains("/before") && !old.contains("/after"), "{old}");
        assert!(new.contains("/after") && !new.contains("/before"), "{new}");
    }

    #[test]
    fn a_directory_that_does_not_exist_is_an_error_at_open() {
        let e = AccessLog::open(&AccessLogTarget::File("/nonexistent/dir/access.log".into()))
            .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/dir/access.log"), "{e}");
    }
}
