//! The commands method plans are built from. Each does one thing to one subsystem and knows
//! how to undo it.

pub mod commit;
pub mod copy;
pub mod locks;
pub mod modified;
pub mod namespace;
pub mod properties;
