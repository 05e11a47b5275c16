//! Helpers for the real-client tests (`tests/tests/client_*.rs`, docs/clients.md): servers with
//! users, the user agents and bodies clients send, and checks every client cares about.

use std::path::Path;

use reqwest::RequestBuilder;

use crate::{App, Dirs, Settings, TestServer};

pub const OFFICE_DISCOVERY: &str = "Microsoft Office Protocol Discovery";
pub const OFFICE_EXISTENCE: &str = "Microsoft Office Existence Discovery";
pub const OFFICE_CORE: &str = "Microsoft Office Core Storage Infrastructure/1.0";
pub const MINIREDIR: &str = "Microsoft-WebDAV-MiniRedir/10.0.19045";
pub const FINDER: &str = "WebDAVFS/3.0.0 (03008000) Darwin/22.1.0 (arm64)";
pub const DAVFS2: &str = "davfs2/1.7.0 neon/0.33.0";
pub const RCLONE: &str = "rclone/v1.60.1";
pub const CADAVER: &str = "cadaver/0.24 neon/0.33.0";

/// What Word and the mini-redirector send to lock a document (`D:` prefixed, computer/user).
pub const OFFICE_LOCKINFO: &str = r#"<?xml version="1.0" encoding="utf-8" ?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner><D:href>computerid\user</D:href></D:owner></D:lockinfo>"#;

/// The PROPPATCH Windows sends after writing a file (Explorer copies, Office saves).
pub fn win32_proppatch(attributes: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8" ?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop><Z:Win32CreationTime>Mon, 02 Feb 2026 09:00:00 GMT</Z:Win32CreationTime><Z:Win32LastAccessTime>Mon, 02 Feb 2026 09:30:00 GMT</Z:Win32LastAccessTime><Z:Win32LastModifiedTime>Mon, 02 Feb 2026 09:15:00 GMT</Z:Win32LastModifiedTime><Z:Win32FileAttributes>{attributes}</Z:Win32FileAttributes></D:prop></D:set></D:propertyupdate>"#
    )
}

/// The four Win32 property names Windows writes.
pub const WIN32_NAMES: [&str; 4] = [
    "Win32CreationTime",
    "Win32LastAccessTime",
    "Win32LastModifiedTime",
    "Win32FileAttributes",
];

/// A user of [`with_users`]: alice/wonderland and bob/builder exist.
pub const ALICE: (&str, &str) = ("alice", "wonderland");
pub const BOB: (&str, &str) = ("bob", "builder");

/// A server with authentication on (users alice and bob) and the given configuration text
/// (`ROOT` in it is replaced by the served directory).
pub async fn with_users(config: &str) -> TestServer {
    let dirs = Dirs::new();
    std::fs::create_dir_all(&dirs.state).unwrap();
    let users = dirs.state.join("users");
    for (name, password) in [ALICE, BOB] {
        davd::auth::add_user(&users, name, password).unwrap();
    }
    let text = config.replace("ROOT", &dirs.root.display().to_string());
    let file = davd::config::FileConfig::parse(&text, "test.toml", &dirs.root).unwrap();
    let settings = Settings {
        root: dirs.root.clone(),
        state: dirs.state.clone(),
        users: Some(users),
        mounts: file.mounts,
        ..Settings::default()
    };
    TestServer::start_app(App::build(settings).await.unwrap(), dirs).await
}

/// Settings as the `davd` binary would build them from `--config FILE` (the file is written
/// next to the served directory), to test configuration keys end to end.
pub fn settings_from_config(dirs: &Dirs, config: &str) -> Settings {
    std::fs::create_dir_all(&dirs.state).unwrap();
    let file = dirs.state.join("davd.toml");
    std::fs::write(&file, config).unwrap();
    let cli = <davd::cli::Cli as clap::Parser>::try_parse_from([
        Path::new("davd"),
        Path::new("--config"),
        &file,
        Path::new("--root"),
        &dirs.root,
        Path::new("--state"),
        &dirs.state,
    ])
    .unwrap();
    cli.settings().unwrap()
}

impl TestServer {
    /// A request with credentials.
    pub fn as_user(&self, user: (&str, &str), method: &str, path: &str) -> RequestBuilder {
        self.request(method, path).basic_auth(user.0, Some(user.1))
    }
}

/// Checks that an XML body declares no default namespace (so `DAV:` elements, like every
/// other, carry a prefix: Windows' mini-redirector mishandles `xmlns="DAV:"`), that it parses,
/// and that its root is a `D:` element.
pub fn assert_dav_prefixed(what: &str, body: &str) {
    assert!(
        !body.contains("xmlns=\"") && !body.contains("xmlns='"),
        "{what}: a default namespace is declared: {body}"
    );
    let doc = roxmltree::Document::parse(body).unwrap_or_else(|e| panic!("{what}: {e}: {body}"));
    assert_eq!(
        doc.root_element().tag_name().namespace(),
        Some("DAV:"),
        "{what}: {body}"
    );
    let start = body.find("?>").map_or(0, |i| i + 2);
    assert!(body[start..].starts_with("<D:"), "{what}: {body}");
}

/// The hrefs of a multistatus, sorted (listings come in directory order).
pub fn sorted_hrefs(body: &str) -> Vec<String> {
    let mut hrefs: Vec<String> = crate::Multistatus::parse(body)
        .hrefs()
        .into_iter()
        .map(str::to_owned)
        .collect();
    hrefs.sort();
    hrefs
}
