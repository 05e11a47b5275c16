//! Test harness: a real davd on 127.0.0.1:0 with temporary directories, and a small client.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use davd::{App, Settings};

pub mod clients;
pub mod cluster;
pub mod faulty;
pub mod ms;
pub mod prometheus;
pub mod s3_crashable;
pub mod s3_place;

/// A running server and the directories it serves from.
pub struct TestServer {
    pub addr: SocketAddr,
    pub client: Client,
    dirs: Arc<Dirs>,
    settings: Settings,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// Connection threads of a test server: more than one, so that requests of one test meet
/// across threads as in production, but not two per core of a large CI machine for each of
/// the servers the tests run at once.
pub const TEST_CONNECTION_THREADS: usize = 3;

/// The users of [`TestServer::with_users`]: name and password.
pub const USERS: [(&str, &str); 2] = [("alice", "wonderland"), ("bob", "builder")];

/// Temporary root and state directories, kept across restarts.
pub struct Dirs {
    _tmp: TempDir,
    pub root: PathBuf,
    pub state: PathBuf,
}

impl Dirs {
    pub fn new() -> Arc<Dirs> {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let state = tmp.path().join("state");
        Arc::new(Dirs {
            _tmp: tmp,
            root,
            state,
        })
    }
}

impl TestServer {
    /// davd with its embedded default (fs root, sled state) in fresh temporary directories.
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// Like [`TestServer::start`], with the settings adjusted first.
    pub async fn start_with(adjust: impl FnOnce(&mut Settings)) -> TestServer {
        let dirs = Dirs::new();
        let mut settings = Settings {
            root: dirs.root.clone(),
            state: dirs.state.clone(),
            connection_threads: TEST_CONNECTION_THREADS,
            ..Settings::default()
        };
        adjust(&mut settings);
        Self::launch(dirs, settings).await
    }

    /// Serves `config` (a `davd --config` file's mounts; `ROOT` stands for the temporary root)
    /// on fresh directories.
    pub async fn configured(config: &str) -> TestServer {
        Self::from_config(config, false).await
    }

    /// Like [`TestServer::configured`], with authentication on for the [`USERS`].
    pub async fn with_users(config: &str) -> TestServer {
        Self::from_config(config, true).await
    }

    async fn from_config(config: &str, with_users: bool) -> TestServer {
        let dirs = Dirs::new();
        let text = config.replace("ROOT", &dirs.root.display().to_string());
        let file = davd::config::FileConfig::parse(&text, "test.toml", &dirs.root).unwrap();
        let users = with_users.then(|| {
            std::fs::create_dir_all(&dirs.state).unwrap();
            let users = dirs.state.join("users");
            for (name, password) in USERS {
                davd::auth::add_user(&users, name, password).unwrap();
            }
            users
        });
        let settings = Settings {
            root: dirs.root.clone(),
            state: dirs.state.clone(),
            users,
            mounts: file.mounts,
            // Top-level tables a kind reads (`[cluster]` for the postgres and s3 kinds).
            tables: file.tables,
            connection_threads: TEST_CONNECTION_THREADS,
            ..Settings::default()
        };
        Self::launch(dirs, settings).await
    }

    /// davd on an fs root with sled properties and locks (the embedded default's kinds) and
    /// the `live` handlers, for tests of handlers of their own.
    pub async fn with_handlers(
        live: Vec<Arc<dyn davd_registry::LivePropertyHandler>>,
    ) -> TestServer {
        use davd_subsystems::fs::{FsNamespace, FsOptions};
        use davd_subsystems::sled_store::{SledLocks, SledProperties, StateDb};
        let dirs = Dirs::new();
        let db = StateDb::temporary().unwrap();
        let mount = davd_registry::Mount {
            namespace: Some(Arc::new(
                FsNamespace::open(&dirs.root, FsOptions::default()).unwrap(),
            )),
            properties: Some(Arc::new(SledProperties::open(&db).unwrap())),
            locks: Some(Arc::new(SledLocks::open(&db).unwrap())),
            live,
            access: None,
        };
        let registry =
            davd_registry::Registry::new(vec![(davd_protocol::DavPath::root(), mount)]).unwrap();
        let settings = Settings {
            root: dirs.root.clone(),
            state: dirs.state.clone(),
            ..Settings::default()
        };
        TestServer::start_app(App::with_registry(registry, settings), dirs).await
    }

