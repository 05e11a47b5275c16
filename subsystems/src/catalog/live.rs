//! The opt-in live-property handlers a mount can name: `live = ["read-only", "hit-counter"]`.

use std::sync::Arc;

use davd_registry::LivePropertyHandler;

use super::LiveKind;
use crate::live::{HitCounter, ReadOnly};

pub const READ_ONLY: LiveKind = LiveKind {
    name: "read-only",
    new: read_only,
};

pub const HIT_COUNTER: LiveKind = LiveKind {
    name: "hit-counter",
    new: hit_counter,
};

fn read_only() -> Arc<dyn LivePropertyHandler> {
    Arc::new(ReadOnly::new())
}

fn hit_counter() -> Arc<dyn LivePropertyHandler> {
    Arc::new(HitCounter::new())
}
