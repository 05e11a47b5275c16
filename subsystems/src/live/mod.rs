//! Live-property handlers. The standard ones (RFC 4918 §15, RFC 4331) are registered on the
//! root scope by default; the two examples from the 1997 paper are opt-in and are written to
//! be read as a tutorial on writing a handler.

mod core;
mod display_name;
mod hit_counter;
mod locking;
mod microsoft;
mod quota;
mod read_only;
mod sync;

#[cfg(test)]
mod agreement_tests;

pub use self::core::CoreProperties;
pub use self::display_name::DisplayName;
pub use self::hit_counter::HitCounter;
pub use self::locking::LockProperties;
pub use self::microsoft::{MicrosoftProperties, OFFICE_NS, REPL_NS, WIN32_NS};
pub use self::quota::QuotaProperties;
pub use self::read_only::ReadOnly;
pub use self::sync::SyncProperties;

use std::sync::Arc;

use davd_registry::LivePropertyHandler;

/// The namespace of davd's own example properties.
pub const DAVD_NS: &str = "urn:davd:";

/// The handlers every scope gets unless configured otherwise.
pub fn standard_handlers() -> Vec<Arc<dyn LivePropertyHandler>> {
    vec![
        Arc::new(CoreProperties::new()),
        Arc::new(DisplayName::new()),
        Arc::new(LockProperties::new()),
        Arc::new(QuotaProperties::new()),
        Arc::new(SyncProperties::new()),
        Arc::new(MicrosoftProperties::new()),
    ]
}