    /// Serves an app built by the caller (for injected subsystems) on the directories it uses.
    pub async fn start_app(app: App, dirs: Arc<Dirs>) -> TestServer {
        let settings = app.settings.clone();
        Self::serve(dirs, settings, app).await
    }

    async fn launch(dirs: Arc<Dirs>, settings: Settings) -> TestServer {
        let app = App::build(settings.clone()).await.unwrap();
        Self::serve(dirs, settings, app).await
    }

    async fn serve(dirs: Arc<Dirs>, settings: Settings, app: App) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            davd::serve(listener, Arc::new(app), async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        let client = client_builder()
            .timeout(Duration::from_secs(120))
            .build()
            .unwrap();
        TestServer {
            addr,
            client,
            dirs,
            settings,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops gracefully and waits until every store is closed.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }

    /// Stops and starts again on the same directories (a new port).
    pub async fn restart(mut self) -> TestServer {
        self.stop().await;
        let dirs = self.dirs.clone();
        let settings = self.settings.clone();
        // sled releases its file lock when the last handle drops; give it a moment.
        for _ in 0..50 {
            if let Ok(app) = App::build(settings.clone()).await {
                return Self::serve(dirs, settings, app).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the server could not reopen its state");
    }

    /// The directories, to start another server on them.
    pub fn dirs(&self) -> Arc<Dirs> {
        self.dirs.clone()
    }

    pub fn root(&self) -> &Path {
        &self.dirs.root
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn request(&self, method: &str, path: &str) -> RequestBuilder {
        self.client.request(
            Method::from_bytes(method.as_bytes()).unwrap(),
            self.url(path),
        )
    }

    pub async fn put(&self, path: &str, body: impl Into<reqwest::Body>) -> Response {
        self.request("PUT", path).body(body).send().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request("GET", path).send().await.unwrap()
    }

    pub async fn mkcol(&self, path: &str) -> Response {
        self.request("MKCOL", path).send().await.unwrap()
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.request("DELETE", path).send().await.unwrap()
    }

    /// PROPFIND with a body; returns the status and the body text.
    pub async fn propfind(&self, path: &str, depth: &str, body: &str) -> (StatusCode, String) {
        let response = self
            .request("PROPFIND", path)
            .header("Depth", depth)
            .header("Content-Type", "application/xml")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.text().await.unwrap())
    }

    pub async fn proppatch(&self, path: &str, body: &str) -> (StatusCode, String) {
        let response = self
            .request("PROPPATCH", path)
            .header("Content-Type", "application/xml")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.text().await.unwrap())
    }

    /// Takes an exclusive lock and returns its token (without angle brackets).
    pub async fn lock(&self, path: &str, depth: &str) -> String {
        let response = self
            .request("LOCK", path)
            .header("Depth", depth)
            .header("Timeout", "Second-600")
            .body(LOCKINFO_EXCLUSIVE)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "LOCK {path}: {}",
            response.status()
        );
        lock_token(&response)
    }

    /// Releases the lock `token` (without angle brackets) on `path`.
    pub async fn unlock(&self, path: &str, token: &str) -> Response {
        self.request("UNLOCK", path)
            .header("Lock-Token", format!("<{token}>"))
            .send()
            .await
            .unwrap()
    }

    /// Sends raw bytes on a new connection and returns everything read until the server
    /// closes it or `timeout` passes.
    pub async fn raw(&self, request: &[u8], timeout: Duration) -> String {
        let mut stream = TcpStream::connect(self.addr).await.unwrap();
        stream.write_all(request).await.unwrap();
        let mut out = Vec::new();
        let _ = tokio::time::timeout(timeout, stream.read_to_end(&mut out)).await;
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// A reqwest client builder. reqwest is built without a default TLS crypto provider (so that
/// no C code is compiled); rustls's ring provider is installed once here.
pub fn client_builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder()
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A PROPFIND body asking for every property.
pub const ALLPROP: &str = r#"<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>"#;

pub const LOCKINFO_EXCLUSIVE: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner><D:href>mailto:tester@example.com</D:href></D:owner></D:lockinfo>"#;

pub const LOCKINFO_SHARED: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>shared owner</D:owner></D:lockinfo>"#;

/// The token from a LOCK response's Lock-Token header.
pub fn lock_token(response: &Response) -> String {
    response
        .headers()
        .get("lock-token")
        .expect("Lock-Token header")
        .to_str()
        .unwrap()
        .trim_matches(|c| c == '<' || c == '>')
        .to_owned()
}

/// The `sync-token` a `sync-collection` report's multistatus ends with (RFC 6578 §6.2).
pub fn sync_token_of(body: &str) -> Option<String> {
    let doc = roxmltree::Document::parse(body).ok()?;
    doc.root_element()
        .children()
        .find(|n| n.tag_name().name() == "sync-token" && n.tag_name().namespace() == Some("DAV:"))
        .and_then(|n| n.text())
        .map(str::to_owned)
}

/// A parsed multistatus: (href, status per property name) for checking 207 bodies.
pub struct Multistatus {
    pub responses: Vec<MsResponse>,
}

#[derive(Debug, Clone)]
pub struct MsResponse {
    pub href: String,
    /// Whole-resource status, if the response has one.
    pub status: Option<u16>,
    /// (namespace, local name, status, value as text, value as raw XML)
    pub props: Vec<MsProp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsProp {
    pub namespace: String,
    pub name: String,
    pub status: u16,
    pub text: String,
    pub element_children: Vec<(String, String)>,
}

fn status_code(text: &str) -> u16 {
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

impl Multistatus {
    pub fn parse(body: &str) -> Multistatus {
        let doc =
            roxmltree::Document::parse(body).unwrap_or_else(|e| panic!("bad XML ({e}): {body}"));
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "multistatus");
        assert_eq!(root.tag_name().namespace(), Some("DAV:"));
        let dav = |n: roxmltree::Node, name: &str| {
            n.is_element()
                && n.tag_name().name() == name
                && n.tag_name().namespace() == Some("DAV:")
        };
        let mut responses = Vec::new();
        for response in root.children().filter(|n| dav(*n, "response")) {
            let href = response
                .children()
                .find(|n| dav(*n, "href"))
                .and_then(|n| n.text())
                .unwrap_or("")
                .to_owned();
            let status = response
                .children()
                .find(|n| dav(*n, "status"))
                .and_then(|n| n.text())
                .map(status_code);
            let mut props = Vec::new();
            for propstat in response.children().filter(|n| dav(*n, "propstat")) {
                let code = propstat
                    .children()
                    .find(|n| dav(*n, "status"))
                    .and_then(|n| n.text())
                    .map(status_code)
                    .unwrap_or(0);
                if let Some(prop) = propstat.children().find(|n| dav(*n, "prop")) {
                    for p in prop.children().filter(|n| n.is_element()) {
                        props.push(MsProp {
                            namespace: p.tag_name().namespace().unwrap_or("").to_owned(),
                            name: p.tag_name().name().to_owned(),
                            status: code,
                            text: p
                                .descendants()
                                .filter(|n| n.is_text())
                                .filter_map(|n| n.text())
                                .collect(),
                            element_children: p
                                .children()
                                .filter(|c| c.is_element())
                                .map(|c| {
                                    (
                                        c.tag_name().namespace().unwrap_or("").to_owned(),
                                        c.tag_name().name().to_owned(),
                                    )
                                })
                                .collect(),
                        });
                    }
                }
            }
            responses.push(MsResponse {
                href,
                status,
                props,
            });
        }
        Multistatus { responses }
    }

    pub fn response(&self, href: &str) -> &MsResponse {
        self.responses
            .iter()
            .find(|r| r.href == href)
            .unwrap_or_else(|| panic!("no response for {href}; have {:?}", self.hrefs()))
    }

    pub fn hrefs(&self) -> Vec<&str> {
        self.responses.iter().map(|r| r.href.as_str()).collect()
    }

    /// The hrefs, owned and sorted: a listing's members in an order a test can compare.
    pub fn sorted_hrefs(&self) -> Vec<String> {
        let mut hrefs: Vec<String> = self.responses.iter().map(|r| r.href.clone()).collect();
        hrefs.sort();
        hrefs
    }
}

impl MsResponse {
    pub fn prop(&self, namespace: &str, name: &str) -> Option<&MsProp> {
        self.props
            .iter()
            .find(|p| p.namespace == namespace && p.name == name)
    }

    /// The status reported for a property.
    pub fn status_of(&self, namespace: &str, name: &str) -> Option<u16> {
        self.prop(namespace, name).map(|p| p.status)
    }
}
