//! Golden tests of the datastore against BitBake's documented semantics
//! (BitBake User Manual, "Syntax and Operators").

use super::*;
use crate::assign;
use crate::ast::{FileKind, Stmt};
use crate::parser;

fn load(d: &Rc<DataStore>, src: &str) {
    let file = parser::parse(src, FileKind::Conf).expect("parses");
    for st in file.statements {
        match st.stmt {
            Stmt::Assign(a) => assign::apply(d, &a, None).expect("applies"),
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn conf(src: &str) -> Rc<DataStore> {
    let d = DataStore::new(None);
    load(&d, src);
    d
}

fn get(d: &Rc<DataStore>, var: &str) -> Option<String> {
    d.get_str(var).expect("expands")
}

fn val(d: &Rc<DataStore>, var: &str) -> String {
    get(d, var).unwrap_or_else(|| panic!("{var} unset"))
}

#[test]
fn lazy_and_immediate_expansion() {
    let d = conf("A = \"${B}\"\nC := \"${B}\"\nB = \"x\"\nE := \"${B}\"\nB = \"y\"\n");
    assert_eq!(val(&d, "A"), "y");
    // `:=` of an unknown reference keeps `${B}` in the value, which expands on read.
    assert_eq!(val(&d, "C"), "y");
    assert_eq!(d.get_var("C", false).unwrap().unwrap().to_string(), "${B}");
    assert_eq!(val(&d, "E"), "x");
    let d = conf("A = \"${UNKNOWN} x\"\n");
    assert_eq!(val(&d, "A"), "${UNKNOWN} x", "unknown references stay unexpanded");
}

#[test]
fn defaults() {
    let d = conf("A ?= \"1\"\nA ?= \"2\"\nB ??= \"1\"\nB ??= \"2\"\nC ??= \"w\"\nC = \"s\"\nD = \"s\"\nD ??= \"w\"\n");
    assert_eq!(val(&d, "A"), "1");
    assert_eq!(val(&d, "B"), "2", "the last weak default wins");
    assert_eq!(val(&d, "C"), "s");
    assert_eq!(val(&d, "D"), "s");
    let d = conf("W ??= \"x\"\nW += \"y\"\n");
    assert_eq!(val(&d, "W"), " y", "+= ignores weak defaults");
    let d = conf("W ??= \"x\"\nW:append = \"y\"\n");
    assert_eq!(val(&d, "W"), "xy", ":append applies to the weak default");
    let d = conf("W ??= \"x\"\nW ?= \"y\"\n");
    assert_eq!(val(&d, "W"), "y", "?= ignores weak defaults");
}

#[test]
fn append_prepend_operators() {
    let d = conf("A = \"b\"\nA += \"c\"\nA =+ \"a\"\nB = \"b\"\nB .= \"c\"\nB =. \"a\"\n");
    assert_eq!(val(&d, "A"), "a b c");
    assert_eq!(val(&d, "B"), "abc");
    let d = conf("A = \"b\"\nA:append = \" c\"\nA:prepend = \"a \"\nA = \"z\"\n");
    assert_eq!(val(&d, "A"), "a z c", ":append/:prepend survive later assignments and apply at read time");
}

#[test]
fn overrides_select_the_highest_priority() {
    let d = conf(
        "OVERRIDES = \"arm:foo\"\nA = \"1\"\nA:arm = \"2\"\nA:foo = \"3\"\nB = \"1\"\nB:arm = \"2\"\nC:bar = \"x\"\n",
    );
    assert_eq!(val(&d, "A"), "3");
    assert_eq!(val(&d, "B"), "2");
    assert_eq!(get(&d, "C"), None);
    assert_eq!(val(&d, "A:arm"), "2");
}

#[test]
fn conditional_appends() {
    let d = conf(
        "OVERRIDES = \"arm:foo\"\nA = \"x\"\nA:append:arm = \" arm\"\nA:append:mips = \" mips\"\n\
         A:append:arm:foo = \" both\"\nB = \"b\"\nB:arm:append = \" z\"\nB:arm = \"a\"\n",
    );
    assert_eq!(val(&d, "A"), "x arm both");
    assert_eq!(val(&d, "B"), "a z", "VAR:override:append appends to the override's value");
}

#[test]
fn removes_keep_white_space() {
    let d = conf("A = \"123 456 789 123456 123 456 123 456\"\nA:remove = \"123\"\nA:remove = \"${X}\"\nX = \"789\"\n");
    assert_eq!(val(&d, "A"), " 456  123456  456  456");
    let d = conf("OVERRIDES = \"o\"\nB = \"a b c\"\nB:remove:o = \"b\"\nB:remove:p = \"c\"\n");
    assert_eq!(val(&d, "B"), "a  c");
}

#[test]
fn removes_on_overrides_carry_to_the_base() {
    let d = conf("OVERRIDES = \"o\"\nA = \"a b\"\nA:o = \"x y\"\nA:o:remove = \"y\"\n");
    assert_eq!(val(&d, "A"), "x ");
}

#[test]
fn flags() {
    let d = conf("A[doc] = \"x\"\nA[doc] += \"y\"\nA[depends] ??= \"w\"\nA[other] = \"${B}\"\nB = \"1\"\n");
    assert_eq!(d.get_var_flag("A", "doc", Read::EXPANDED).unwrap().unwrap().to_string(), "x y");
    assert_eq!(d.get_var_flag("A", "depends", Read::EXPANDED).unwrap().unwrap().to_string(), "w");
    assert_eq!(d.get_var_flag("A", "other", Read::EXPANDED).unwrap().unwrap().to_string(), "1");
    assert_eq!(d.get_var_flag("A", "other", Read::RAW).unwrap().unwrap().to_string(), "${B}");
    assert_eq!(get(&d, "A"), None, "flags alone leave the value unset");
    let flags = d.get_var_flags("A", &[], false).unwrap().unwrap();
    let names: Vec<&str> = flags.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["doc", "depends", "other"]);
}

#[test]
fn export_sets_a_flag() {
    let d = conf("export A = \"1\"\n");
    assert_eq!(d.get_var_flag("A", "export", Read::RAW).unwrap(), Some(Value::Int(1)));
}

#[test]
fn cycles_are_named() {
    let d = conf("A = \"${B}\"\nB = \"${C}\"\nC = \"${A}\"\n");
    let err = d.get_var("A", true).unwrap_err().to_string();
    assert!(err.contains("A -> B -> C -> A"), "{err}");
    let d = conf("A = \"x ${A}\"\n");
    let err = d.get_var("A", true).unwrap_err().to_string();
    assert!(err.contains("references itself"), "{err}");
}

#[test]
fn immediate_may_reference_itself() {
    let d = conf("A = \"a\"\nA := \"${A} b\"\n");
    assert_eq!(val(&d, "A"), "a b");
}

#[test]
fn copies_are_copy_on_write() {
    let base = conf("A = \"1\"\nB = \"${A}\"\nL = \"x\"\n");
    let copy = base.create_copy();
    load(&copy, "A = \"2\"\nL:append = \" y\"\n");
    assert_eq!(val(&copy, "B"), "2");
    assert_eq!(val(&copy, "L"), "x y");
    assert_eq!(val(&base, "B"), "1");
    assert_eq!(val(&base, "L"), "x");
    copy.del_var("B", None);
    assert_eq!(get(&copy, "B"), None);
    assert_eq!(val(&base, "B"), "1");
    assert!(!copy.keys().unwrap().iter().any(|k| &**k == "B"));
    assert!(base.keys().unwrap().iter().any(|k| &**k == "B"));
}

#[test]
fn setvar_from_code_drops_pending_operations() {
    let d = conf("OVERRIDES = \"o\"\nA = \"1\"\nA:append = \" x\"\nA:o = \"2\"\n");
    assert_eq!(val(&d, "A"), "2 x");
    d.set("A", "3").unwrap();
    assert_eq!(val(&d, "A"), "3", "d.setVar drops appends and active overrides");
}

#[test]
fn expand_keys_renames() {
    let d = conf("PN = \"foo\"\nRDEPENDS:${PN} = \"bar\"\nRDEPENDS:${PN}:append = \" baz\"\n");
    d.expand_keys().unwrap();
    assert_eq!(val(&d, "RDEPENDS:foo"), "bar baz");
}

#[test]
fn expand_keys_renames_every_name_with_a_reference_across_layers() {
    let base =
        conf("OVERRIDES = \"o\"\nPN = \"foo\"\nX_${PN} = \"1\"\nY_${PN} = \"2\"\nW_${PN}:o = \"3\"\nPLAIN = \"p\"\n");
    let copy = base.create_copy();
    copy.del_var("Y_${PN}", None);
    load(&copy, "V_${PN} = \"4\"\n");
    let with_references: Vec<_> = copy.keys().unwrap().iter().filter(|k| k.contains("${")).cloned().collect();
    assert_eq!(copy.keys_with_references().unwrap(), with_references);
    copy.expand_keys().unwrap();
    assert_eq!(val(&copy, "X_foo"), "1");
    assert_eq!(get(&copy, "Y_foo"), None, "a name deleted in the nearer layer stays deleted");
    assert_eq!(val(&copy, "V_foo"), "4");
    assert_eq!(val(&copy, "W_foo"), "3", "a name set only through an active override");
    assert_eq!(val(&copy, "PLAIN"), "p");
    let left: Vec<_> = copy.keys().unwrap().iter().filter(|k| k.contains("${")).cloned().collect();
    assert!(left.is_empty(), "names still holding a reference: {left:?}");
    assert_eq!(val(&base, "X_${PN}"), "1", "the parent layer is untouched");
}

#[test]
fn override_selection_updates_when_overrides_change() {
    let d =
        conf("MACHINEOVERRIDES = \"m1\"\nOVERRIDES = \"${MACHINEOVERRIDES}\"\nA = \"0\"\nA:m1 = \"1\"\nA:m2 = \"2\"\n");
    assert_eq!(val(&d, "A"), "1");
    load(&d, "MACHINEOVERRIDES = \"m2\"\n");
    assert_eq!(val(&d, "A"), "2");
    load(&d, "MACHINEOVERRIDES:append = \":m1\"\n");
    assert_eq!(val(&d, "A"), "1", "the later override in OVERRIDES wins");
}

#[test]
fn rename_var_moves_flags_and_operations() {
    let d = conf("A = \"x\"\nA:append = \" y\"\n");
    d.rename_var("A", "B", None).unwrap();
    assert_eq!(val(&d, "B"), "x y");
    assert_eq!(get(&d, "A"), None);
}

#[test]
fn old_override_syntax_is_an_error() {
    let d = DataStore::new(None);
    let err = d.set_var("FOO_append", Value::str("x"), true, None, "set").unwrap_err();
    assert!(err.to_string().contains("old override syntax"));
}

#[test]
fn split_keyword_follows_bitbake() {
    assert_eq!(split_keyword("A:append"), Some(("A", ":append", None)));
    assert_eq!(split_keyword("A:o:remove"), Some(("A:o", ":remove", None)));
    assert_eq!(split_keyword("A:append:x:y"), Some(("A", ":append", Some("x:y"))));
    assert_eq!(split_keyword("A:append:X"), None);
    assert_eq!(split_keyword("A:appendix"), None);
    assert_eq!(split_keyword("RDEPENDS:${PN}:append"), Some(("RDEPENDS:${PN}", ":append", None)));
}

#[test]
fn python_reference_matching() {
    let s = "${@d.getVar('X')} ${@{'a': 1}['a']} ${@'}'}";
    let (a, b) = next_python_ref(s, 0).unwrap();
    assert_eq!(&s[a..b], "${@d.getVar('X')}");
    let (c, e) = next_python_ref(s, b).unwrap();
    assert_eq!(&s[c..e], "${@{'a': 1}['a']}");
    let (f, g) = next_python_ref(s, e).unwrap();
    assert_eq!(&s[f..g], "${@'}");
}
