//! davd-floor: a benchmark tool, not part of davd. It answers the three requests of issue 20's
//! small cases on the same HTTP stack as davd, and nothing else, so that measuring it says how
//! much of a request's cost is the stack's and how much is davd's own code:
//!
//! - `GET /<file>`: stat, open and read the file (inline, on the connection's thread, as davd
//!   does, ADR 0011), and answer it with `Content-Length`, `Content-Type`, `ETag`,
//!   `Last-Modified` and `Accept-Ranges`, the headers davd's GET sends;
//! - `PROPFIND` (any depth): read the request body, stat the file, and answer a fixed small
//!   207 of the four properties the benchmark asks for;
//! - `PUT /<file>`: receive the body, write it to a new file beside the target (created with
//!   `O_EXCL` under a name of its own) and rename that over the target, as nginx's PUT does;
//!   `204 No Content`, or `201 Created` for a new file. No latch, no document record, no
//!   checks: what a PUT costs the HTTP stack and the file system alone. With `--writeback`
//!   the new file is written in a staging directory of its own (`.floor-staging` under the
//!   root) and its writeback started before the rename (`sync_file_range`), as davd's fs store
//!   does (ADR 0024), so that the rename finds nothing to flush.
//!
//! The connection model is davd's (`server/src/threads.rs`, ADR 0016): one current-thread
//! runtime accepts, and hands each connection in turn to one of N threads, each running its
//! own current-thread runtime; connections are served by hyper-util's auto builder with
//! davd's HTTP/1 settings. With `--axum` the service is an axum `Router` with one fallback
//! handler, as in `server/src/http.rs`; without it, a plain hyper `service_fn`.
//!
//! ```sh
//! cargo build --release -p davd-floor
//! target/release/davd-floor --root DIR [--listen 127.0.0.1:0] [--threads N] [--axum]
//!     [--writeback]
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_TYPE, ETAG, HeaderValue, LAST_MODIFIED};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;

/// What the command line asked for.
struct Options {
    root: PathBuf,
    listen: SocketAddr,
    threads: usize,
    axum: bool,
    writeback: bool,
}

