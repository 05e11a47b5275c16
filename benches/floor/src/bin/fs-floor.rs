//! fs-floor: a benchmark tool, not part of davd. It does a small PUT's file system work and
//! nothing else: no HTTP, no sockets, no client on the same cores. Each of N threads, for D
//! seconds, writes 4 KiB to a new file in a staging directory (created with `O_EXCL`) and
//! renames it over one of P target files, as nginx's PUT and davd's do; the replaced file is
//! freed by the rename. With `--writeback` it starts the new file's writeback before the
//! rename (`sync_file_range`, as davd does, ADR 0024); without it, ext4 starts it inside the
//! rename (`auto_da_alloc`), as for nginx.
//!
//! The rate it prints is more than any HTTP server can reach with the same file system
//! work on the same machine: it is what the kernel alone allows, with both cores to itself
//! (docs/performance.md, "The file system's own floor under a PUT").
//!
//! ```sh
//! cargo build --release -p davd-floor
//! target/release/fs-floor --dir DIR [--threads 4] [--paths 128] [--seconds 5] [--writeback]
//! ```

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What the command line asked for.
struct Options {
    dir: PathBuf,
    threads: usize,
    paths: usize,
    seconds: u64,
    writeback: bool,
}

fn main() {
    let options = match parse_options(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("fs-floor: {message}");
            eprintln!(
                "usage: fs-floor --dir DIR [--threads N] [--paths N] [--seconds N] [--writeback]"
            );
            std::process::exit(2);
        }
    };
    let staging = options.dir.join("staging");
    let targets = options.dir.join("targets");
    for dir in [&staging, &targets] {
        if let Err(e) = fs::create_dir_all(dir) {
            eprintln!("fs-floor: cannot create {}: {e}", dir.display());
            std::process::exit(1);
        }
    }
    let body = vec![b'x'; 4096];
    // The targets exist before measuring, as after the benchmark's warm-up: every rename
    // replaces a file.
    for path in 0..options.paths {
        if let Err(e) = fs::write(targets.join(format!("f{path}")), &body) {
            eprintln!("fs-floor: cannot write a target: {e}");
            std::process::exit(1);
        }
    }
    let until = Instant::now() + Duration::from_secs(options.seconds);
    let started = Instant::now();
    let done: Vec<Result<u64, String>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..options.threads)
            .map(|thread| {
                let (staging, targets, body) = (&staging, &targets, &body);
                let options = &options;
                scope.spawn(move || {
                    let mut count = 0u64;
                    // Each thread takes its own share of the paths, as wrk's connections do.
                    while Instant::now() < until {
                        let staged = staging.join(format!("u{thread}-{count}"));
                        let target = targets.join(format!(
                            "f{}",
                            (thread + count as usize * options.threads) % options.paths
                        ));
                        put(&staged, &target, body, options.writeback)
                            .map_err(|e| format!("{}: {e}", staged.display()))?;
                        count += 1;
                    }
                    Ok(count)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|_| Err("a thread panicked".into())))
            .collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let mut total = 0;
    for result in done {
        match result {
            Ok(count) => total += count,
            Err(e) => {
                eprintln!("fs-floor: {e}");
                std::process::exit(1);
            }
        }
    }
    println!(
        "fs-floor: {} threads, {} paths, writeback {}: {total} PUTs in {elapsed:.2} s, {:.0} per second",
        options.threads,
        options.paths,
        if options.writeback {
            "before the rename"
        } else {
            "in the rename"
        },
        total as f64 / elapsed
    );
}

/// One PUT's file system work: a new file, its content, and the rename over the target.
fn put(staged: &Path, target: &Path, body: &[u8], writeback: bool) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(staged)?;
    file.write_all(body)?;
    if writeback {
        davd_writeback::start(&file)?;
    }
    drop(file);
    fs::rename(staged, target)
}

fn parse_options(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        dir: PathBuf::new(),
        threads: 4,
        paths: 128,
        seconds: 5,
        writeback: false,
    };
    let number = |value: Option<String>, name: &str| -> Result<u64, String> {
        value
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("{name} needs a positive number"))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--dir" => options.dir = args.next().ok_or("--dir needs a directory")?.into(),
            "--threads" => options.threads = number(args.next(), "--threads")? as usize,
            "--paths" => options.paths = number(args.next(), "--paths")? as usize,
            "--seconds" => options.seconds = number(args.next(), "--seconds")?.min(600),
            "--writeback" => options.writeback = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if options.dir.as_os_str().is_empty() {
        return Err("--dir is required".into());
    }
    Ok(options)
}
