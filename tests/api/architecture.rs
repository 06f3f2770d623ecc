//! The floors of `src/` (ARCHITECTURE.md): no module imports its way back to itself,
//! no room imports a room on a higher floor, routes never import other routes, and the
//! domain stays pure.
//!
//! Every `.rs` file under `src/` is a module. An import is any path through `crate::`
//! or `super::` (also inside `use` groups and strings such as serde's
//! `deserialize_with`), a name brought in by `use` and then followed by `::`, or a child
//! module named by its parent. Comments do not count.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The floors, lowest first. A module may import its own floor and those below.
const FLOORS: &[&[&str]] = &[
    &["domain", "disclosure", "indicators", "formats"],
    &["error", "config", "blocking", "embedded_pg"],
    &["db", "cube", "auth", "telemetry", "limits"],
    &["state"],
    &["services"],
    &["http", "routes", "pages", "openapi", "startup"],
];

/// Crates that would tie the domain to HTTP or the database.
const IMPURE_CRATES: &[&str] = &["actix_web", "actix_router", "diesel", "r2d2", "tokio"];

#[test]
fn the_modules_of_src_form_floors_without_cycles() {
    // ARCHITECTURE_SRC points the check at another tree (e.g. an old checkout's src/).
    let src = std::env::var_os("ARCHITECTURE_SRC").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        std::path::PathBuf::from,
    );
    let graph = Graph::read(&src);
    assert!(graph.modules.len() > 50, "found too few modules to be src/");
    let problems = graph.problems();
    assert!(
        problems.is_empty(),
        "the floors of src/ are broken:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_check_finds_a_cycle_an_upward_import_and_a_route_importing_a_route() {
    // The same check over a small invented tree, so that it is known to bite.
    let modules = [
        ("domain::week", "use crate::db::pool; pub struct Week;"),
        (
            "db::pool",
            "use crate::domain::week::Week; // crate::state is a comment",
        ),
        ("state", "pub struct AppState;"),
        ("routes::a", "use crate::routes::b::helper;"),
        ("routes::b", "pub fn helper() {}"),
        ("routes", "pub mod a; pub mod b;"),
        ("domain", "pub mod week;"),
        ("db", "pub mod pool;"),
    ];
    let graph = Graph::from_sources(
        modules
            .iter()
            .map(|(m, s)| ((*m).to_owned(), (*s).to_owned())),
    );
    let problems = graph.problems().join("\n");
    assert!(
        problems.contains("cycle: db::pool -> domain::week"),
        "{problems}"
    );
    assert!(
        problems.contains("domain::week (floor 0) imports db::pool (floor 2)"),
        "{problems}"
    );
    assert!(
        problems.contains("routes::a imports another route, routes::b"),
        "{problems}"
    );
    assert!(!problems.contains("state"), "{problems}");
}

struct Graph {
    /// Module path (`db::queries::cells`; `crate` for lib.rs) → its source, comments removed.
    modules: BTreeMap<String, String>,
}

impl Graph {
    fn read(src: &Path) -> Self {
        let mut files = Vec::new();
        collect(src, &mut files);
        Self::from_sources(files.into_iter().filter_map(|file| {
            let relative = file.strip_prefix(src).ok()?.to_str()?.to_owned();
            let module = match relative.as_str() {
                "lib.rs" => "crate".to_owned(),
                "main.rs" => return None, // the binary, above everything
                other => other
                    .trim_end_matches(".rs")
                    .trim_end_matches("/mod")
                    .replace('/', "::"),
            };
            Some((module, std::fs::read_to_string(&file).ok()?))
        }))
    }

    fn from_sources(sources: impl Iterator<Item = (String, String)>) -> Self {
        Self {
            modules: sources
                .map(|(module, source)| (module, strip_comments(&source)))
                .collect(),
        }
    }

    /// The longest known module that `path` (segments from the crate root) lies in.
    fn module_of(&self, path: &[String]) -> Option<String> {
        (1..=path.len())
            .rev()
            .map(|n| path[..n].join("::"))
            .find(|candidate| self.modules.contains_key(candidate))
    }

    /// Modules each module imports (itself excluded).
    fn edges(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut edges = BTreeMap::new();
        for (module, source) in &self.modules {
            let own: Vec<String> = if module == "crate" {
                Vec::new()
            } else {
                module.split("::").map(str::to_owned).collect()
            };
            let mut targets = BTreeSet::new();
            for path in imported_paths(&own, source) {
                if let Some(target) = self.module_of(&path)
                    && target != *module
                    && target != "crate"
                {
                    targets.insert(target);
                }
            }
            edges.insert(module.clone(), targets);
        }
        edges
    }

