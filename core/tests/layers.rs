//! The core's modules form layers: each file of `core/src` may reference only modules of
//! the layers below its own, so there is no import cycle and a later change cannot invert
//! the order.
//!
//! The test reads the source itself (no parser crate): every `crate::name`, `$crate::name`
//! and `use crate::{a, b}` group, every `super::` that climbs to the crate root, and every
//! use of a `#[macro_export]` macro (resolved to the module that defines it) counts as a
//! reference from the file's top-level module (`gateway/*` is `gateway`, `store/*` is
//! `store`). Code and doc comments count (an intra-doc link is a reference too); plain
//! `//` comments and string literals do not.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The intended layers, lowest first. A module may reference only modules of a lower layer;
/// every module of `core/src` must be listed (`lib` is the crate root, on top).
const LAYERS: &[&[&str]] = &[
    &["error", "throttle"],
    &["hostname", "port", "sandbox_id", "token", "upstream_policy"],
    &["preview_url"],
    &["rules"],
    &["store"],
    &["lifecycle"],
    &["registry"],
    &["connect", "runtime"],
    &["wait", "ws_client"],
    &["options"],
    &["gateway"],
    &["state"],
    &["sandbox"],
    &["portway"],
    &["records"],
    &["lib"],
];

/// One reference: which module, from which file and line.
#[derive(Debug, Clone)]
struct Reference {
    to: String,
    file: String,
    line: usize,
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .expect("read core/src")
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to, and how deep the file's own module is
/// (`lib.rs` 0, `port.rs` and `gateway/mod.rs` 1, `gateway/pool.rs` 2).
fn module_of(rel: &Path) -> (String, usize) {
    let parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let first = parts[0].trim_end_matches(".rs").to_owned();
    if parts.len() == 1 {
        if first == "lib" {
            return ("lib".into(), 0);
        }
        return (first, 1);
    }
    let last = parts.last().expect("a file name");
    let depth = if last == "mod.rs" {
        parts.len() - 1
    } else {
        parts.len()
    };
    (first, depth)
}

/// The source with plain comments and the contents of string and char literals blanked
/// (newlines kept, so line numbers stay right); doc comments are kept as they are.
fn strip(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &src[i..];
        if rest.starts_with("///") || rest.starts_with("//!") {
            let end = rest.find('\n').map_or(b.len(), |n| i + n);
            out.push_str(&src[i..end]);
            i = end;
        } else if rest.starts_with("//") {
            i = rest.find('\n').map_or(b.len(), |n| i + n);
        } else if rest.starts_with("/*") {
            let mut depth = 0;
            while i < b.len() {
                if src[i..].starts_with("/*") {
                    depth += 1;
                    i += 2;
                } else if src[i..].starts_with("*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if b[i] == b'\n' {
                        out.push('\n');
                    }
                    i += 1;
                }
            }
        } else if (rest.starts_with("r#") || rest.starts_with("r\""))
            && (i == 0 || !is_ident(b[i - 1]))
        {
            let hashes = rest[1..].bytes().take_while(|&c| c == b'#').count();
            if rest.as_bytes().get(1 + hashes) != Some(&b'"') {
                out.push(b[i] as char);
                i += 1;
                continue;
            }
            let close = format!("\"{}", "#".repeat(hashes));
            let body_start = i + 2 + hashes;
            let end = src[body_start..]
                .find(&close)
                .map_or(b.len(), |n| body_start + n + close.len());
            out.push_str("\"\"");
            out.extend(src[i..end].chars().filter(|&c| c == '\n'));
            i = end;
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                if i < b.len() && b[i] == b'\n' {
                    out.push('\n');
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' {
            // A char literal ('x', '\n', '\'', '\u{..}') or a lifetime ('a).
            let lit_end = if b.get(i + 1) == Some(&b'\\') {
                src[i + 2..].find('\'').map(|n| i + 2 + n + 1)
            } else {
                let c = rest[1..].chars().next();
                c.and_then(|c| {
                    let after = i + 1 + c.len_utf8();
                    (b.get(after) == Some(&b'\'')).then_some(after + 1)
                })
            };
            match lit_end {
                Some(end) => {
                    out.push_str("' '");
                    i = end;
                }
                None => {
                    out.push('\'');
                    i += 1;
                }
            }
        } else {
            let c = rest.chars().next().expect("a char");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn ident_at(s: &str, at: usize) -> &str {
    let n = s[at..].bytes().take_while(|&c| is_ident(c)).count();
    &s[at..at + n]
}

fn skip_ws(s: &str, mut at: usize) -> usize {
    while at < s.len() && s.as_bytes()[at].is_ascii_whitespace() {
        at += 1;
    }
    at
}

/// The first segments named by the path that starts at `at`, right after `crate::` (or a
/// `super::` that reached the crate root): one name, or each item of a `{a, b::c}` group.
/// A name followed by `!` is marked as a macro.
fn names_after(s: &str, at: usize) -> Vec<(String, bool)> {
    let at = skip_ws(s, at);
    if s.as_bytes().get(at) == Some(&b'{') {
        let mut names = Vec::new();
        let mut depth = 0;
        let mut item_start = true;
        let mut i = at + 1;
        while i < s.len() {
            match s.as_bytes()[i] {
                b'{' => depth += 1,
                b'}' if depth == 0 => break,
                b'}' => depth -= 1,
                b',' if depth == 0 => item_start = true,
                c if item_start && is_ident(c) => {
                    let name = ident_at(s, i);
                    names.push((name.to_owned(), false));
                    item_start = false;
                    i += name.len();
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
        return names;
    }
    let name = ident_at(s, at);
    if name.is_empty() {
        return Vec::new();
    }
    let macro_use = s.as_bytes().get(at + name.len()) == Some(&b'!');
    vec![(name.to_owned(), macro_use)]
}

/// How many inline `mod name { ... }` blocks enclose each byte of `s`.
fn inline_mod_depths(s: &str) -> Vec<usize> {
    let b = s.as_bytes();
    let mut depths = vec![0; b.len() + 1];
    let mut braces = 0usize;
    let mut open_mods: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        depths[i] = open_mods.len();
        if b[i] == b'{' {
            braces += 1;
            // Is this the brace of `mod name {`?
            let before = s[..i].trim_end();
            let name_start = before
                .bytes()
                .rposition(|c| !is_ident(c))
                .map_or(0, |p| p + 1);
            let kw = before[..name_start].trim_end();
            if name_start < before.len()
                && kw.ends_with("mod")
                && kw.len() >= 3
                && (kw.len() == 3 || !is_ident(kw.as_bytes()[kw.len() - 4]))
            {
                open_mods.push(braces);
            }
        } else if b[i] == b'}' {
            if open_mods.last() == Some(&braces) {
                open_mods.pop();
            }
            braces = braces.saturating_sub(1);
        }
        i += 1;
    }
    depths
}

fn line_of(s: &str, at: usize) -> usize {
    s[..at].bytes().filter(|&c| c == b'\n').count() + 1
}

struct Crate {
    modules: BTreeSet<String>,
    /// `crate::Name` re-exported by lib.rs: the module it comes from.
    reexports: BTreeMap<String, String>,
    /// `#[macro_export]` macros: the module that defines each.
    macros: BTreeMap<String, String>,
    /// Items lib.rs defines itself (such as `validate_port`).
    root_items: BTreeSet<String>,
    files: Vec<(String, String, usize, String)>,
}

fn read_crate() -> Crate {
    let src = src_dir();
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    let mut c = Crate {
        modules: BTreeSet::new(),
        reexports: BTreeMap::new(),
        macros: BTreeMap::new(),
        root_items: BTreeSet::new(),
        files: Vec::new(),
    };
    for path in paths {
        let rel = path
            .strip_prefix(&src)
            .expect("under core/src")
            .to_path_buf();
        let (module, depth) = module_of(&rel);
        let text = strip(&fs::read_to_string(&path).expect("read a source file"));
        c.modules.insert(module.clone());
        let mut rest = text.as_str();
        while let Some(p) = rest.find("#[macro_export]") {
            rest = &rest[p..];
            let m = rest
                .find("macro_rules!")
                .expect("macro_rules! after #[macro_export]");
            let at = skip_ws(rest, m + "macro_rules!".len());
            c.macros
                .insert(ident_at(rest, at).to_owned(), module.clone());
            rest = &rest[at..];
        }
        if module == "lib" {
            for line in text.lines() {
                let line = line.trim();
                if let Some(f) = line.strip_prefix("pub fn ") {
                    c.root_items.insert(ident_at(f, 0).to_owned());
                }
            }
            let mut rest = text.as_str();
            while let Some(p) = rest.find("pub use crate::") {
                rest = &rest[p + "pub use crate::".len()..];
                let from = ident_at(rest, 0).to_owned();
                let after = &rest[from.len()..];
                let end = after.find(';').expect("a use ends with ;");
                let list = &after[..end];
                for name in list
                    .split(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                    .filter(|n| !n.is_empty())
                {
                    c.reexports.insert(name.to_owned(), from.clone());
                }
            }
        }
        c.files
            .push((rel.display().to_string(), module, depth, text));
    }
    c
}

fn resolve(c: &Crate, name: &str, macro_use: bool, at: &str) -> String {
    if macro_use && let Some(m) = c.macros.get(name) {
        return m.clone();
    }
    if c.modules.contains(name) {
        return name.to_owned();
    }
    if let Some(m) = c.macros.get(name) {
        return m.clone();
    }
    if let Some(m) = c.reexports.get(name) {
        return m.clone();
    }
    if c.root_items.contains(name) {
        return "lib".into();
    }
    panic!("{at}: cannot tell which module `crate::{name}` is");
}

/// Every reference between top-level modules, by source module.
fn references() -> BTreeMap<String, Vec<Reference>> {
    let c = read_crate();
    let mut refs: BTreeMap<String, Vec<Reference>> = BTreeMap::new();
    for (file, module, depth, text) in &c.files {
        let mut add = |to: String, at: usize| {
            if to != *module {
                refs.entry(module.clone()).or_default().push(Reference {
                    to,
                    file: file.clone(),
                    line: line_of(text, at),
                });
            }
        };
        let b = text.as_bytes();
        for (p, _) in text.match_indices("crate::") {
            if p > 0 && is_ident(b[p - 1]) {
                continue;
            }
            for (name, m) in names_after(text, p + "crate::".len()) {
                let at = format!("{file}:{}", line_of(text, p));
                add(resolve(&c, &name, m, &at), p);
            }
        }
        let mods = inline_mod_depths(text);
        for (p, _) in text.match_indices("super::") {
            if p > 0 && (is_ident(b[p - 1]) || text[..p].ends_with("super::")) {
                continue;
            }
            let mut ups = 0;
            let mut q = p;
            while text[q..].starts_with("super::") {
                ups += 1;
                q += "super::".len();
            }
            if depth + mods[p] == ups {
                for (name, m) in names_after(text, q) {
                    let at = format!("{file}:{}", line_of(text, p));
                    add(resolve(&c, &name, m, &at), p);
                }
            }
        }
        for (name, defined_in) in &c.macros {
            let pat = format!("{name}!");
            for (p, _) in text.match_indices(&pat) {
                if p > 0 && (is_ident(b[p - 1]) || text[..p].ends_with("macro_rules! ")) {
                    continue;
                }
                add(defined_in.clone(), p);
            }
        }
    }
    refs
}

fn graph(refs: &BTreeMap<String, Vec<Reference>>) -> BTreeMap<String, BTreeSet<String>> {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, rs) in refs {
        for r in rs {
            g.entry(from.clone()).or_default().insert(r.to.clone());
        }
    }
    g
}

/// Where `from` references `to` (the first place, for the message).
fn evidence(refs: &BTreeMap<String, Vec<Reference>>, from: &str, to: &str) -> String {
    refs.get(from)
        .and_then(|rs| rs.iter().find(|r| r.to == to))
        .map_or_else(String::new, |r| format!("{}:{}", r.file, r.line))
}

/// The cycles of the graph: for every module on one, the shortest cycle through it (found
/// breadth first), each cycle once, as a path `a -> b -> ... -> a`.
fn cycles(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut seen: BTreeSet<BTreeSet<String>> = BTreeSet::new();
    for start in g.keys() {
        // Breadth-first from `start`'s successors back to `start`.
        let mut parent: BTreeMap<String, String> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::new();
        for next in &g[start] {
            if !parent.contains_key(next) {
                parent.insert(next.clone(), start.clone());
                queue.push_back(next.clone());
            }
        }
        while let Some(node) = queue.pop_front() {
            if node == *start {
                let mut cycle = vec![start.clone()];
                let mut at = parent[start].clone();
                while at != *start {
                    cycle.push(at.clone());
                    at = parent[&at].clone();
                }
                cycle.push(start.clone());
                cycle.reverse();
                let key: BTreeSet<String> = cycle.iter().cloned().collect();
                if seen.insert(key) {
                    out.push(cycle);
                }
                break;
            }
            for next in g.get(&node).into_iter().flatten() {
                if !parent.contains_key(next) {
                    parent.insert(next.clone(), node.clone());
                    queue.push_back(next.clone());
                }
            }
        }
    }
    out
}

#[test]
fn the_core_has_no_import_cycle() {
    let refs = references();
    let g = graph(&refs);
    let found = cycles(&g);
    if !found.is_empty() {
        let mut msg = String::from("import cycles between the modules of core/src:\n");
        for cycle in &found {
            msg.push_str("  ");
            msg.push_str(&cycle.join(" -> "));
            msg.push('\n');
            for pair in cycle.windows(2) {
                msg.push_str(&format!(
                    "      {} -> {} at {}\n",
                    pair[0],
                    pair[1],
                    evidence(&refs, &pair[0], &pair[1])
                ));
            }
        }
        panic!("{msg}");
    }
}

#[test]
fn the_core_keeps_its_layer_order() {
    let refs = references();
    let g = graph(&refs);
    let c = read_crate();
    let mut layer_of = BTreeMap::new();
    for (i, layer) in LAYERS.iter().enumerate() {
        for m in *layer {
            assert!(
                layer_of.insert(m.to_string(), i).is_none(),
                "{m} is listed twice in LAYERS"
            );
        }
    }
    let mut problems = Vec::new();
    for m in &c.modules {
        if !layer_of.contains_key(m) {
            problems.push(format!("module `{m}` is in no layer: add it to LAYERS"));
        }
    }
    for m in layer_of.keys() {
        if !c.modules.contains(m) {
            problems.push(format!("LAYERS lists `{m}`, which core/src does not have"));
        }
    }
    for (from, tos) in &g {
        for to in tos {
            if let (Some(&a), Some(&b)) = (layer_of.get(from), layer_of.get(to))
                && b >= a
            {
                problems.push(format!(
                    "`{from}` (layer {a}) references `{to}` (layer {b}) at {}",
                    evidence(&refs, from, to)
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "the layers of core/src:\n  {}",
        problems.join("\n  ")
    );
}
