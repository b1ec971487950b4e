//! A vector case's `config` (tests/vectors/README.md, "Common shape") as a `PortwayBuilder`:
//! shared by the conformance vectors and the gateway vectors.
#![allow(dead_code)]

use portway::{Portway, PortwayBuilder};
use serde_json::Value;

/// The builder for `config`: each key it carries, the defaults for the rest.
pub fn builder_for(config: &Value) -> PortwayBuilder {
    let mut b = Portway::builder();
    if let Some(d) = config.get("domains") {
        b = b.domains(strings(d));
    }
    if let Some(p) = config.get("reserved_ports") {
        b = b.reserved_ports(p.as_array().unwrap().iter().map(|v| v.as_i64().unwrap()));
    }
    if let Some(ids) = config.get("reserved_sandbox_ids") {
        b = b.reserved_sandbox_ids(strings(ids));
    }
    if let Some(s) = config.get("custom_domain_suffixes") {
        b = b.custom_domain_suffixes(strings(s));
    }
    if let Some(n) = config.get("normalize_id") {
        b = b.normalize_id(n.as_bool().unwrap());
    }
    if let Some(n) = config.get("min_token_length") {
        b = b.min_token_length(n.as_i64().unwrap());
    }
    b
}

/// A JSON array of strings.
pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}
