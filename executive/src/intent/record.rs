//! The intent record as it is written to the journal: JSON, so that an operator can read what
//! an interrupted request was doing.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use davd_protocol::headers::Timeout;
use davd_protocol::xml::LockScope;
use davd_protocol::{DavPath, PropName};
use davd_registry::{LockChange, LockRecord, PropChange, StoredProp};

use crate::error::{DavError, DavResult};
use crate::state::{Changes, Store};

/// The version of the record's format, so that a later format can be told apart.
pub const FORMAT: u32 = 1;

/// Paths are written as their decoded form (`/a b/c`), which is what `DavPath` holds.
pub mod path {
    use davd_protocol::DavPath;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(path: &DavPath, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(path.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DavPath, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).ok_or_else(|| serde::de::Error::custom(format!("not a path: {text:?}")))
    }

    pub fn parse(text: &str) -> Option<DavPath> {
        if !text.starts_with('/') {
            return None;
        }
        DavPath::from_segments(text.split('/').filter(|s| !s.is_empty())).ok()
    }
}

/// What a request did to a namespace, in an order recovery can undo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// `path` and its subtree were moved aside under `tag`: undoing restores them, finishing
    /// the request purges them.
    Detach {
        #[serde(with = "path")]
        path: DavPath,
        tag: String,
    },
    /// `from` was renamed to `to` within one namespace: undoing renames it back.
    Rename {
        #[serde(with = "path")]
        from: DavPath,
        #[serde(with = "path")]
        to: DavPath,
    },
    /// Something was created at `path`, where nothing was (an earlier step moved any old
    /// resource aside): undoing removes it.
    Create {
        #[serde(with = "path")]
        path: DavPath,
    },
}

/// Which kind of store a batch goes to; the store itself is found from the anchor path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    Properties,
    Locks,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreRecord {
    pub kind: StoreKind,
    #[serde(with = "path")]
    pub anchor: DavPath,
}

