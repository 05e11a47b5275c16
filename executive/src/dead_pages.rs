//! Writing a resource whose dead properties are too large to hold at once.
//!
//! A resource may carry far more dead property bytes than any one response should hold (forty
//! PROPPATCHes of 1 MiB each make 40 MiB; ten clients reading it at once used to take the
//! server to 500 MiB). `crate::props` leaves such properties out of the `propstat`s it
//! gathers ([`LargeDead`]); here they are read [`PAGE_BYTES`] at a time
//! (`PropertyManager::get_page`, or one `get` per named property) and written into the
//! `200` propstat as they come, the writer's bytes sent on to the client whenever they pass
//! [`PAGE_BYTES`]. Memory per response stays at about a page and the largest single value,
//! however large the resource.

use std::future::Future;

use http::StatusCode;
use tracing::warn;

use davd_protocol::xml::{MultistatusWriter, PropStat, PropValue};
use davd_protocol::{DavPath, PropName};
use davd_registry::{Subsystems, is_internal};

use crate::props::{LargeDead, PAGE_BYTES, ResourceProps};

/// Where a streamed multistatus goes: `send` passes on what the writer holds, and says whether
/// the client is still there.
pub trait Sink: Sync {
    fn send(&self, writer: &mut MultistatusWriter) -> impl Future<Output = bool> + Send;
}

/// Writes the `response` of `path` from `props`, its large dead properties page by page.
/// Returns false if the client went away meanwhile.
pub async fn write_response(
    writer: &mut MultistatusWriter,
    sink: &impl Sink,
    path: &DavPath,
    href: &str,
    props: ResourceProps,
    subsystems: &Subsystems,
) -> bool {
    let Some(large) = props.large else {
        writer.prop_response(href, &props.stats);
        return true;
    };
    let mut stats = props.stats;
    let found = stats
        .iter()
        .position(|s| s.status == StatusCode::OK)
        .map(|i| stats.remove(i));
    writer.open_response(href);
    let mut ok = OkPropstat { open: false };
    for (name, value) in found.iter().flat_map(|s| &s.props) {
        ok.prop(writer, name, value.as_ref());
    }
    let mut missing: Vec<PropName> = Vec::new();
    let mut failure: Option<String> = None;
    let properties = &subsystems.properties;
    match large {
        LargeDead::All {
            names_only,
            include,
        } => {
            let mut wanted: Vec<(PropName, bool)> =
                include.into_iter().map(|n| (n, false)).collect();
            let mut after: Option<PropName> = None;
            loop {
                let page = match properties.get_page(path, after.as_ref(), PAGE_BYTES).await {
                    Ok(page) => page,
                    Err(e) => {
                        failure = Some(e.message.into_owned());
                        break;
                    }
                };
                after = page.props.last().map(|p| p.name.clone());
                for prop in page.props {
                    if is_internal(&prop.name) || subsystems.handler_for(&prop.name).is_some() {
                        continue;
                    }
                    if let Some((_, seen)) = wanted.iter_mut().find(|(n, _)| *n == prop.name) {
                        *seen = true;
                    }
                    let value = (!names_only).then_some(PropValue::Fragment(prop.xml));
                    ok.prop(writer, &prop.name, value.as_ref());
                }
                if !page.more {
                    break;
                }
                if writer.buffered() >= PAGE_BYTES && !sink.send(writer).await {
                    return false;
                }
            }
            missing.extend(wanted.into_iter().filter(|(_, seen)| !seen).map(|(n, _)| n));
        }
        LargeDead::Named(names) => {
            for name in names {
                match properties.get(path, &name).await {
                    Ok(Some(prop)) => {
                        ok.prop(writer, &name, Some(&PropValue::Fragment(prop.xml)));
                    }
                    Ok(None) => missing.push(name),
                    Err(e) => {
                        failure = Some(e.message.into_owned());
                        break;
                    }
                }
                if writer.buffered() >= PAGE_BYTES && !sink.send(writer).await {
                    return false;
                }
            }
        }
    }
    if ok.open {
        writer.close_propstat(StatusCode::OK, None, None);
    }
    if !missing.is_empty() {
        let props = missing.into_iter().map(|name| (name, None));
        match stats.iter_mut().find(|s| s.status == StatusCode::NOT_FOUND) {
            Some(stat) => stat.props.extend(props),
            None => stats.insert(
                0,
                PropStat {
                    status: StatusCode::NOT_FOUND,
                    props: props.collect(),
                    error: None,
                    description: None,
                },
            ),
        }
    }
    for stat in &stats {
        writer.open_propstat();
        for (name, value) in &stat.props {
            writer.prop(name, value.as_ref());
        }
        writer.close_propstat(
            stat.status,
            stat.error.as_ref(),
            stat.description.as_deref(),
        );
    }
    if let Some(message) = failure {
        warn!(path = %path, error = %message, "reading dead properties failed part way");
        writer.open_propstat();
        writer.close_propstat(
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            Some(&format!("reading the dead properties failed: {message}")),
        );
    }
    writer.close_response();
    true
}

/// The `200` propstat, opened with its first property.
struct OkPropstat {
    open: bool,
}

impl OkPropstat {
    fn prop(&mut self, writer: &mut MultistatusWriter, name: &PropName, value: Option<&PropValue>) {
        if !self.open {
            writer.open_propstat();
            self.open = true;
        }
        writer.prop(name, value);
    }
}
