//! Fail points inside the s3 kind, for the crash tests (`tests/tests/s3_crash.rs`): the same
//! `DAVD_FAIL_AT` variable as the executive's (`executive/src/failpoint.rs`), whose function
//! this crate cannot call (subsystems do not depend on the executive). A name here is
//! `s3:POINT`. In a debug build, a point named in the variable aborts the process without
//! unwinding or running any destructor, as `kill -9` would; release builds compile all of
//! this away.

/// Aborts the process at `s3:point` if the test asked for it.
#[cfg(debug_assertions)]
pub fn boundary(point: &str) {
    use std::sync::OnceLock;
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    let names = NAMES.get_or_init(|| {
        std::env::var("DAVD_FAIL_AT")
            .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect())
            .unwrap_or_default()
    });
    if names.is_empty() {
        return;
    }
    let name = format!("s3:{point}");
    if names.contains(&name) {
        eprintln!("davd: fail point {name} reached: aborting as if killed");
        std::process::abort();
    }
}

/// Release builds have no fail points.
#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn boundary(_point: &str) {}
