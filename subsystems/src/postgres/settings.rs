//! The `[cluster]` table: which database, and who this process is among the instances.

use std::net::SocketAddr;
use std::str::FromStr;

use serde::Deserialize;

/// The environment variable that gives the database when `[cluster]` leaves `database` out,
/// so that its password need not be written in the configuration file.
pub const DATABASE_VARIABLE: &str = "DAVD_DATABASE_URL";

/// Connections for queries each instance opens at most, unless `connections` says otherwise.
pub const DEFAULT_CONNECTIONS: usize = 16;

/// Connections each instance opens at most to hold write latches (one per request that changes
/// state at that moment, on paths that do not conflict), unless `latch_connections` says.
pub const DEFAULT_LATCH_CONNECTIONS: usize = 16;

/// `[cluster]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterTable {
    database: Option<String>,
    instance: Option<String>,
    schema: Option<String>,
    connections: Option<usize>,
    latch_connections: Option<usize>,
}

/// `[cluster]`, checked.
#[derive(Clone)]
pub struct ClusterSettings {
    /// Where the database is (host, port, user, password, database name).
    pub database: tokio_postgres::Config,
    /// The instance's name as written; `None`: the host name and the port.
    pub instance: Option<String>,
    /// The schema davd's tables live in; `None`: the user's default (`public`).
    pub schema: Option<String>,
    pub connections: usize,
    pub latch_connections: usize,
}

impl std::fmt::Debug for ClusterSettings {
    // Never the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterSettings")
            .field("database", &describe(&self.database))
            .field("instance", &self.instance)
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl ClusterTable {
    /// Checks what was written; `database_variable` is the value of [`DATABASE_VARIABLE`].
    pub fn check(self, database_variable: Option<String>) -> Result<ClusterSettings, String> {
        let url = match (self.database, database_variable) {
            (Some(url), _) => url,
            (None, Some(url)) if !url.is_empty() => url,
            (None, _) => {
                return Err(format!(
                    "needs database = \"postgres://USER@HOST/DATABASE\" (or the environment \
                     variable {DATABASE_VARIABLE})"
                ));
            }
        };
        let database = tokio_postgres::Config::from_str(&url)
            .map_err(|e| format!("database is not a PostgreSQL connection string: {e}"))?;
        if database.get_hosts().is_empty() {
            return Err("database names no host".into());
        }
        if let Some(name) = &self.instance {
            check_instance(name)?;
        }
        if let Some(schema) = &self.schema {
            check_schema(schema)?;
        }
        let positive = |key: &str, value: Option<usize>, default: usize| match value {
            Some(0) => Err(format!("{key} must be at least 1")),
            Some(n) => Ok(n),
            None => Ok(default),
        };
        Ok(ClusterSettings {
            database,
            instance: self.instance,
            schema: self.schema,
            connections: positive("connections", self.connections, DEFAULT_CONNECTIONS)?,
            latch_connections: positive(
                "latch_connections",
                self.latch_connections,
                DEFAULT_LATCH_CONNECTIONS,
            )?,
        })
    }
}

impl ClusterSettings {
    /// Reads `[cluster]` from the table the server kept (already checked at its line when
    /// the file was loaded).
    pub fn from_toml(table: &toml::Table) -> Result<ClusterSettings, String> {
        let written = ClusterTable::deserialize(toml::Value::Table(table.clone()))
            .map_err(|e| e.to_string())?;
        written.check(std::env::var(DATABASE_VARIABLE).ok())
    }

    /// This instance's name: as written, or the host name and the port it listens on, so
    /// that one configuration file serves every instance, each started with its own
    /// `--listen` and `--state`.
    pub fn instance_name(&self, listen: Option<SocketAddr>) -> Result<String, String> {
        if let Some(name) = &self.instance {
            return Ok(name.clone());
        }
        let port = match listen {
            Some(addr) if addr.port() != 0 => addr.port(),
            _ => {
                return Err(
                    "give the instance a name (instance = \"...\"): its default, the \
                            host name and the port, needs a fixed --listen port"
                        .into(),
                );
            }
        };
        let host = whoami::hostname().unwrap_or_else(|_| "davd".to_owned());
        let mut name: String = host
            .chars()
            .map(|c| match c {
                'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '-' | '_' => c,
                _ => '-',
            })
            .take(56)
            .collect();
        if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            name.insert(0, 'h');
        }
        let name = format!("{name}-{port}");
        check_instance(&name)?;
        Ok(name)
    }
}

