//! No input makes the parser or the datastore panic.
//!
//! A property test seeded with real metadata: every `.conf`, `.bb`, `.bbappend`,
//! `.bbclass` and `.inc` file of `layers/` and `tests/layers/`, and of
//! openembedded-core when `RSTORE_OE_CORE_DIR` names a checkout. Each case takes one
//! seed file and mutates it (truncation, byte flips, deletions, duplicated lines, and
//! inserted quotes, braces, backslashes, `${`, `${@`, operators and function headers),
//! then:
//!
//! * parses it with both grammars: a syntax error must name a line inside the file
//!   and a column inside the offending text;
//! * applies its assignments to a datastore (without Python: `${@…}` stays as it is)
//!   and reads back every variable and flag, expanded, and expands the variable names.
//!
//! Nothing may panic. The number of cases is `PROPTEST_CASES` (default 20000, about
//! a second); the run is the same every time unless `PROPTEST_RNG_SEED` says otherwise.
//! Python (inline `${@…}`, anonymous functions) is covered through the binary by
//! `tests/importer_errors.rs`, which parses damaged recipes with `rstore parse`.

mod support;

use std::path::Path;
use std::rc::Rc;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use rstore_importer::assign;
use rstore_importer::ast::{FileKind, Stmt};
use rstore_importer::datastore::DataStore;
use rstore_importer::parser;
use rstore_importer::value::Value;
use support::{files_below, repo_root, with_big_stack};

const DEFAULT_CASES: u32 = 20_000;
const DEFAULT_SEED: u64 = 0x7273_746f_7265;