impl StoreRecord {
    pub fn of(store: &Store, anchor: &DavPath) -> Self {
        StoreRecord {
            kind: match store {
                Store::Props(_) => StoreKind::Properties,
                Store::Locks(_) => StoreKind::Locks,
            },
            anchor: anchor.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum PropChangeRecord {
    Set {
        #[serde(with = "path")]
        path: DavPath,
        namespace: String,
        local: String,
        xml: String,
    },
    Remove {
        #[serde(with = "path")]
        path: DavPath,
        namespace: String,
        local: String,
    },
    RemoveTree {
        #[serde(with = "path")]
        path: DavPath,
    },
    MoveTree {
        #[serde(with = "path")]
        from: DavPath,
        #[serde(with = "path")]
        to: DavPath,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRecordRecord {
    pub token: String,
    #[serde(with = "path")]
    pub root: DavPath,
    pub exclusive: bool,
    pub deep: bool,
    pub owner: Option<String>,
    pub principal: Option<String>,
    /// Seconds granted; `None` for Infinite.
    pub timeout: Option<u64>,
    /// Seconds and nanoseconds since the epoch; `None` for Infinite.
    pub expires: Option<(u64, u32)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum LockChangeRecord {
    Put { lock: LockRecordRecord },
    Remove { token: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangesRecord {
    Properties(Vec<PropChangeRecord>),
    Locks(Vec<LockChangeRecord>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRecord {
    pub store: StoreRecord,
    pub changes: ChangesRecord,
}

/// Written just before the commit point: which store's marker says whether the commit
/// happened, and the batches after the first, so that recovery can finish a commit that had
/// begun.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitPlan {
    pub first: StoreRecord,
    pub later: Vec<BatchRecord>,
}

/// One request's plan and progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntentRecord {
    pub format: u32,
    pub id: String,
    pub method: String,
    #[serde(with = "path")]
    pub path: DavPath,
    pub steps: Vec<Step>,
    pub commit: Option<CommitPlan>,
    /// Every batch is in: recovery finishes the request instead of undoing it.
    pub committed: bool,
}

impl IntentRecord {
    pub fn to_bytes(&self) -> DavResult<Vec<u8>> {
        serde_json::to_vec_pretty(self)
            .map_err(|e| DavError::internal(format!("cannot write an intent record: {e}")))
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let record: IntentRecord = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if record.format != FORMAT {
            return Err(format!("unknown record format {}", record.format));
        }
        Ok(record)
    }
}

fn stamp(t: SystemTime) -> (u64, u32) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    (d.as_secs(), d.subsec_nanos())
}

impl From<&LockRecord> for LockRecordRecord {
    fn from(lock: &LockRecord) -> Self {
        LockRecordRecord {
            token: lock.token.clone(),
            root: lock.root.clone(),
            exclusive: lock.scope == LockScope::Exclusive,
            deep: lock.deep,
            owner: lock.owner.clone(),
            principal: lock.principal.clone(),
            timeout: match lock.timeout {
                Timeout::Seconds(s) => Some(s),
                Timeout::Infinite => None,
            },
            expires: lock.expires.map(stamp),
        }
    }
}

impl From<LockRecordRecord> for LockRecord {
    fn from(r: LockRecordRecord) -> Self {
        LockRecord {
            token: r.token,
            root: r.root,
            scope: if r.exclusive {
                LockScope::Exclusive
            } else {
                LockScope::Shared
            },
            deep: r.deep,
            owner: r.owner,
            principal: r.principal,
            timeout: r.timeout.map_or(Timeout::Infinite, Timeout::Seconds),
            expires: r
                .expires
                .map(|(secs, nanos)| UNIX_EPOCH + Duration::new(secs, nanos)),
        }
    }
}

impl From<&Changes> for ChangesRecord {
    fn from(changes: &Changes) -> Self {
        match changes {
            Changes::Props(changes) => ChangesRecord::Properties(
                changes
                    .iter()
                    .map(|c| match c {
                        PropChange::Set { path, prop } => PropChangeRecord::Set {
                            path: path.clone(),
                            namespace: prop.name.namespace.to_string(),
                            local: prop.name.local.to_string(),
                            xml: prop.xml.clone(),
                        },
                        PropChange::Remove { path, name } => PropChangeRecord::Remove {
                            path: path.clone(),
                            namespace: name.namespace.to_string(),
                            local: name.local.to_string(),
                        },
                        PropChange::RemoveTree { path } => {
                            PropChangeRecord::RemoveTree { path: path.clone() }
                        }
                        PropChange::MoveTree { from, to } => PropChangeRecord::MoveTree {
                            from: from.clone(),
                            to: to.clone(),
                        },
                    })
                    .collect(),
            ),
            Changes::Locks(changes) => ChangesRecord::Locks(
                changes
                    .iter()
                    .map(|c| match c {
                        LockChange::Put(lock) => LockChangeRecord::Put { lock: lock.into() },
                        LockChange::Remove { token } => LockChangeRecord::Remove {
                            token: token.clone(),
                        },
                    })
                    .collect(),
            ),
        }
    }
}

impl From<ChangesRecord> for Changes {
    fn from(record: ChangesRecord) -> Self {
        match record {
            ChangesRecord::Properties(changes) => Changes::Props(
                changes
                    .into_iter()
                    .map(|c| match c {
                        PropChangeRecord::Set {
                            path,
                            namespace,
                            local,
                            xml,
                        } => PropChange::Set {
                            path,
                            prop: StoredProp {
                                name: PropName::copied(&namespace, &local),
                                xml,
                            },
                        },
                        PropChangeRecord::Remove {
                            path,
                            namespace,
                            local,
                        } => PropChange::Remove {
                            path,
                            name: PropName::copied(&namespace, &local),
                        },
                        PropChangeRecord::RemoveTree { path } => PropChange::RemoveTree { path },
                        PropChangeRecord::MoveTree { from, to } => {
                            PropChange::MoveTree { from, to }
                        }
                    })
                    .collect(),
            ),
            ChangesRecord::Locks(changes) => Changes::Locks(
                changes
                    .into_iter()
                    .map(|c| match c {
                        LockChangeRecord::Put { lock } => LockChange::Put(lock.into()),
                        LockChangeRecord::Remove { token } => LockChange::Remove { token },
                    })
                    .collect(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> DavPath {
        DavPath::parse_url_path(s).unwrap().0
    }

    #[test]
    fn a_record_round_trips_through_json() {
        let lock = LockRecord {
            token: "urn:uuid:1".into(),
            root: p("/a%20b"),
            scope: LockScope::Shared,
            deep: true,
            owner: Some("<D:owner xmlns:D=\"DAV:\">me</D:owner>".into()),
            principal: None,
            timeout: Timeout::Seconds(60),
            expires: Some(UNIX_EPOCH + Duration::new(1_700_000_000, 5)),
        };
        let record = IntentRecord {
            format: FORMAT,
            id: "0f".into(),
            method: "MOVE".into(),
            path: p("/a%20b"),
            steps: vec![
                Step::Detach {
                    path: p("/b"),
                    tag: "t1".into(),
                },
                Step::Rename {
                    from: p("/a%20b"),
                    to: p("/b"),
                },
                Step::Create { path: p("/%C3%A9") },
            ],
            commit: Some(CommitPlan {
                first: StoreRecord {
                    kind: StoreKind::Properties,
                    anchor: p("/"),
                },
                later: vec![BatchRecord {
                    store: StoreRecord {
                        kind: StoreKind::Locks,
                        anchor: p("/a%20b"),
                    },
                    changes: (&Changes::Locks(vec![
                        LockChange::Put(lock.clone()),
                        LockChange::Remove {
                            token: "urn:uuid:2".into(),
                        },
                    ]))
                        .into(),
                }],
            }),
            committed: false,
        };
        let back = IntentRecord::from_bytes(&record.to_bytes().unwrap()).unwrap();
        assert_eq!(back, record);
        let Some(plan) = back.commit else {
            panic!("the commit plan was lost")
        };
        let changes: Changes = plan.later[0].changes.clone().into();
        assert_eq!(
            changes,
            Changes::Locks(vec![
                LockChange::Put(lock),
                LockChange::Remove {
                    token: "urn:uuid:2".into()
                }
            ])
        );
        assert!(IntentRecord::from_bytes(b"{\"format\": 9}").is_err());
        assert_eq!(path::parse("/"), Some(DavPath::root()));
        assert_eq!(path::parse("relative"), None);
    }
}