    fn problems(&self) -> Vec<String> {
        let edges = self.edges();
        let mut problems = Vec::new();
        for cycle in cycles(&edges) {
            problems.push(format!("cycle: {}", cycle.join(" -> ")));
        }
        for (module, targets) in &edges {
            let room = module.split("::").next().unwrap_or_default();
            for target in targets {
                let target_room = target.split("::").next().unwrap_or_default();
                if let (Some(from), Some(to)) = (floor(room), floor(target_room))
                    && to > from
                {
                    problems.push(format!(
                        "{module} (floor {from}) imports {target} (floor {to})"
                    ));
                }
                if room == "routes" && target_room == "routes" && module != "routes" {
                    problems.push(format!("{module} imports another route, {target}"));
                }
            }
            if module != "crate" && floor(room).is_none() {
                problems.push(format!("{module} is on no floor: add its room to FLOORS"));
            }
        }
        for (module, source) in &self.modules {
            if module.split("::").next() == Some("domain") {
                for name in IMPURE_CRATES {
                    if mentions(source, name) {
                        problems.push(format!("{module} uses {name}: the domain is pure"));
                    }
                }
            }
        }
        problems
    }
}

fn floor(room: &str) -> Option<usize> {
    FLOORS.iter().position(|rooms| rooms.contains(&room))
}

fn collect(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// The source without `//` and `/* */` comments; string literals are kept (a serde
/// `deserialize_with = "crate::…"` is an import too).
fn strip_comments(source: &str) -> String {
    let bytes = source.as_bytes();
    let mut out = String::with_capacity(source.len());
    let (mut i, mut in_string) = (0, false);
    while i < bytes.len() {
        let rest = &source[i..];
        if in_string {
            if rest.starts_with("\\\"") || rest.starts_with("\\\\") {
                out.push_str(&rest[..2]);
                i += 2;
                continue;
            }
            if rest.starts_with('"') {
                in_string = false;
            }
        } else if rest.starts_with("//") {
            i += rest.find('\n').unwrap_or(rest.len());
            continue;
        } else if rest.starts_with("/*") {
            i += rest.find("*/").map_or(rest.len(), |end| end + 2);
            continue;
        } else if rest.starts_with('"') && !source[..i].ends_with('\'') {
            in_string = true;
        }
        let c = rest.chars().next().unwrap_or(' ');
        out.push(c);
        i += c.len_utf8();
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Whether `name::` occurs in `source` as a path's first segment.
fn mentions(source: &str, name: &str) -> bool {
    let needle = format!("{name}::");
    source
        .match_indices(&needle)
        .any(|(at, _)| starts_path(source, at))
}

/// Every path (from the crate root) that a module at `own` refers to.
fn imported_paths(own: &[String], source: &str) -> Vec<Vec<String>> {
    // `crate::…` and `super::…`, including `use` trees, with the name each binds.
    let mut bound: Vec<(Vec<String>, String)> = Vec::new();
    let inline = inline_modules(source);
    for start in ["crate::", "super::"] {
        for (at, _) in source.match_indices(start) {
            if !starts_path(source, at) {
                continue;
            }
            // `super` inside an inline module (`mod tests { … }`) is this file's module.
            let prefix = match start {
                "crate::" => Vec::new(),
                _ if inline.iter().any(|range| range.contains(&at)) => own.to_vec(),
                _ => parent(own),
            };
            use_tree(&source[at + start.len()..], &prefix, &mut bound);
        }
    }
    let mut aliases: BTreeMap<String, Vec<String>> = bound
        .iter()
        .map(|(path, name)| (name.clone(), path.clone()))
        .collect();
    // Children declared here and named by their parent.
    for (at, _) in source.match_indices("mod ") {
        let name: String = source[at + 4..]
            .chars()
            .take_while(|c| is_ident(*c))
            .collect();
        if !name.is_empty() && source[at + 4 + name.len()..].starts_with(';') {
            let mut child = own.to_vec();
            child.push(name.clone());
            aliases.insert(name, child);
        }
    }
    let mut paths: Vec<Vec<String>> = bound.into_iter().map(|(path, _)| path).collect();
    // A bound name followed by `::` reaches further into its module.
    for (name, target) in &aliases {
        let needle = format!("{name}::");
        for (at, _) in source.match_indices(&needle) {
            if !starts_path(source, at) {
                continue;
            }
            let mut path = target.clone();
            path.extend(segments(&source[at + needle.len()..]));
            paths.push(path);
        }
    }
    paths
}

/// The byte ranges of inline modules (`mod name { … }`), braces counted outside
/// string and character literals.
fn inline_modules(source: &str) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    for (at, _) in source.match_indices("mod ") {
        if !starts_path(source, at) {
            continue;
        }
        let after = &source[at + 4..];
        let name_len = after.chars().take_while(|c| is_ident(*c)).count();
        let Some(open) = after[name_len..].trim_start().strip_prefix('{') else {
            continue;
        };
        let start = source.len() - open.len();
        let (mut depth, mut in_string, mut end) = (1usize, false, source.len());
        let mut chars = open.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' if in_string => {
                    chars.next();
                }
                '"' => in_string = !in_string,
                '\'' if !in_string && open[i..].len() >= 3 && open[i + 2..].starts_with('\'') => {
                    chars.next();
                    chars.next();
                }
                '{' if !in_string => depth += 1,
                '}' if !in_string => {
                    depth -= 1;
                    if depth == 0 {
                        end = start + i;
                        break;
                    }
                }
                _ => {}
            }
        }
        ranges.push(start..end);
    }
    ranges
}

