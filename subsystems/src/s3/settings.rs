//! What an `s3` mount says: where the bucket is and whose keys sign the requests.

use std::fmt;
use std::path::Path;

use serde::Deserialize;

/// The environment variables the keys are read from when the mount names no file.
pub const ACCESS_KEY_VARIABLE: &str = "AWS_ACCESS_KEY_ID";
pub const SECRET_KEY_VARIABLE: &str = "AWS_SECRET_ACCESS_KEY";
pub const SESSION_TOKEN_VARIABLE: &str = "AWS_SESSION_TOKEN";

/// The region when the mount names none (what S3-compatible stores usually accept).
pub const DEFAULT_REGION: &str = "us-east-1";

/// How long a blob stays unreferenced before the collector removes it, when the mount does
/// not say: far longer than publishing takes once an upload has ended.
pub const DEFAULT_GRACE_SECS: u64 = 3600;

/// MiB of upload bodies a mount holds in memory at once, when the mount does not say:
/// sixteen parts, so sixteen uploads each have a part going up (docs/performance.md).
pub const DEFAULT_UPLOAD_BUFFER_MIB: u64 = 128;

/// An `s3` mount's settings, checked.
#[derive(Clone)]
pub struct S3Settings {
    pub bucket: String,
    /// `None`: AWS's own endpoint for the region.
    pub endpoint: Option<String>,
    pub region: String,
    /// Where in the bucket the blobs go, without slashes at either end; empty: the top.
    pub prefix: String,
    pub credentials: Credentials,
    /// How long a blob no row names is kept before the collector removes it.
    pub grace: std::time::Duration,
    /// How many part buffers ([`super::PART_SIZE`]) the mount's uploads may fill at once.
    pub upload_parts: usize,
}

/// The keys that sign requests. Never printed: `Debug` shows only the key's id.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Settings")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("prefix", &self.prefix)
            .field("credentials", &self.credentials)
            .field("grace", &self.grace)
            .field("upload_parts", &self.upload_parts)
            .finish()
    }
}

impl S3Settings {
    /// The name of this namespace's tree in the database: its bucket and prefix, so that
    /// every instance (and every mount) naming the same place sees the same tree.
    pub fn store(&self) -> String {
        format!("{}/{}", self.bucket, self.prefix)
    }
}

/// The mount's table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Table {
    pub bucket: Option<String>,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub prefix: Option<String>,
    /// A TOML file with `access_key_id` and `secret_access_key` (and `session_token`).
    pub credentials: Option<String>,
    /// Seconds an unreferenced blob is kept before it is removed.
    pub grace_secs: Option<u64>,
    /// MiB of upload bodies the mount holds in memory at once, in whole parts.
    pub upload_buffer_mib: Option<u64>,
}

impl S3Table {
    /// Checks the table; `credentials_file` is its `credentials` resolved against the
    /// configuration's directory. The error says what to write.
    pub fn check(
        self,
        credentials_file: Option<&Path>,
        environment: impl Fn(&str) -> Option<String>,
    ) -> Result<S3Settings, String> {
        let bucket = self
            .bucket
            .filter(|b| !b.is_empty())
            .ok_or("needs bucket = \"NAME\", the S3 bucket the content goes to")?;
        if bucket.contains('/') {
            return Err(format!("bucket = {bucket:?}: a bucket's name has no '/'"));
        }
        if let Some(endpoint) = &self.endpoint {
            if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
                return Err(format!(
                    "endpoint = {endpoint:?}: write the URL, http://HOST:PORT or https://HOST"
                ));
            }
        }
        let prefix = self.prefix.unwrap_or_default();
        let prefix = prefix.trim_matches('/').to_owned();
        if prefix.split('/').any(|s| s == "." || s == "..")
            || (!prefix.is_empty() && prefix.split('/').any(str::is_empty))
        {
            return Err(format!(
                "prefix = {prefix:?}: segments separated by single '/', without '.' or '..'"
            ));
        }
        let upload_parts = upload_parts(self.upload_buffer_mib)?;
        let credentials = match credentials_file {
            Some(file) => read_credentials(file)?,
            None => from_environment(environment)?,
        };
        Ok(S3Settings {
            bucket,
            endpoint: self.endpoint,
            region: self
                .region
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| DEFAULT_REGION.to_owned()),
            prefix,
            credentials,
            grace: std::time::Duration::from_secs(self.grace_secs.unwrap_or(DEFAULT_GRACE_SECS)),
            upload_parts,
        })
    }
}