/// Instance names become directory names and database values: letters, digits, `.`, `-`
/// and `_`, starting with a letter or digit, at most 64 characters.
fn check_instance(name: &str) -> Result<(), String> {
    let plain = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if plain {
        Ok(())
    } else {
        Err(format!(
            "instance = \"{name}\": use letters, digits, '.', '-' and '_' (at most 64, starting \
             with a letter or digit)"
        ))
    }
}

/// Schema names go into the connection's `search_path` unquoted: lower-case letters, digits
/// and `_`, starting with a letter or `_`, at most 63 characters.
fn check_schema(name: &str) -> Result<(), String> {
    let plain = name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        Ok(())
    } else {
        Err(format!(
            "schema = \"{name}\": use lower-case letters, digits and '_' (at most 63, not \
             starting with a digit)"
        ))
    }
}

/// `host:port/database` for messages and logs, without the user's password.
pub fn describe(config: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .zip(config.get_ports().iter().chain(std::iter::repeat(&5432)))
        .map(|(host, port)| match host {
            Host::Tcp(name) => format!("{name}:{port}"),
            Host::Unix(path) => format!("{}:{port}", path.display()),
        })
        .collect();
    format!(
        "{}/{}",
        hosts.join(","),
        config.get_dbname().or(config.get_user()).unwrap_or("")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> ClusterTable {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn the_database_comes_from_the_file_or_the_environment() {
        let written = table("database = \"postgres://davd:secret@db.example:6543/dav\"")
            .check(Some("postgres://other/x".into()))
            .unwrap();
        assert_eq!(describe(&written.database), "db.example:6543/dav");
        assert!(!format!("{written:?}").contains("secret"));
        assert_eq!(written.connections, DEFAULT_CONNECTIONS);
        let from_env = table("").check(Some("postgres://u@h/d".into())).unwrap();
        assert_eq!(describe(&from_env.database), "h:5432/d");
        let missing = table("").check(None).unwrap_err();
        assert!(missing.contains(DATABASE_VARIABLE), "{missing}");
        let bad = table("database = \"mysql://x\"").check(None).unwrap_err();
        assert!(bad.contains("not a PostgreSQL connection string"), "{bad}");
    }

    #[test]
    fn names_are_checked() {
        for bad in ["instance = \"a/b\"", "instance = \"\"", "instance = \"-a\""] {
            let e = table(&format!("database = \"postgres://h/d\"\n{bad}"))
                .check(None)
                .unwrap_err();
            assert!(e.contains("instance"), "{bad}: {e}");
        }
        for bad in ["schema = \"Davd\"", "schema = \"a-b\"", "schema = \"1a\""] {
            let e = table(&format!("database = \"postgres://h/d\"\n{bad}"))
                .check(None)
                .unwrap_err();
            assert!(e.contains("schema"), "{bad}: {e}");
        }
        let e = table("database = \"postgres://h/d\"\nconnections = 0")
            .check(None)
            .unwrap_err();
        assert!(e.contains("at least 1"), "{e}");
    }

    #[test]
    fn the_default_instance_is_the_host_and_the_port() {
        let settings = table("database = \"postgres://h/d\"").check(None).unwrap();
        let name = settings
            .instance_name(Some("127.0.0.1:8081".parse().unwrap()))
            .unwrap();
        assert!(name.ends_with("-8081"), "{name}");
        check_instance(&name).unwrap();
        let e = settings
            .instance_name(Some("127.0.0.1:0".parse().unwrap()))
            .unwrap_err();
        assert!(e.contains("fixed --listen port"), "{e}");
        let named = table("database = \"postgres://h/d\"\ninstance = \"a\"")
            .check(None)
            .unwrap();
        assert_eq!(named.instance_name(None).unwrap(), "a");
    }
}
