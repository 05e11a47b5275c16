//! A kind's table in the configuration file, as the kind sees it: its keys, with the place of
//! each in the file, so that every mistake is reported at its line.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::Role;

/// A mistake in the configuration: what is wrong, and where (byte offsets into the file,
/// which the server turns into a line number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub span: Option<Range<usize>>,
    pub message: String,
}

impl ConfigProblem {
    pub fn new(span: Option<Range<usize>>, message: impl Into<String>) -> Self {
        ConfigProblem {
            span,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigProblem {}

/// The configuration file being read: its directory (relative paths in it are relative to
/// that) and its top-level tables.
pub struct ConfigSource<'a> {
    base: &'a Path,
    document: &'a DeTable<'a>,
}

impl<'a> ConfigSource<'a> {
    pub fn new(base: &'a Path, document: &'a DeTable<'a>) -> Self {
        ConfigSource { base, document }
    }
}

/// One table of the configuration file: a kind's own (`{ kind = "fs", root = "DIR" }`) or
/// a top-level one (`[cluster]`).
pub struct TableConfig<'a> {
    source: &'a ConfigSource<'a>,
    value: &'a Spanned<DeValue<'a>>,
    /// How messages name it: `namespace kind "fs"`, `[cluster]`.
    label: String,
    /// A key that belongs to the caller, not to the table's reader (`kind`).
    skip: Option<&'static str>,
}

impl<'a> TableConfig<'a> {
    pub fn new(
        source: &'a ConfigSource<'a>,
        value: &'a Spanned<DeValue<'a>>,
        label: String,
    ) -> Self {
        TableConfig {
            source,
            value,
            label,
            skip: None,
        }
    }

    /// How messages name the table.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Where the table is in the file.
    pub fn span(&self) -> Range<usize> {
        self.value.span()
    }

    /// The table's value as written (for the catalog to find `kind`).
    pub(super) fn value(&self) -> &'a Spanned<DeValue<'a>> {
        self.value
    }

    pub(super) fn skipping(mut self, key: &'static str, label: String) -> Self {
        self.skip = Some(key);
        self.label = label;
        self
    }

    /// The keys, without the one that belongs to the caller.
    fn entries(&self) -> Result<DeTable<'a>, ConfigProblem> {
        let DeValue::Table(table) = self.value.get_ref() else {
            return Err(self.problem("must be a table, such as { kind = \"memory\" }"));
        };
        let mut table = table.clone();
        if let Some(skip) = self.skip {
            table.remove(skip);
        }
        Ok(table)
    }

    /// Reads the table into `T`. Give `T` `#[serde(deny_unknown_fields)]`: a misspelt key is
    /// then an error at its line, like every other mistake in the file.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ConfigProblem> {
        let table = Spanned::new(self.span(), DeValue::Table(self.entries()?));
        T::deserialize(ValueDeserializer::from(table)).map_err(|e| {
            ConfigProblem::new(
                e.span().or_else(|| Some(self.span())),
                format!("{}: {}", self.label, e.message()),
            )
        })
    }

    /// Checks that the table has no keys (besides `kind`).
    pub fn no_keys(&self) -> Result<(), ConfigProblem> {
        match self.entries()?.iter().next() {
            None => Ok(()),
            Some((key, _)) => Err(ConfigProblem::new(
                Some(key.span()),
                format!("{} takes no key `{}`", self.label, key.get_ref()),
            )),
        }
    }

    /// A path written in the file, relative to the file's directory unless absolute.
    pub fn path(&self, written: &str) -> PathBuf {
        let path = PathBuf::from(written);
        if path.is_absolute() {
            path
        } else {
            self.source.base.join(path)
        }
    }

    /// A problem with the table as a whole, reported at its line.
    pub fn problem(&self, message: impl fmt::Display) -> ConfigProblem {
        ConfigProblem::new(Some(self.span()), format!("{}: {message}", self.label))
    }

    /// A top-level table of the file (`[cluster]`), if it is there. A kind reads only the
    /// tables it names in [`super::Kind::tables`]: the server refuses any other top-level
    /// key it does not know.
    pub fn top_level(&self, name: &str) -> Option<TableConfig<'a>> {
        self.source
            .document
            .get(name)
            .map(|value| TableConfig::new(self.source, value, format!("[{name}]")))
    }
}

/// A kind's table, handed to the kind's constructor for one role.
pub struct KindConfig<'a> {
    /// The kind's name, as written.
    pub kind: &'a str,
    /// What the mount asks of it.
    pub role: Role,
    table: TableConfig<'a>,
}

impl<'a> KindConfig<'a> {
    pub(super) fn new(kind: &'a str, role: Role, table: TableConfig<'a>) -> Self {
        let label = format!("{role} kind \"{kind}\"");
        KindConfig {
            kind,
            role,
            table: table.skipping("kind", label),
        }
    }
}

impl<'a> std::ops::Deref for KindConfig<'a> {
    type Target = TableConfig<'a>;
    fn deref(&self) -> &TableConfig<'a> {
        &self.table
    }
}
