//! Who is asking, and which of the clients davd knows must be answered differently: worked out
//! once per request, here and nowhere else, into the [`ClientInfo`] that methods and
//! live-property handlers read. Each quirk is one flag of [`Quirks`], which says where it is
//! applied; the tests below pin down which clients get it.

use davd_protocol::Request;
use davd_protocol::headers::ms::miniredir_version;
use davd_registry::{ClientInfo, Quirks, Readable};

use crate::ExecutiveConfig;

/// User agents that get lock discovery without `lockroot` unless configured otherwise
/// (`omit_lockroot_for`): Office's old Internet Publishing Provider (MSDAIPP, Office 2000 to
/// 2003 and Windows XP's web folders) predates RFC 4918 and rejects the element.
pub const DEFAULT_OMIT_LOCKROOT_FOR: &[&str] =
    &["Microsoft Data Access Internet Publishing Provider"];

/// The first mini-redirector version that copes with `activelock` in PROPFIND answers.
const MINIREDIR_FIXED: [u64; 4] = [5, 2, 3718, 0];

/// The client of `request`, made by `principal` (if authenticated).
pub fn client_info(
    request: &Request,
    principal: Option<String>,
    config: &ExecutiveConfig,
) -> ClientInfo {
    let agent = request.user_agent.as_deref().unwrap_or("");
    ClientInfo {
        principal,
        quirks: Quirks {
            // The length first: `contains` prepares a search for its needle even in a
            // haystack too short to hold it, and most agents are shorter than the listed ones
            // (or absent).
            omit_lockroot: config.omit_lockroot_for.iter().any(|listed| {
                !listed.is_empty() && agent.len() >= listed.len() && agent.contains(listed.as_str())
            }),
            hide_activelocks: miniredir_version(agent).is_some_and(|v| v < MINIREDIR_FIXED),
        },
        // Set from the access rules by the executive (`policy::access::readable`).
        readable: Readable::default(),
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderMap;

    use davd_protocol::RequestHead;

    use super::*;

    fn quirks_of(user_agent: &str, config: &ExecutiveConfig) -> Quirks {
        let mut headers = HeaderMap::new();
        headers.insert("host", "localhost".parse().unwrap());
        if !user_agent.is_empty() {
            headers.insert("user-agent", user_agent.parse().unwrap());
        }
        let request = Request::parse(RequestHead {
            method: "PROPFIND",
            path: "/",
            headers: &headers,
            default_port: 80,
            body_may_exist: false,
        })
        .unwrap();
        client_info(&request, None, config).quirks
    }

    #[test]
    fn old_office_gets_no_lockroot_as_configured() {
        let default = ExecutiveConfig::default();
        let msdaipp = "Microsoft Data Access Internet Publishing Provider DAV 1.1";
        assert!(quirks_of(msdaipp, &default).omit_lockroot);
        for agent in ["Microsoft Office Word 2014", "", "davfs2/1.7"] {
            assert!(!quirks_of(agent, &default).omit_lockroot, "{agent}");
        }
        let listed = ExecutiveConfig {
            omit_lockroot_for: vec!["OldOffice".into(), String::new()],
            ..ExecutiveConfig::default()
        };
        assert!(quirks_of("Microsoft Office/16.0 (OldOffice 2003)", &listed).omit_lockroot);
        assert!(!quirks_of(msdaipp, &listed).omit_lockroot);
        // An empty entry would match every client; it matches none.
        assert!(!quirks_of("davfs2/1.7", &listed).omit_lockroot);
    }

    #[test]
    fn old_mini_redirectors_get_no_activelocks_in_propfind() {
        let config = ExecutiveConfig::default();
        let agent = |v: &str| format!("Microsoft-WebDAV-MiniRedir/{v}");
        for old in ["5.1.2600", "5.2.3717", "4.0"] {
            assert!(quirks_of(&agent(old), &config).hide_activelocks, "{old}");
        }
        for new in ["5.2.3718", "5.2.3718.0", "5.2.3790", "10.0.19045"] {
            assert!(!quirks_of(&agent(new), &config).hide_activelocks, "{new}");
        }
        for other in ["Microsoft-WebDAV-MiniRedir", "DavClnt", ""] {
            assert!(!quirks_of(other, &config).hide_activelocks, "{other}");
        }
    }
}
