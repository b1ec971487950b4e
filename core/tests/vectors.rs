//! Runs every conformance case in `tests/vectors/*.json` (the format is described in
//! `tests/vectors/README.md`) against the Rust API.

use std::collections::HashMap;
use std::path::PathBuf;

use portway::{Error, ExposeOptions, Portway, Resolution};
#[path = "support/config.rs"]
mod config;

use serde_json::{Value, json};

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors")
}

fn load(file: &str) -> Vec<Value> {
    let path = vectors_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    let cases = doc["cases"]
        .as_array()
        .unwrap_or_else(|| panic!("{file}: no cases"))
        .clone();
    assert!(!cases.is_empty(), "{file}: no cases");
    cases
}

fn portway_for(config: &Value) -> Portway {
    config::builder_for(config)
        .build()
        .unwrap_or_else(|e| panic!("config {config}: {e}"))
}

/// Compares a result with a case's `expect`; `vars` binds `{name}` templates (flows only).
fn check(ctx: &str, expect: &Value, got: Result<Value, Error>, vars: &mut Vars) {
    match (expect.get("ok"), expect.get("error"), got) {
        (Some(want), None, Ok(got)) => {
            if let Err(why) = vars.matches(want, &got) {
                panic!("{ctx}: expected {want}, got {got}: {why}");
            }
        }
        (None, Some(code), Err(err)) => {
            assert_eq!(
                err.code().as_str(),
                code.as_str().unwrap(),
                "{ctx}: wrong code ({err})"
            );
            let msg = err.to_string();
            if let Some(m) = expect.get("message") {
                assert_eq!(msg, vars.subst(m.as_str().unwrap()), "{ctx}: message");
            }
            for part in expect
                .get("message_contains")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let part = part.as_str().unwrap();
                assert!(msg.contains(part), "{ctx}: message {msg:?} lacks {part:?}");
            }
        }
        (Some(want), None, Err(err)) => {
            panic!("{ctx}: expected {want}, got error {}: {err}", err.code())
        }
        (None, Some(code), Ok(got)) => panic!("{ctx}: expected error {code}, got {got}"),
        _ => panic!("{ctx}: expect must have exactly one of ok and error: {expect}"),
    }
}

/// Variables of a flow: `{t1}` binds to a generated token the first time it is expected.
#[derive(Default)]
struct Vars(HashMap<String, String>);

impl Vars {
    fn subst(&self, s: &str) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(i) = rest.find('{') {
            let j = rest[i..]
                .find('}')
                .map(|j| i + j)
                .unwrap_or_else(|| panic!("unclosed variable in {s:?}"));
            out.push_str(&rest[..i]);
            let name = &rest[i + 1..j];
            out.push_str(
                self.0
                    .get(name)
                    .unwrap_or_else(|| panic!("unbound variable {{{name}}} in {s:?}")),
            );
            rest = &rest[j + 1..];
        }
        out.push_str(rest);
        out
    }

    fn match_str(&mut self, template: &str, got: &str) -> Result<(), String> {
        let (mut t, mut g) = (template, got);
        let mut bound = Vec::new();
        while let Some(i) = t.find('{') {
            let j = i + t[i..].find('}').ok_or("unclosed variable")?;
            if !g.starts_with(&t[..i]) {
                return Err(format!("{got:?} does not match {template:?}"));
            }
            g = &g[i..];
            let name = &t[i + 1..j];
            let value = match self.0.get(name) {
                Some(v) => v.clone(),
                None => {
                    let v = g.get(..16).ok_or("too short for a generated token")?;
                    if !v
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                    {
                        return Err(format!("{v:?} is not a generated token"));
                    }
                    bound.push(name.to_owned());
                    self.0.insert(name.to_owned(), v.to_owned());
                    v.to_owned()
                }
            };
            if !g.starts_with(&value) {
                return Err(format!(
                    "{got:?} does not match {template:?} with {{{name}}}={value}"
                ));
            }
            g = &g[value.len()..];
            t = &t[j + 1..];
        }
        if t == g {
            Ok(())
        } else {
            for name in bound {
                self.0.remove(&name);
            }
            Err(format!("{got:?} does not match {template:?}"))
        }
    }

    fn matches(&mut self, want: &Value, got: &Value) -> Result<(), String> {
        match (want, got) {
            (Value::String(w), Value::String(g)) => self.match_str(w, g),
            (Value::Array(w), Value::Array(g)) if w.len() == g.len() => {
                w.iter().zip(g).try_for_each(|(w, g)| self.matches(w, g))
            }
            (Value::Object(w), Value::Object(g)) if w.len() == g.len() => {
                w.iter().try_for_each(|(k, w)| {
                    let g = g.get(k).ok_or_else(|| format!("missing field {k}"))?;
                    self.matches(w, g).map_err(|e| format!("{k}: {e}"))
                })
            }
            (w, g) if w == g => Ok(()),
            _ => Err("values differ".into()),
        }
    }
}