fn main() {
    let options = match parse_options(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("davd-floor: {message}");
            eprintln!(
                "usage: davd-floor --root DIR [--listen ADDR:PORT] [--threads N] [--axum] \
                 [--writeback]"
            );
            std::process::exit(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("davd-floor: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(serve(options)) {
        eprintln!("davd-floor: {e}");
        std::process::exit(1);
    }
}

fn parse_options(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut root = None;
    let mut listen: SocketAddr = ([127, 0, 0, 1], 0).into();
    // davd's default: two connection threads per core.
    let mut threads = std::thread::available_parallelism().map_or(2, |n| n.get() * 2);
    let mut axum = false;
    let mut writeback = false;
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--root" => root = Some(PathBuf::from(value()?)),
            "--listen" => listen = value()?.parse().map_err(|e| format!("--listen: {e}"))?,
            "--threads" => threads = value()?.parse().map_err(|e| format!("--threads: {e}"))?,
            "--axum" => axum = true,
            "--writeback" => writeback = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Options {
        root: root.ok_or("--root is required")?,
        listen,
        threads: threads.max(1),
        axum,
        writeback,
    })
}

async fn serve(options: Options) -> std::io::Result<()> {
    let listener = TcpListener::bind(options.listen).await?;
    let threads = ConnectionThreads::start(options.threads)?;
    if options.writeback {
        let staging = options.root.join(".floor-staging");
        std::fs::create_dir_all(&staging)?;
        let _ = STAGING.set(staging);
    }
    let root = Arc::new(options.root);
    let mut builder = Builder::new(TokioExecutor::new());
    // davd's HTTP/1 settings (server/src/listener.rs) with its default limits; like davd, no
    // explicit `max_headers` (hyper's default is the same 100, and cheaper).
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .max_buf_size(64 * 1024)
        .keep_alive(true);
    let stack = if options.axum { "axum" } else { "hyper" };
    println!(
        "davd-floor ({stack}) serving http://{}/ from {} on {} threads",
        listener.local_addr()?,
        root.display(),
        options.threads
    );
    let router = axum::Router::new()
        .fallback(axum_handler)
        .with_state(root.clone());
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(pair) => pair,
            Err(e) => {
                eprintln!("davd-floor: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let builder = builder.clone();
        if options.axum {
            let service = hyper_util::service::TowerToHyperService::new(router.clone());
            threads.serve(stream, move |stream| async move {
                let io = TokioIo::new(stream);
                let _ = builder.serve_connection_with_upgrades(io, service).await;
            });
        } else {
            let root = root.clone();
            threads.serve(stream, move |stream| async move {
                let io = TokioIo::new(stream);
                let service = hyper::service::service_fn(move |request| {
                    let root = root.clone();
                    async move { Ok::<_, Infallible>(respond(&root, request).await) }
                });
                let _ = builder.serve_connection_with_upgrades(io, service).await;
            });
        }
    }
}

async fn axum_handler(
    axum::extract::State(root): axum::extract::State<Arc<PathBuf>>,
    request: axum::extract::Request,
) -> axum::response::Response {
    respond(&root, request).await.map(axum::body::Body::new)
}

/// The answer to one request: GET of a file, PROPFIND, or 405.
async fn respond<B>(root: &Path, request: Request<B>) -> Response<Full<Bytes>>
where
    B: hyper::body::Body,
{
    let Some(file) = file_path(root, request.uri().path()) else {
        return status(StatusCode::NOT_FOUND);
    };
    if request.method() == Method::GET {
        get(&file)
    } else if request.method().as_str() == "PROPFIND" {
        // The body is read, as davd reads it, before answering.
        if request.into_body().collect().await.is_err() {
            return status(StatusCode::BAD_REQUEST);
        }
        propfind(&file)
    } else if request.method() == Method::PUT {
        match request.into_body().collect().await {
            Ok(body) => put(&file, &body.to_bytes()),
            Err(_) => status(StatusCode::BAD_REQUEST),
        }
    } else {
        status(StatusCode::METHOD_NOT_ALLOWED)
    }
}

/// Numbers the files a PUT writes before renaming them over their target.
static NEXT_UPLOAD: AtomicUsize = AtomicUsize::new(0);

/// With `--writeback`: where a PUT writes its new file, whose writeback it starts before the
/// rename.
static STAGING: OnceLock<PathBuf> = OnceLock::new();

fn put(file: &Path, body: &[u8]) -> Response<Full<Bytes>> {
    use std::io::Write;
    let staging = STAGING.get();
    let Some(parent) = staging.map(PathBuf::as_path).or(file.parent()) else {
        return status(StatusCode::CONFLICT);
    };
    let upload = parent.join(format!(
        ".floor-upload-{}-{}",
        std::process::id(),
        NEXT_UPLOAD.fetch_add(1, Ordering::Relaxed)
    ));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&upload)
        .and_then(|mut staged| {
            staged.write_all(body)?;
            if staging.is_some() {
                davd_writeback::start(&staged)?;
            }
            Ok(())
        });
    if written.is_err() {
        let _ = std::fs::remove_file(&upload);
        return status(StatusCode::CONFLICT);
    }
    let existed = std::fs::symlink_metadata(file).is_ok();
    if std::fs::rename(&upload, file).is_err() {
        let _ = std::fs::remove_file(&upload);
        return status(StatusCode::INTERNAL_SERVER_ERROR);
    }
    status(if existed {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::CREATED
    })
}

/// The file under `root` a URL path names; `None` for a path that would leave `root`.
fn file_path(root: &Path, path: &str) -> Option<PathBuf> {
    let relative = Path::new(path.trim_start_matches('/'));
    let inside = relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)));
    inside.then(|| root.join(relative))
}

