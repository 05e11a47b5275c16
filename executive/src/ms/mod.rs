//! Microsoft's WebDAV extensions (MS-WDVME for Office, MS-WDV for the Windows
//! mini-redirector): the policy half. The wire syntax is in `davd_protocol::headers::ms` and
//! `davd_protocol::msdavext`; the properties (`Repl:*`, `Office:*`, `D:isFolder`...) are a
//! live-property handler in `davd_subsystems::live::microsoft`.
//!
//! What davd implements and declines, with reasons: `docs/microsoft.md`.

pub mod bundled;
pub mod docid;
pub mod errors;
pub mod multipart;
mod recent_records;
mod recent_tags;
pub mod times;

use davd_protocol::Response;
use davd_protocol::headers::ms::PUBLIC_EXTENSION_SCHEMA;
use davd_protocol::headers::ms::names::{MS_AUTHOR_VIA, PUBLIC_EXTENSION, X_MSDAVEXT};

/// The namespace prefixes Microsoft clients expect for these namespaces (MS-WDVME 2.2.10;
/// SharePoint even requires these exact aliases from clients): a multistatus root declares
/// those its answer can name (`crate::multistatus`).
pub const PREFIXES: &[(&str, &str)] = &[
    ("Office", "urn:schemas-microsoft-com:office:office"),
    ("Repl", "http://schemas.microsoft.com/repl/"),
    ("Z", "urn:schemas-microsoft-com:"),
];

/// What every OPTIONS response advertises, errors included (as Apache does, so that a 404 to
/// Word's OPTIONS of a folder's parent still tells it to use WebDAV): WebDAV authoring
/// (MS-WDVSE 2.2.2), the MS-WDV extensions, the Repl schema (MS-WDVME 3.2.5.1). Never
/// `DocumentManagementServer` (davd has no FrontPage Server Extensions) nor `X-MSFSSHTTP`
/// (Word would switch to the FSSHTTP protocol).
pub fn advertise(response: &mut Response) {
    response.set_header(MS_AUTHOR_VIA, "DAV");
    response.set_header(X_MSDAVEXT, "1");
    response.set_header(PUBLIC_EXTENSION, PUBLIC_EXTENSION_SCHEMA);
}