fn name(case: &Value) -> &str {
    case["name"].as_str().unwrap_or("<unnamed>")
}

#[test]
fn ports() {
    let mut skipped = 0;
    for case in load("ports.json") {
        let ctx = format!("ports.json {}", name(&case));
        let input = &case["input"]["port"];
        if case["dynamic_only"].as_bool() == Some(true) {
            assert!(
                input.as_i64().is_none(),
                "{ctx}: an integer is not dynamic_only"
            );
            skipped += 1;
            continue;
        }
        let port = input
            .as_i64()
            .unwrap_or_else(|| panic!("{ctx}: not an integer; mark it dynamic_only"));
        let got = match case.get("config") {
            None => portway::validate_port(port),
            Some(c) => portway_for(c).rules().validate_port(port),
        };
        check(
            &ctx,
            &case["expect"],
            got.map(|p| json!(p)),
            &mut Vars::default(),
        );
    }
    println!("ports.json: {skipped} dynamic_only cases are enforced by the type system");
}

#[test]
fn sandbox_ids() {
    for case in load("sandbox_ids.json") {
        let ctx = format!("sandbox_ids.json {}", name(&case));
        let id = case["input"]["id"].as_str().unwrap();
        let got = match case.get("config") {
            None => portway::validate_sandbox_id(id),
            Some(c) => portway_for(c).rules().validate_sandbox_id(id),
        };
        check(
            &ctx,
            &case["expect"],
            got.map(Value::from),
            &mut Vars::default(),
        );
    }
}

#[test]
fn tokens() {
    for case in load("tokens.json") {
        let ctx = format!("tokens.json {}", name(&case));
        let token = case["input"]["token"].as_str().unwrap();
        let got = match case.get("config") {
            None => portway::validate_token(token),
            Some(c) => portway_for(c).rules().validate_token(token),
        };
        check(
            &ctx,
            &case["expect"],
            got.map(|t| json!(t)),
            &mut Vars::default(),
        );
    }
}

#[test]
fn preview_urls() {
    for case in load("preview_urls.json") {
        let ctx = format!("preview_urls.json {}", name(&case));
        let i = &case["input"];
        let (id, token, host) = (
            i["sandbox_id"].as_str().unwrap(),
            i["token"].as_str().unwrap(),
            i["hostname"].as_str().unwrap(),
        );
        let port = i["port"].as_i64().unwrap();
        let build = |rules: &portway::Rules| -> portway::Result<String> {
            let port = rules.validate_port(port)?;
            rules.build_preview_url(port, id, token, host)
        };
        let got = match case.get("config") {
            None => build(&portway::Rules::default()),
            Some(c) => build(portway_for(c).rules()),
        };
        check(
            &ctx,
            &case["expect"],
            got.map(Value::from),
            &mut Vars::default(),
        );
    }
}

fn route_json(r: Option<portway::Route>) -> Value {
    r.map_or(
        Value::Null,
        |r| json!({"port": r.port, "sandbox_id": r.sandbox_id, "token": r.token}),
    )
}

#[test]
fn preview_hosts() {
    for case in load("preview_hosts.json") {
        let ctx = format!("preview_hosts.json {}", name(&case));
        let host = case["input"]["host"].as_str().unwrap();
        let got = match case.get("config") {
            None => portway::parse_preview_host(host),
            Some(c) => portway_for(c).parse_preview_host(host),
        };
        check(
            &ctx,
            &case["expect"],
            Ok(route_json(got)),
            &mut Vars::default(),
        );
    }
}

#[test]
fn errors_list_matches_the_error_type() {
    let text = std::fs::read_to_string(vectors_dir().join("errors.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let listed: Vec<(&str, &str)> = doc["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["code"].as_str().unwrap(), c["when"].as_str().unwrap()))
        .collect();
    let ours: Vec<(&str, &str)> = portway::ErrorCode::ALL
        .iter()
        .map(|c| (c.as_str(), c.description()))
        .collect();
    assert_eq!(
        listed, ours,
        "errors.json and portway::error_codes! differ (codes, order or descriptions)"
    );
}

fn resolution_json(r: Resolution) -> Value {
    match r {
        Resolution::NotPreview => json!({"kind": "not_preview"}),
        Resolution::Denied => json!({"kind": "denied"}),
        Resolution::Stale { sandbox_id, port } => {
            json!({"kind": "stale", "sandbox_id": sandbox_id, "port": port})
        }
        Resolution::Upstream(u) => json!({
            "kind": "upstream", "sandbox_id": u.sandbox_id(), "port": u.port(), "upstream_host": u.host()
        }),
    }
}