fn get(file: &Path) -> Response<Full<Bytes>> {
    use std::io::Read;
    let Ok(meta) = std::fs::metadata(file) else {
        return status(StatusCode::NOT_FOUND);
    };
    if !meta.is_file() {
        return status(StatusCode::NOT_FOUND);
    }
    let Ok(mut opened) = std::fs::File::open(file) else {
        return status(StatusCode::NOT_FOUND);
    };
    let mut content = Vec::with_capacity(meta.len() as usize);
    if opened.read_to_end(&mut content).is_err() {
        return status(StatusCode::INTERNAL_SERVER_ERROR);
    }
    let modified = meta.modified().unwrap_or(UNIX_EPOCH);
    let nanos = modified
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let etag = format!("\"{nanos:x}-{:x}\"", meta.len());
    let mut response = Response::new(Full::new(Bytes::from(content)));
    let headers = response.headers_mut();
    headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(CONTENT_LENGTH, HeaderValue::from(meta.len()));
    if let Ok(value) = HeaderValue::try_from(etag) {
        headers.insert(ETAG, value);
    }
    if let Ok(value) = HeaderValue::try_from(httpdate::fmt_http_date(modified)) {
        headers.insert(LAST_MODIFIED, value);
    }
    response
}

/// A fixed 207 of the four properties the benchmark's Depth 0 PROPFIND names, about the size
/// of davd's; the file is still stat'ed, as any real answer must.
fn propfind(file: &Path) -> Response<Full<Bytes>> {
    const MULTISTATUS: &str = concat!(
        r#"<?xml version="1.0" encoding="utf-8"?>"#,
        r#"<D:multistatus xmlns:D="DAV:"><D:response><D:href>/file-4k.bin</D:href>"#,
        r#"<D:propstat><D:prop><D:getcontentlength>4096</D:getcontentlength>"#,
        r#"<D:getlastmodified>Sat, 05 Dec 2026 09:00:00 GMT</D:getlastmodified>"#,
        r#"<D:getetag>"18f0e2b1c2d3e4f5-1000"</D:getetag><D:resourcetype/></D:prop>"#,
        r#"<D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>"#,
    );
    if std::fs::metadata(file).is_err() {
        return status(StatusCode::NOT_FOUND);
    }
    let mut response = Response::new(Full::new(Bytes::from_static(MULTISTATUS.as_bytes())));
    *response.status_mut() = StatusCode::MULTI_STATUS;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/xml; charset=utf-8"),
    );
    response
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = code;
    response
}

/// davd's connection threads in miniature: N threads, each with its own current-thread
/// runtime, taking accepted connections in turn.
struct ConnectionThreads {
    runtimes: Vec<Handle>,
    next: AtomicUsize,
}

impl ConnectionThreads {
    fn start(count: usize) -> std::io::Result<ConnectionThreads> {
        let mut runtimes = Vec::new();
        for number in 0..count {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtimes.push(runtime.handle().clone());
            std::thread::Builder::new()
                .name(format!("floor-conn-{number}"))
                // Serves until the process ends.
                .spawn(move || runtime.block_on(std::future::pending::<()>()))?;
        }
        Ok(ConnectionThreads {
            runtimes,
            next: AtomicUsize::new(0),
        })
    }

    fn serve<F, Fut>(&self, stream: TcpStream, serve: F)
    where
        F: FnOnce(TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        // Moved from the accepting runtime's reactor to the serving one's, as davd does.
        let Ok(stream) = stream.into_std() else {
            return;
        };
        let turn = self.next.fetch_add(1, Ordering::Relaxed) % self.runtimes.len();
        self.runtimes[turn].spawn(async move {
            if let Ok(stream) = TcpStream::from_std(stream) {
                serve(stream).await;
            }
        });
    }
}