/// Whether a path starts at `at` (not in the middle of a longer name or path).
fn starts_path(source: &str, at: usize) -> bool {
    !source[..at]
        .chars()
        .next_back()
        .is_some_and(|c| is_ident(c) || c == ':')
}

fn parent(own: &[String]) -> Vec<String> {
    own[..own.len().saturating_sub(1)].to_vec()
}

/// The identifiers of a path `a::b::c` at the start of `text`.
fn segments(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        let name: String = rest.chars().take_while(|c| is_ident(*c)).collect();
        if name.is_empty() {
            break;
        }
        rest = &rest[name.len()..];
        out.push(name);
        match rest.strip_prefix("::") {
            Some(next) => rest = next,
            None => break,
        }
    }
    out
}

/// Reads a path or `use` tree at the start of `text`, adding every leaf path (with
/// `prefix` in front) and the name it binds (its last segment, or its `as` alias) to
/// `out`. Returns how many bytes it read.
fn use_tree(text: &str, prefix: &[String], out: &mut Vec<(Vec<String>, String)>) -> usize {
    let mut path = prefix.to_vec();
    let mut read = 0;
    loop {
        let rest = &text[read..];
        let trimmed = rest.trim_start();
        read += rest.len() - trimmed.len();
        if trimmed.starts_with('{') {
            read += 1;
            loop {
                read += use_tree(&text[read..], &path, out);
                let rest = &text[read..];
                let trimmed = rest.trim_start();
                read += rest.len() - trimmed.len();
                if trimmed.starts_with(',') {
                    read += 1;
                    continue;
                }
                if trimmed.starts_with('}') {
                    read += 1;
                }
                return read;
            }
        }
        let name: String = trimmed.chars().take_while(|c| is_ident(*c)).collect();
        if name.is_empty() {
            break;
        }
        read += name.len();
        if name != "self" {
            path.push(name);
        }
        match text[read..].strip_prefix("::") {
            Some(_) => read += 2,
            None => break,
        }
    }
    let Some(last) = path.last().cloned() else {
        return read;
    };
    let rest = &text[read..];
    let alias = rest
        .trim_start()
        .strip_prefix("as ")
        .map(|after| {
            let name: String = after
                .trim_start()
                .chars()
                .take_while(|c| is_ident(*c))
                .collect();
            read += rest.find(&name).map_or(0, |at| at + name.len());
            name
        })
        .filter(|name| !name.is_empty() && name != "_");
    out.push((path, alias.unwrap_or(last)));
    read
}

/// Strongly connected components of more than one module (Tarjan), each in order.
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Tarjan<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, v: &'a str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.edges.get(v).into_iter().flatten() {
                let w = w.as_str();
                if !self.edges.contains_key(w) {
                    continue;
                }
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.on_stack.contains(w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    component.push(w.to_owned());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut tarjan = Tarjan {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !tarjan.index.contains_key(v.as_str()) {
            tarjan.visit(v);
        }
    }
    tarjan.found
}
