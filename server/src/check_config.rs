//! `davd check-config --config FILE`: what `nginx -t` is to nginx. Reads the file and what it
//! names (the users file), reports every problem with its line, and opens nothing for
//! writing: no store, no journal, no log file, no socket.

use std::path::Path;

use davd_subsystems::catalog::Catalog;

use crate::access_log::AccessLogTarget;
use crate::auth::Users;
use crate::config::{ConfigError, FileConfig};
use crate::settings::Settings;

/// What the check found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Each makes startup fail.
    pub problems: Vec<String>,
    /// Each is worth knowing, and startup may still succeed.
    pub warnings: Vec<String>,
    /// What the file serves, when it has no problem: `/ = /srv/dav, /db = sled namespace`.
    pub served: Option<String>,
}

/// Checks `path` with davd's own kinds.
pub fn check(path: &Path) -> Report {
    check_with(path, &Catalog::builtin())
}

/// Like [`check`], with the kinds of `catalog`.
pub fn check_with(path: &Path, catalog: &Catalog) -> Report {
    let name = path.display().to_string();
    let mut report = Report::default();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            report
                .problems
                .push(format!("{name}: cannot read the configuration: {e}"));
            return report;
        }
    };
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let file = match FileConfig::check_with(&text, &name, &base, catalog) {
        Ok(file) => file,
        Err(problems) => {
            report.problems = problems.iter().map(ConfigError::to_string).collect();
            return report;
        }
    };
    let mut settings = Settings {
        access_log: AccessLogTarget::Stdout,
        ..Settings::default()
    };
    file.apply(&mut settings);
    settings.catalog = catalog.clone();
    // What startup would refuse, found without opening anything.
    if let Some(users) = &settings.users {
        match Users::load(users) {
            Ok(loaded) if loaded.is_empty() => report.problems.push(format!(
                "{name}: the users file {} has no users (add one with `davd user add NAME --users FILE`)",
                users.display()
            )),
            Ok(_) => {}
            Err(e) => report.problems.push(format!("{name}: {e}")),
        }
    }
    if let AccessLogTarget::File(log) = &settings.access_log {
        let directory = log.parent().filter(|p| !p.as_os_str().is_empty());
        if directory.is_some_and(|d| !d.is_dir()) {
            report.problems.push(format!(
                "{name}: access_log: the directory of {} does not exist",
                log.display()
            ));
        }
    }
    if settings.metrics_listen == Some(settings.listen) {
        report.problems.push(format!(
            "{name}: metrics_listen is the address davd serves WebDAV on; give it a port of its own"
        ));
    }
    match crate::wiring::effective_mounts(&settings) {
        Ok(mounts) => {
            if let Err(e) = crate::wiring::refuse_state_inside_a_root(&settings, &mounts) {
                report.problems.push(format!("{name}: {e}"));
            }
            report.served = Some(crate::wiring::describe_served(&mounts));
        }
        Err(e) => report.problems.push(format!("{name}: {e}")),
    }
    if !settings.listen.ip().is_loopback() && settings.users.is_none() {
        report.warnings.push(format!(
            "{name}: listen = \"{}\" serves the network without authentication: davd refuses to \
             start unless given --allow-anonymous (or a users file)",
            settings.listen
        ));
    }
    report
}