async fn run_step(portway: &Portway, step: &Value, vars: &Vars) -> Result<Value, Error> {
    let op = step["op"].as_str().unwrap();
    if op == "resolve" {
        return Ok(resolution_json(
            portway.resolve(&vars.subst(step["host"].as_str().unwrap())),
        ));
    }
    let upstream = step
        .get("upstream_host")
        .and_then(Value::as_str)
        .unwrap_or("127.0.0.1");
    let sb = portway.sandbox(step["sandbox"].as_str().unwrap(), upstream)?;
    let port = || step["port"].as_i64().unwrap();
    let text = |k: &str| step.get(k).and_then(Value::as_str).map(|s| vars.subst(s));
    Ok(match op {
        "sandbox" => json!(sb.id()),
        "expose" => {
            let port = portway.rules().validate_port(port())?;
            let opts = ExposeOptions {
                hostname: text("hostname").unwrap(),
                name: text("name"),
                token: text("token"),
            };
            let e = sb.expose_port(port, opts).await?;
            json!({"port": e.port, "url": e.url, "name": e.name})
        }
        "unexpose" => {
            sb.unexpose_port(portway.rules().validate_port(port())?)
                .await?;
            Value::Null
        }
        "list" => {
            let list = sb.get_exposed_ports(&text("hostname").unwrap()).await?;
            list.into_iter()
                .map(|p| json!({"port": p.port, "url": p.url, "name": p.name, "status": p.status.as_str()}))
                .collect()
        }
        "is_exposed" => json!(match u16::try_from(port()) {
            Ok(p) => sb.is_port_exposed(p).await,
            Err(_) => false,
        }),
        "validate_token" => json!(match u16::try_from(port()) {
            Ok(p) => sb.validate_port_token(p, &text("token").unwrap()).await,
            Err(_) => false,
        }),
        "mark_running" => sb.mark_running().await.map(|()| Value::Null)?,
        "mark_stopped" => sb.mark_stopped().await.map(|()| Value::Null)?,
        "destroy" => sb.destroy().await.map(|()| Value::Null)?,
        other => panic!("unknown op {other}"),
    })
}

#[tokio::test]
async fn flows() {
    for case in load("flows.json") {
        let portway = portway_for(case.get("config").unwrap_or(&json!({})));
        let mut vars = Vars::default();
        for (i, step) in case["steps"].as_array().unwrap().iter().enumerate() {
            let ctx = format!("flows.json {} step {i} ({})", name(&case), step["op"]);
            let got = run_step(&portway, step, &vars).await;
            check(&ctx, &step["expect"], got, &mut vars);
        }
    }
}

/// One option type of tests/api/parity.json's `options`, as (core name, kind, default).
fn listed_options(option_type: &str) -> Vec<(String, String, Value)> {
    let path = vectors_dir().join("../api/parity.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let entries = doc["options"][option_type]
        .as_array()
        .unwrap_or_else(|| panic!("parity.json lists no options.{option_type}"));
    entries
        .iter()
        .map(|o| {
            (
                o["rust"].as_str().unwrap().to_owned(),
                o["kind"].as_str().unwrap().to_owned(),
                o["default"].clone(),
            )
        })
        .collect()
}

/// tests/api/parity.json lists every gateway setting with its kind and default: the core's
/// table is the source, so a setting added, renamed, reordered or given another default here
/// fails until the list (which every binding checks itself against) follows.
#[test]
fn parity_options_match_the_core_table() {
    let ours: Vec<(String, String, Value)> = portway::GatewayConfig::fields()
        .into_iter()
        .map(|f| (f.name.to_owned(), f.kind.as_str().to_owned(), f.default))
        .collect();
    assert_eq!(
        listed_options("GatewayConfig"),
        ours,
        "parity.json's options and the core's gateway table differ"
    );
}

/// The kind parity.json writes for a field of this Rust type.
trait Kind {
    const KIND: &'static str;
}

macro_rules! kinds {
    ($($ty:ty => $kind:literal,)*) => {
        $(impl Kind for $ty {
            const KIND: &'static str = $kind;
        })*
    };
}

kinds! {
    bool => "bool",
    String => "text",
    i64 => "count",
    u64 => "count",
    std::time::Duration => "duration",
    Vec<String> => "texts",
    Vec<i64> => "counts",
    Vec<(String, String)> => "pairs",
    portway::WaitMode => "choice",
    portway::GatewayConfig => "GatewayConfig",
}

fn kind_of<T: Kind>(_: &Option<T>) -> &'static str {
    T::KIND
}