/// Text worth inserting: what makes lines ambiguous or unterminated.
const SNIPPETS: &[&str] = &[
    "\"",
    "'",
    "{",
    "}",
    "\\",
    "\\\n",
    "${",
    "${@",
    "}\n",
    "\n",
    "(",
    ")",
    "[",
    "]",
    ":append",
    ":remove",
    ":prepend",
    "??=",
    " = ",
    ":=",
    "#",
    "\t",
    "  ",
    "python () {\n",
    "do_x() {\n",
    "def f(d):\n",
    "export ",
    "unset ",
    "include ",
    "addtask ",
    "inherit ",
    "${A}",
    "${@d.getVar('A')}",
    "\u{feff}",
    "é",
    "\r",
];

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(Index),
    FlipBit(Index, u8),
    Insert(Index, &'static str),
    Delete(Index, u8),
    DuplicateLine(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        1 => any::<Index>().prop_map(Mutation::Truncate),
        3 => (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        6 => (any::<Index>(), prop::sample::select(SNIPPETS)).prop_map(|(i, s)| Mutation::Insert(i, s)),
        2 => (any::<Index>(), 1u8..40).prop_map(|(i, n)| Mutation::Delete(i, n)),
        1 => any::<Index>().prop_map(Mutation::DuplicateLine),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let len = bytes.len();
    let at = |i: &Index| if len == 0 { 0 } else { i.index(len + 1) };
    match m {
        Mutation::Truncate(i) => bytes.truncate(at(i)),
        Mutation::FlipBit(i, bit) => {
            if len > 0 {
                bytes[i.index(len)] ^= 1 << bit;
            }
        }
        Mutation::Insert(i, s) => {
            let p = at(i);
            bytes.splice(p..p, s.bytes());
        }
        Mutation::Delete(i, n) => {
            let p = at(i).min(len);
            let end = (p + *n as usize).min(len);
            bytes.drain(p..end);
        }
        Mutation::DuplicateLine(i) => {
            let p = at(i).min(len);
            let start = bytes[..p].iter().rposition(|b| *b == b'\n').map_or(0, |s| s + 1);
            let end = bytes[p..].iter().position(|b| *b == b'\n').map_or(len, |e| p + e + 1);
            let line = bytes[start..end].to_vec();
            bytes.splice(end..end, line);
        }
    }
}

/// Every metadata file below the seed directories, as (kind, bytes).
fn seeds() -> Vec<(FileKind, Vec<u8>)> {
    let mut dirs = vec![repo_root().join("layers"), repo_root().join("tests/layers")];
    if let Some(oe) = std::env::var_os("RSTORE_OE_CORE_DIR") {
        dirs.push(Path::new(&oe).to_path_buf());
    }
    let mut out = Vec::new();
    for dir in dirs {
        for file in files_below(&dir, &|p: &Path| FileKind::for_path(p).is_some()) {
            let kind = FileKind::for_path(&file).expect("filtered above");
            out.push((kind, std::fs::read(&file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()))));
        }
    }
    out
}

/// Parse with one grammar; a syntax error must point inside the file.
fn check_parse(text: &str, kind: FileKind) -> Result<Option<rstore_importer::ast::File>, TestCaseError> {
    match parser::parse(text, kind) {
        Ok(f) => Ok(Some(f)),
        Err(e) => {
            // Lines as BitBake reads them: \n, \r\n and a lone \r all end a line.
            let lines = text.replace("\r\n", "\n").replace('\r', "\n").lines().count().max(1) as u32;
            prop_assert!(e.line >= 1 && e.line <= lines + 1, "line {} outside a file of {lines} lines: {e:?}", e.line);
            prop_assert!(e.col >= 1, "column 0: {e:?}");
            prop_assert!(
                e.col as usize <= e.text.len() + 1,
                "column {} outside the offending text ({} bytes): {e:?}",
                e.col,
                e.text.len()
            );
            prop_assert!(!e.message.is_empty() && !e.message.contains('\n'), "not a one-line message: {e:?}");
            Ok(None)
        }
    }
}

/// Evaluate the assignments of a parsed file into a datastore and read everything back.
fn exercise_datastore(file: &rstore_importer::ast::File) {
    let d: Rc<DataStore> = DataStore::new(None);
    for st in &file.statements {
        // Errors (old override syntax, expansion failures of `:=`) are fine: only a
        // panic is a failure.
        let _ = match &st.stmt {
            Stmt::Assign(a) => assign::apply(&d, a, None),
            Stmt::Unset { var } => {
                d.del_var(var, None);
                Ok(())
            }
            Stmt::UnsetFlag { var, flag } => {
                d.del_var_flag(var, flag, None);
                Ok(())
            }
            Stmt::Export { var } => d.set_var_flag(var, "export", Value::Int(1), None, "exported"),
            _ => Ok(()),
        };
    }
    let Ok(keys) = d.keys() else { return };
    for key in keys.iter() {
        let _ = d.get_var(key, true);
        let _ = d.get_var_flags(key, &[], false);
        if let Ok(Some(raw)) = d.get_var(key, false) {
            let _ = d.expand(&raw.to_string(), Some(key));
        }
    }
    let _ = d.expand_keys();
    let _ = d.keys();
}

#[test]
fn mutated_metadata_never_panics() {
    with_big_stack(|| {
        let seeds = seeds();
        assert!(seeds.len() > 50, "only {} seed files", seeds.len());
        let mut config = Config::default();
        if std::env::var_os("PROPTEST_CASES").is_none() {
            config.cases = DEFAULT_CASES;
        }
        if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
            config.rng_seed = RngSeed::Fixed(DEFAULT_SEED);
        }
        config.failure_persistence = None;
        let mut runner = TestRunner::new(config);
        let strategy = (any::<Index>(), prop::collection::vec(mutation(), 1..6));
        let parsed = std::cell::Cell::new(0usize);
        let rejected = std::cell::Cell::new(0usize);
        let result = runner.run(&strategy, |(seed, mutations)| {
            let (kind, original) = &seeds[seed.index(seeds.len())];
            let mut bytes = original.clone();
            for m in &mutations {
                apply(&mut bytes, m);
            }
            let text = String::from_utf8_lossy(&bytes);
            let other = if *kind == FileKind::Conf { FileKind::Recipe } else { FileKind::Conf };
            match check_parse(&text, *kind)? {
                Some(file) => {
                    parsed.set(parsed.get() + 1);
                    exercise_datastore(&file);
                }
                None => rejected.set(rejected.get() + 1),
            }
            check_parse(&text, other)?;
            Ok(())
        });
        if let Err(e) = result {
            panic!("{e}");
        }
        eprintln!(
            "{} seed files; mutated files: {} parsed, {} rejected with a syntax error",
            seeds.len(),
            parsed.get(),
            rejected.get()
        );
    });
}

#[test]
fn unmutated_seeds_parse() {
    // The layers that hold only valid metadata parse as they are.
    let layers = repo_root().join("tests/layers");
    for dir in [repo_root().join("layers"), layers.join("meta-itest"), layers.join("meta-itest-extra")] {
        for file in files_below(&dir, &|p: &Path| FileKind::for_path(p).is_some()) {
            let kind = FileKind::for_path(&file).expect("filtered above");
            let text = std::fs::read_to_string(&file).expect("UTF-8 metadata");
            if let Err(e) = parser::parse(&text, kind) {
                panic!("{}: {e}", file.display());
            }
        }
    }
}