/// The upload budget in parts. It is counted in whole parts because a part is what an upload
/// fills before sending it: a budget of less than one part would let no upload start.
fn upload_parts(mib: Option<u64>) -> Result<usize, String> {
    let part_mib = (super::PART_SIZE / (1024 * 1024)) as u64;
    let mib = mib.unwrap_or(DEFAULT_UPLOAD_BUFFER_MIB);
    if mib < part_mib || mib % part_mib != 0 {
        return Err(format!(
            "upload_buffer_mib = {mib}: uploads buffer whole parts of {part_mib} MiB, so write \
             a multiple of {part_mib} (at least {part_mib}; {DEFAULT_UPLOAD_BUFFER_MIB} when not \
             given)"
        ));
    }
    Ok(usize::try_from(mib / part_mib)
        .unwrap_or(usize::MAX)
        .min(tokio::sync::Semaphore::MAX_PERMITS))
}

fn read_credentials(file: &Path) -> Result<Credentials, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("credentials: cannot read {}: {e}", file.display()))?;
    // toml's message may quote the line, and the line may hold the secret: not repeated.
    toml::from_str(&text).map_err(|_| {
        format!(
            "credentials: {} is not a TOML file with access_key_id = \"...\" and \
             secret_access_key = \"...\" (and perhaps session_token)",
            file.display()
        )
    })
}

fn from_environment(environment: impl Fn(&str) -> Option<String>) -> Result<Credentials, String> {
    match (
        environment(ACCESS_KEY_VARIABLE).filter(|v| !v.is_empty()),
        environment(SECRET_KEY_VARIABLE).filter(|v| !v.is_empty()),
    ) {
        (Some(access_key_id), Some(secret_access_key)) => Ok(Credentials {
            access_key_id,
            secret_access_key,
            session_token: environment(SESSION_TOKEN_VARIABLE).filter(|v| !v.is_empty()),
        }),
        _ => Err(format!(
            "needs keys: set {ACCESS_KEY_VARIABLE} and {SECRET_KEY_VARIABLE}, or name a file \
             with credentials = \"FILE\""
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn table(text: &str) -> S3Table {
        toml::from_str(text).unwrap()
    }

    fn keys(name: &str) -> Option<String> {
        match name {
            ACCESS_KEY_VARIABLE => Some("AKID".to_owned()),
            SECRET_KEY_VARIABLE => Some("very-secret".to_owned()),
            _ => None,
        }
    }

    #[test]
    fn a_bucket_and_keys_are_enough() {
        let settings = table("bucket = \"b\"\nprefix = \"/dav/x/\"")
            .check(None, keys)
            .unwrap();
        assert_eq!(settings.region, DEFAULT_REGION);
        assert_eq!(settings.grace.as_secs(), DEFAULT_GRACE_SECS);
        assert_eq!(settings.upload_parts, 16);
        assert_eq!(settings.prefix, "dav/x");
        assert_eq!(settings.store(), "b/dav/x");
        assert!(!format!("{settings:?}").contains("very-secret"));
    }

    #[test]
    fn mistakes_are_named() {
        let no_keys = |_: &str| None;
        for (text, says) in [
            ("", "needs bucket"),
            ("bucket = \"a/b\"", "no '/'"),
            (
                "bucket = \"b\"\nendpoint = \"localhost:9000\"",
                "write the URL",
            ),
            ("bucket = \"b\"\nprefix = \"a/../b\"", "'..'"),
            ("bucket = \"b\"\nprefix = \"a//b\"", "single '/'"),
            ("bucket = \"b\"\nupload_buffer_mib = 0", "multiple of 8"),
            ("bucket = \"b\"\nupload_buffer_mib = 4", "at least 8"),
            ("bucket = \"b\"\nupload_buffer_mib = 100", "multiple of 8"),
        ] {
            let error = table(text).check(None, keys).err().unwrap();
            assert!(error.contains(says), "{text}: {error}");
        }
        let error = table("bucket = \"b\"").check(None, no_keys).err().unwrap();
        assert!(error.contains(ACCESS_KEY_VARIABLE), "{error}");
        assert!(toml::from_str::<S3Table>("bucket = \"b\"\nsecret = 1").is_err());
        assert!(toml::from_str::<S3Table>("bucket = \"b\"\nupload_buffer_mib = -8").is_err());
        let settings = table("bucket = \"b\"\nupload_buffer_mib = 8")
            .check(None, keys)
            .unwrap();
        assert_eq!(settings.upload_parts, 1, "one part: uploads take turns");
    }

    #[test]
    fn keys_come_from_a_file_and_a_bad_file_is_not_quoted() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keys.toml");
        std::fs::write(&file, "access_key_id = \"A\"\nsecret_access_key = \"S\"\n").unwrap();
        let settings = table("bucket = \"b\"")
            .check(Some(&file), |_| None)
            .unwrap();
        assert_eq!(settings.credentials.secret_access_key, "S");
        std::fs::write(&file, "secret_access_key = \"hunter2\" oops\n").unwrap();
        let error = table("bucket = \"b\"")
            .check(Some(&file), keys)
            .err()
            .unwrap();
        assert!(!error.contains("hunter2"), "{error}");
    }
}