/// A resolved option value as parity.json writes a default (durations in seconds).
trait DefaultJson {
    fn json(&self) -> Value;
}

macro_rules! default_json {
    ($($ty:ty => |$v:ident| $e:expr,)*) => {
        $(impl DefaultJson for $ty {
            fn json(&self) -> Value {
                let $v = self;
                $e
            }
        })*
    };
}

default_json! {
    String => |s| json!(s),
    u16 => |n| json!(n),
    usize => |n| json!(n),
    std::time::Duration => |d| json!(d.as_secs_f64()),
    Vec<String> => |v| json!(v),
    Vec<(String, String)> => |v| json!(v),
    portway::WaitMode => |m| json!(m.as_str()),
}

/// The fields of a settings type and of what it resolves to, named once: the destructuring
/// has no `..`, so a field added to, or renamed in, either type fails to compile here until
/// the list follows. Gives (name, kind, default) with the default as `resolve()` fills it in.
macro_rules! resolved_fields {
    ($settings:ident => $resolved:ident { $($name:ident),* $(,)? }) => {{
        let portway::$settings { $($name),* } = portway::$settings::default();
        let kinds = [$(kind_of(&$name)),*];
        let portway::$resolved { $($name),* } = portway::$settings::default().resolve().unwrap();
        let defaults = [$(DefaultJson::json(&$name)),*];
        [$(stringify!($name)),*]
            .into_iter()
            .zip(kinds)
            .zip(defaults)
            .map(|((name, kind), default)| (name.to_owned(), kind.to_owned(), default))
            .collect::<Vec<(String, String, Value)>>()
    }};
}

/// parity.json's `options.WaitSettings`: the fields of `WaitSettings`, in order, with the
/// defaults `WaitSettings::default().resolve()` gives.
#[test]
fn parity_wait_settings_match_the_core() {
    let ours = resolved_fields!(WaitSettings => WaitOptions {
        mode, path, status_min, status_max, timeout, interval,
    });
    assert_eq!(
        listed_options("WaitSettings"),
        ours,
        "parity.json's WaitSettings and the core's differ"
    );
}

/// parity.json's `options.WsConnectSettings`: the fields of `WsConnectSettings`, in order,
/// with the defaults `WsConnectSettings::default().resolve()` gives.
#[test]
fn parity_ws_connect_settings_match_the_core() {
    let ours = resolved_fields!(WsConnectSettings => WsConnectOptions {
        path, headers, subprotocols, max_message_size, connect_timeout,
    });
    assert_eq!(
        listed_options("WsConnectSettings"),
        ours,
        "parity.json's WsConnectSettings and the core's differ"
    );
}

/// parity.json's `options.PortwaySettings`: the `portway_settings!` table's names and kinds,
/// in order, with the defaults a Portway built with no settings has. The store is not
/// readable from a built Portway, so its default is `StoreConfig::default()`'s; the gateway's
/// is `{}` when the gateways it builds have `GatewayConfig::default()`.
#[test]
fn parity_portway_settings_match_the_core_table() {
    // The table writes its types unqualified, as core/src/portway.rs sees them.
    use portway::GatewayConfig;
    macro_rules! names_and_kinds {
        ($($(#[doc = $doc:literal])* $name:ident: $ty:ty;)*) => {
            [$((stringify!($name), <$ty as Kind>::KIND)),*]
        };
    }
    let portway = portway::PortwaySettings::default().build().unwrap();
    let rules = portway.rules();
    let default_of = |name: &str| match name {
        "domains" => json!(rules.domains()),
        "store" => match portway::StoreConfig::default() {
            portway::StoreConfig::Memory => json!(":memory:"),
            portway::StoreConfig::File(path) => json!(path),
            portway::StoreConfig::Redis(url) => json!(url),
        },
        "reserved_ports" => json!(rules.reserved_ports()),
        "reserved_sandbox_ids" => json!(rules.reserved_sandbox_ids()),
        "custom_domain_suffixes" => json!(rules.custom_domain_suffixes()),
        "normalize_id" => json!(rules.normalize_id()),
        "min_token_length" => json!(rules.min_token_length()),
        "gateway" => {
            let config = portway.gateway().unwrap().config().clone();
            if config == GatewayConfig::default() {
                json!({})
            } else {
                json!(format!("{config:?}"))
            }
        }
        other => panic!("the portway_settings! table has {other}, which this test cannot read"),
    };
    let ours: Vec<(String, String, Value)> = portway::portway_settings!(names_and_kinds)
        .into_iter()
        .map(|(name, kind)| (name.to_owned(), kind.to_owned(), default_of(name)))
        .collect();
    assert_eq!(
        listed_options("PortwaySettings"),
        ours,
        "parity.json's PortwaySettings and the core's portway_settings! table differ"
    );
}
