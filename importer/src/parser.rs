//! BitBake's line grammar, reproduced rule for rule.
//!
//! BitBake reads metadata line by line and tries a fixed list of patterns on each
//! logical line (after `\` continuations are joined). The order of those patterns and
//! their exact shapes decide what a line means, so this module follows them precisely:
//! `.conf` files use the configuration grammar (assignments, `include`, `require`,
//! `include_all`, `export`, `unset`, `addpylib`, `addfragments`); recipe-like files
//! (`.bb`, `.bbappend`, `.bbclass`, `.inc`) first try functions, `def` blocks,
//! `EXPORT_FUNCTIONS`, `addtask`, `deltask`, `addhandler`, `inherit` and `inherit_defer`,
//! then fall back to the configuration grammar.
//!
//! The matchers are written by hand (no regex engine) so that they can report what was
//! expected when a line does not parse.

use crate::ast::{AssignOp, Assignment, File, FileKind, Function, Pos, PythonDef, Statement, Stmt};

/// A line that is not valid BitBake metadata.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{col}: {message}")]
pub struct SyntaxError {
    pub line: u32,
    pub col: u32,
    /// One line saying what was expected.
    pub message: String,
    /// The offending text (the logical line, continuations joined).
    pub text: String,
}

/// Python's `str.isspace` (what `\s` and `strip()` treat as white space).
pub fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn py_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn rstrip(s: &str) -> &str {
    s.trim_end_matches(py_space)
}

/// Characters allowed in a variable name on the left of an assignment.
fn var_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_+.${}/~:".contains(c)
}

/// Characters allowed in `export VAR` / `unset VAR` names (no `:`).
fn plain_var_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_+.${}/~".contains(c)
}

fn flag_first_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_+.".contains(c)
}

fn flag_char(c: char) -> bool {
    flag_first_char(c) || c == '@' || c == '/'
}

/// Split text into lines the way Python's universal-newline `readline` does.
fn split_lines(text: &str) -> Vec<String> {
    let normalized;
    let text = if text.contains('\r') {
        normalized = text.replace("\r\n", "\n").replace('\r', "\n");
        &normalized
    } else {
        text
    };
    let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
    if lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    lines
}

/// `keyword\s+REST`: returns REST (which is non-empty) when `s` starts with the keyword.
fn keyword_rest<'a>(s: &'a str, keyword: &str) -> Option<&'a str> {
    let rest = s.strip_prefix(keyword)?;
    let trimmed = rest.trim_start_matches(py_space);
    if trimmed.len() == rest.len() {
        return None;
    }
    // `\s+(.+)`: the group needs one character; `\s+` may give back one white space
    // character when nothing else is left.
    if trimmed.is_empty() {
        let last = rest.chars().last()?;
        if rest.len() > last.len_utf8() {
            return Some(&rest[rest.len() - last.len_utf8()..]);
        }
        return None;
    }
    Some(trimmed)
}

/// Parse a whole file.
pub fn parse(text: &str, kind: FileKind) -> Result<File, SyntaxError> {
    let statements = match kind {
        FileKind::Conf => parse_conf(text)?,
        FileKind::Recipe => RecipeParser::default().run(text)?,
    };
    Ok(File { kind, statements })
}

fn parse_conf(text: &str) -> Result<Vec<Statement>, SyntaxError> {
    let lines = split_lines(text);
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let start = i;
        let raw = &lines[i];
        i += 1;
        if raw.trim_matches(py_space).is_empty() {
            continue;
        }
        let mut s = rstrip(raw).to_owned();
        while s.ends_with('\\') {
            let next = lines.get(i).map(String::as_str).unwrap_or("");
            let at_eof = i >= lines.len();
            i += 1;
            let s2 = rstrip(next);
            if (s2.is_empty() || !s2.starts_with('#')) && s.starts_with('#') {
                return Err(SyntaxError {
                    line: start as u32 + 1,
                    col: 1,
                    message: "a comment continued with `\\` runs into a line that is not a comment: \
                              make it all comment or all metadata"
                        .into(),
                    text: s,
                });
            }
            s.pop();
            s.push_str(s2);
            if at_eof || s.is_empty() {
                break;
            }
        }
        if s.is_empty() || s.starts_with('#') {
            continue;
        }
        let pos = Pos { line: start as u32 + 1, col: 1 };
        out.push(conf_statement(&s, pos)?);
    }
    Ok(out)
}

/// The configuration-file grammar for one logical line (BitBake's `ConfHandler.feeder`).
fn conf_statement(s: &str, pos: Pos) -> Result<Statement, SyntaxError> {
    let stmt = |stmt| Ok(Statement { pos, stmt });
    if let Some(a) = match_assignment(s) {
        if a.var.is_empty() {
            return Err(error(pos, "expected a variable name before the assignment operator", s));
        }
        return stmt(Stmt::Assign(a));
    }
    if let Some(rest) = keyword_rest(s, "include") {
        return stmt(Stmt::Include { files: rest.to_owned(), required: false });
    }
    if let Some(rest) = keyword_rest(s, "require") {
        return stmt(Stmt::Include { files: rest.to_owned(), required: true });
    }
    if let Some(rest) = keyword_rest(s, "include_all") {
        return stmt(Stmt::IncludeAll { file: rest.to_owned() });
    }
    if let Some(rest) = keyword_rest(s, "export")
        && !rest.is_empty()
        && rest.chars().all(plain_var_char)
    {
        return stmt(Stmt::Export { var: rest.to_owned() });
    }
    if let Some(rest) = keyword_rest(s, "unset") {
        if !rest.is_empty() && rest.chars().all(plain_var_char) {
            return stmt(Stmt::Unset { var: rest.to_owned() });
        }
        if let Some((var, flag)) = unset_flag(rest) {
            return stmt(Stmt::UnsetFlag { var, flag });
        }
    }
    if let Some(rest) = keyword_rest(s, "addpylib")
        && let Some(parts) = split_greedy(rest, 2)
    {
        return stmt(Stmt::AddPylib { dir: parts[0].clone(), namespace: parts[1].clone() });
    }
    if let Some(rest) = keyword_rest(s, "addfragments")
        && let Some(p) = split_greedy(rest, 4).or_else(|| split_greedy(rest, 3))
    {
        return stmt(Stmt::AddFragments {
            prefix: p[0].clone(),
            var: p[1].clone(),
            flagged_vars: p[2].clone(),
            builtin_var: p.get(3).cloned(),
        });
    }
    Err(diagnose_unparsed(s, pos))
}

/// `unset VAR[flag]` where the flag has at least two characters (as BitBake requires).
fn unset_flag(rest: &str) -> Option<(String, String)> {
    let open = rest.find('[')?;
    let var = &rest[..open];
    let inner = rest[open + 1..].strip_suffix(']')?;
    let mut chars = inner.chars();
    let first = chars.next()?;
    let ok = !var.is_empty()
        && var.chars().all(plain_var_char)
        && flag_first_char(first)
        && inner.chars().count() >= 2
        && chars.all(|c| flag_first_char(c) || c == '@');
    ok.then(|| (var.to_owned(), inner.to_owned()))
}

/// `(.+)\s+(.+)…` with greedy groups: the last `n - 1` white-space separated pieces go to
/// the later groups, everything before them to the first.
fn split_greedy(rest: &str, n: usize) -> Option<Vec<String>> {
    let mut parts: Vec<String> = Vec::with_capacity(n);
    let mut remaining = rest;
    for _ in 1..n {
        // The last group takes the shortest tail after a white-space run that still
        // leaves at least one character for the earlier groups.
        let idx = remaining.char_indices().rev().find(|&(i, c)| py_space(c) && i > 0)?.0;
        let tail = &remaining[idx..];
        let after_space = tail.trim_start_matches(py_space);
        let group = if after_space.is_empty() {
            return None;
        } else {
            after_space
        };
        parts.push(group.to_owned());
        remaining = remaining[..idx].trim_end_matches(py_space);
        // Greedy `(.+)` before `\s+` keeps all but one white space char: the white space
        // belongs to the separator, which is what trimming does.
        if remaining.is_empty() {
            return None;
        }
    }
    parts.push(remaining.to_owned());
    parts.reverse();
    Some(parts)
}

fn error(pos: Pos, message: &str, text: &str) -> SyntaxError {
    SyntaxError { line: pos.line, col: pos.col, message: message.to_owned(), text: text.to_owned() }
}

const OPERATORS: [(&str, AssignOp); 8] = [
    (":=", AssignOp::Immediate),
    ("??=", AssignOp::WeakDefault),
    ("?=", AssignOp::Default),
    ("+=", AssignOp::Append),
    ("=+", AssignOp::Prepend),
    ("=.", AssignOp::PrependDot),
    (".=", AssignOp::AppendDot),
    ("=", AssignOp::Set),
];

/// BitBake's assignment pattern:
/// `^(export\s+)?VAR([flag])?\s*OP\s*(?!'[^']*'[^']*'$)(?!"[^"]*"[^"]*"$)(['"])(.*)\3$`
/// with a lazy VAR: the shortest name for which the rest of the line matches wins.
pub fn match_assignment(s: &str) -> Option<Assignment> {
    if let Some(rest) = s.strip_prefix("export") {
        let after = rest.trim_start_matches(py_space);
        if after.len() != rest.len()
            && let Some(mut a) = match_assignment_body(after)
        {
            a.export = true;
            return Some(a);
        }
    }
    match_assignment_body(s)
}

fn match_assignment_body(s: &str) -> Option<Assignment> {
    let max_var = s.find(|c: char| !var_char(c)).unwrap_or(s.len());
    // Lazy variable name: try the shortest first.
    for var_len in 0..=max_var {
        if !s.is_char_boundary(var_len) {
            continue;
        }
        let var = &s[..var_len];
        let rest = &s[var_len..];
        // Optional `[flag]`, greedy: with the flag first.
        if let Some((flag, after_flag)) = parse_flag(rest)
            && let Some((op, value)) = match_op_value(after_flag)
        {
            return Some(Assignment { export: false, var: var.to_owned(), flag: Some(flag), op, value });
        }
        if let Some((op, value)) = match_op_value(rest) {
            return Some(Assignment { export: false, var: var.to_owned(), flag: None, op, value });
        }
    }
    None
}

fn parse_flag(rest: &str) -> Option<(String, &str)> {
    let inner = rest.strip_prefix('[')?;
    let mut chars = inner.char_indices();
    let (_, first) = chars.next()?;
    if !flag_first_char(first) {
        return None;
    }
    let end = inner.find(|c: char| !flag_char(c)).unwrap_or(inner.len());
    let after = inner[end..].strip_prefix(']')?;
    Some((inner[..end].to_owned(), after))
}

fn match_op_value(rest: &str) -> Option<(AssignOp, String)> {
    let rest = rest.trim_start_matches(py_space);
    for (text, op) in OPERATORS {
        if let Some(after) = rest.strip_prefix(text)
            && let Some(value) = quoted_value(after.trim_start_matches(py_space))
        {
            return Some((op, value));
        }
    }
    None
}

/// The quoted value after the operator: it must start with a quote, end with the same
/// quote, and must not be exactly three quotes of that kind (BitBake's look-aheads).
fn quoted_value(v: &str) -> Option<String> {
    let quote = v.chars().next()?;
    if quote != '\'' && quote != '"' {
        return None;
    }
    if v.len() < 2 || !v.ends_with(quote) {
        return None;
    }
    // (?!Q[^Q]*Q[^Q]*Q$): reject when the quote appears exactly three times with the last
    // one at the end.
    if v.matches(quote).count() == 3 {
        return None;
    }
    Some(v[1..v.len() - 1].to_owned())
}

/// Say what was expected on a line nothing matched.
fn diagnose_unparsed(s: &str, pos: Pos) -> SyntaxError {
    let name_end = s.find(|c: char| !var_char(c) && c != '[' && c != ']').unwrap_or(s.len());
    let after = s[name_end..].trim_start_matches(py_space);
    let op_col = pos.col + (s.len() - after.len()) as u32;
    let at = |col: u32, msg: String| SyntaxError { line: pos.line, col, message: msg, text: s.to_owned() };
    if name_end > 0 {
        if let Some((text, _)) = OPERATORS.iter().find(|(t, _)| after.starts_with(t)) {
            let value = after[text.len()..].trim_start_matches(py_space);
            let value_col = pos.col + (s.len() - value.len()) as u32;
            return match value.chars().next() {
                None => at(value_col, format!("expected a quoted value after `{text}`")),
                Some(q @ ('"' | '\'')) if value.len() < 2 || !value.ends_with(q) => {
                    at(value_col, format!("unterminated quote: expected a closing {q} at the end of the line"))
                }
                Some(q @ ('"' | '\'')) => at(
                    value_col,
                    format!(
                        "a value must be one quoted string: the {q} inside it needs a backslash or the other quote"
                    ),
                ),
                Some(_) => at(value_col, format!("expected a value in double or single quotes after `{text}`")),
            };
        }
        if let Some(op) = after.split(py_space).next().filter(|t| t.ends_with('=') && t.len() <= 3) {
            return at(op_col, format!("unknown assignment operator `{op}`: expected one of = ?= ??= := += =+ .= =."));
        }
        if s[..name_end].contains('[') && !s[..name_end].ends_with(']') {
            return at(pos.col, "malformed variable flag: expected `VAR[flag] = \"value\"`".into());
        }
    }
    if s.starts_with(py_space) {
        return at(pos.col, "unexpected indentation: statements start at the first column".into());
    }
    at(
        pos.col,
        "expected an assignment (VAR = \"value\"), include, require, inherit, export, unset, addtask or a function"
            .into(),
    )
}

#[derive(Default)]
struct RecipeParser {
    out: Vec<Statement>,
    /// An open brace function: header, and its body so far.
    in_func: Option<(Pos, Option<String>, bool, bool)>,
    /// An open `def` block: its name and start.
    in_def: Option<(Pos, String)>,
    body: Vec<String>,
    residue: Vec<String>,
    residue_start: u32,
}

impl RecipeParser {
    fn run(mut self, text: &str) -> Result<Vec<Statement>, SyntaxError> {
        let lines = split_lines(text);
        let mut lineno = 0u32;
        for line in &lines {
            lineno += 1;
            self.feed(lineno, rstrip(line), false)?;
        }
        lineno += 1;
        if self.in_def.is_some() {
            self.feed(lineno, "", true)?;
        }
        if let Some((pos, name, python, _)) = &self.in_func {
            let what = if *python { "Python function" } else { "shell function" };
            let name = name.as_deref().unwrap_or("(anonymous)");
            return Err(SyntaxError {
                line: pos.line,
                col: pos.col,
                message: format!("{what} {name} is never closed: expected a line holding only `}}`"),
                text: lines.get(pos.line as usize - 1).cloned().unwrap_or_default(),
            });
        }
        if !self.residue.is_empty() {
            return Err(SyntaxError {
                line: self.residue_start,
                col: 1,
                message: "the file ends inside a `\\` continuation: expected another line".into(),
                text: self.residue.concat(),
            });
        }
        Ok(self.out)
    }

    fn feed(&mut self, lineno: u32, s: &str, eof: bool) -> Result<(), SyntaxError> {
        if let Some((pos, name, python, fakeroot)) = &self.in_func {
            if s == "}" {
                let mut body = std::mem::take(&mut self.body);
                body.push(String::new());
                let f = Function { name: name.clone(), python: *python, fakeroot: *fakeroot, body, end_line: lineno };
                self.out.push(Statement { pos: *pos, stmt: Stmt::Function(f) });
                self.in_func = None;
            } else {
                self.body.push(s.to_owned());
            }
            return Ok(());
        }
        if let Some((pos, name)) = &self.in_def {
            let continues = s.is_empty() || s.starts_with('#') || s.starts_with(py_space);
            if continues && !eof {
                self.body.push(s.to_owned());
                return Ok(());
            }
            let body = std::mem::take(&mut self.body);
            let def = PythonDef { name: name.clone(), body, end_line: lineno };
            self.out.push(Statement { pos: *pos, stmt: Stmt::PythonDef(def) });
            self.in_def = None;
            if eof {
                return Ok(());
            }
        }

        if s.starts_with('#') && self.residue.first().is_some_and(|r| !r.starts_with('#')) {
            return Err(SyntaxError {
                line: lineno,
                col: 1,
                message: "a comment in the middle of a `\\` continuation: expected a continuation line".into(),
                text: s.to_owned(),
            });
        }
        if self.residue.first().is_some_and(|r| r.starts_with('#')) && !s.starts_with('#') {
            return Err(SyntaxError {
                line: self.residue_start,
                col: 1,
                message: "a comment continued with `\\` runs into a line that is not a comment: \
                          make it all comment or all metadata"
                    .into(),
                text: format!("{}{s}", self.residue.concat()),
            });
        }
        if let Some(stripped) = s.strip_suffix('\\') {
            if self.residue.is_empty() {
                self.residue_start = lineno;
            }
            self.residue.push(stripped.to_owned());
            return Ok(());
        }
        let start = if self.residue.is_empty() { lineno } else { self.residue_start };
        let joined;
        let s = if self.residue.is_empty() {
            s
        } else {
            joined = format!("{}{s}", self.residue.concat());
            self.residue.clear();
            &joined
        };
        if s.is_empty() || s.starts_with('#') {
            return Ok(());
        }
        let pos = Pos { line: start, col: 1 };

        if let Some((python, fakeroot, name)) = match_func_start(s) {
            self.in_func = Some((pos, name, python, fakeroot));
            return Ok(());
        }
        if let Some(name) = match_def(s) {
            self.body.push(s.to_owned());
            self.in_def = Some((pos, name));
            return Ok(());
        }
        let push = |this: &mut Self, stmt| {
            this.out.push(Statement { pos, stmt });
            Ok(())
        };
        if let Some(rest) = keyword_rest(s, "EXPORT_FUNCTIONS") {
            return push(self, Stmt::ExportFunctions { names: rest.to_owned() });
        }
        if let Some(rest) = keyword_rest(s, "addtask") {
            let body = rest.split('#').next().unwrap_or("");
            if !body.is_empty() {
                for token in s.split(py_space) {
                    if [":append_", ":prepend_", ":remove_"].iter().any(|k| token.contains(k)) {
                        return Err(error(
                            pos,
                            &format!("task name `{token}` contains :append, :prepend or :remove: rename the task"),
                            s,
                        ));
                    }
                }
                let (tasks, before, after) = split_addtask(body);
                return push(self, Stmt::AddTask { tasks, before, after });
            }
        }
        if let Some(rest) = keyword_rest(s, "deltask") {
            let body = rest.split('#').next().unwrap_or("");
            if !body.is_empty() {
                return push(self, Stmt::DelTask { tasks: body.to_owned() });
            }
        }
        if let Some(rest) = keyword_rest(s, "addhandler") {
            return push(self, Stmt::AddHandler { names: rest.to_owned() });
        }
        if let Some(rest) = keyword_rest(s, "inherit") {
            return push(self, Stmt::Inherit { classes: rest.to_owned() });
        }
        if let Some(rest) = keyword_rest(s, "inherit_defer") {
            return push(self, Stmt::InheritDefer { classes: rest.to_owned() });
        }
        let st = conf_statement(s, pos)?;
        if matches!(st.stmt, Stmt::AddPylib { .. }) {
            // addpylib belongs to configuration files only.
            return Err(error(pos, "addpylib is only allowed in configuration (.conf) files", s));
        }
        self.out.push(st);
        Ok(())
    }
}

/// `addtask X after A before B`: BitBake splits on the literal words " before " and
/// " after " so that the lists may hold expressions.
fn split_addtask(g: &str) -> (String, String, String) {
    let tasks = g.split(" before ").next().unwrap_or("").split(" after ").next().unwrap_or("").to_owned();
    let mut after = String::new();
    for exp in g.split(" before ") {
        let parts: Vec<&str> = exp.split(" after ").collect();
        if parts.len() > 1 {
            after.push_str(&parts[1..].join(" "));
        }
    }
    let mut before = String::new();
    for exp in g.split(" after ") {
        let parts: Vec<&str> = exp.split(" before ").collect();
        if parts.len() > 1 {
            before.push_str(&parts[1..].join(" "));
        }
    }
    (tasks, before, after)
}

/// `((python(?=\s|\()|fakeroot(?=\s))\s*)*(NAME)?\s*\(\s*\)\s*{$`
/// Returns (python, fakeroot, name).
fn match_func_start(s: &str) -> Option<(bool, bool, Option<String>)> {
    // Collect the maximal run of prefixes, then try from the longest run down.
    let mut prefixes: Vec<(usize, bool)> = Vec::new(); // (end offset, is_python)
    let mut at = 0;
    loop {
        let rest = &s[at..];
        let (word, is_py) = if rest.starts_with("python") {
            ("python", true)
        } else if rest.starts_with("fakeroot") {
            ("fakeroot", false)
        } else {
            break;
        };
        let next = rest[word.len()..].chars().next();
        let ok = match next {
            Some(c) if py_space(c) => true,
            Some('(') => is_py,
            _ => false,
        };
        if !ok {
            break;
        }
        let after = &rest[word.len()..];
        let trimmed = after.trim_start_matches(py_space);
        at += word.len() + (after.len() - trimmed.len());
        prefixes.push((at, is_py));
    }
    for k in (0..=prefixes.len()).rev() {
        let start = if k == 0 { 0 } else { prefixes[k - 1].0 };
        let python = prefixes[..k].iter().any(|p| p.1);
        let fakeroot = prefixes[..k].iter().any(|p| !p.1);
        let rest = &s[start..];
        let name_end = rest.find(|c: char| !(py_word(c) || ".-+{}$:".contains(c))).unwrap_or(rest.len());
        let tail = rest[name_end..].trim_start_matches(py_space);
        let tail = tail.strip_prefix('(')?.trim_start_matches(py_space);
        let Some(tail) = tail.strip_prefix(')') else {
            continue;
        };
        if tail.trim_start_matches(py_space) == "{" {
            let name = (name_end > 0).then(|| rest[..name_end].to_owned());
            return Some((python, fakeroot, name));
        }
    }
    None
}

/// `def\s+(\w+).*:` at the start of the line.
fn match_def(s: &str) -> Option<String> {
    let rest = keyword_rest(s, "def")?;
    let end = rest.find(|c: char| !py_word(c)).unwrap_or(rest.len());
    if end == 0 || !rest[end..].contains(':') {
        return None;
    }
    Some(rest[..end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str, kind: FileKind) -> Stmt {
        let f = parse(s, kind).unwrap();
        assert_eq!(f.statements.len(), 1, "{f:?}");
        f.statements.into_iter().next().unwrap().stmt
    }

    fn assign(s: &str) -> Assignment {
        match one(s, FileKind::Conf) {
            Stmt::Assign(a) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_operator() {
        for (text, op) in OPERATORS {
            let a = assign(&format!("FOO {text} \"v\""));
            assert_eq!((a.var.as_str(), a.op, a.value.as_str()), ("FOO", op, "v"));
            let a = assign(&format!("FOO{text}'v'"));
            assert_eq!((a.var.as_str(), a.op), ("FOO", op));
        }
    }

    #[test]
    fn lazy_names_and_flags() {
        let a = assign("A+=\"x\"");
        assert_eq!((a.var.as_str(), a.op), ("A", AssignOp::Append));
        let a = assign("A+B += \"x\"");
        assert_eq!((a.var.as_str(), a.op), ("A+B", AssignOp::Append));
        let a = assign("do_fetch[network] = \"1\"");
        assert_eq!((a.var.as_str(), a.flag.as_deref()), ("do_fetch", Some("network")));
        let a = assign("RDEPENDS:${PN}:append:class-target = \" x\"");
        assert_eq!(a.var, "RDEPENDS:${PN}:append:class-target");
        let a = assign("export CC = \"gcc\"");
        assert!(a.export);
        assert_eq!(a.var, "CC");
        let a = assign("FOO ??= \"\"");
        assert_eq!((a.op, a.value.as_str()), (AssignOp::WeakDefault, ""));
    }

    #[test]
    fn quotes() {
        assert_eq!(assign(r#"A = "it's""#).value, "it's");
        assert_eq!(assign(r#"A = 'say "hi"'"#).value, r#"say "hi""#);
        assert_eq!(assign(r#"A = "a \"b\" c""#).value, r#"a \"b\" c"#);
        // exactly three quotes of the same kind is rejected, like BitBake
        assert!(parse(r#"A = "a"b""#, FileKind::Conf).is_err());
        let err = parse("A = \"unterminated", FileKind::Conf).unwrap_err();
        assert!(err.message.contains("unterminated quote"), "{err:?}");
        assert_eq!((err.line, err.col), (1, 5));
        let err = parse("A ~= \"x\"", FileKind::Conf).unwrap_err();
        assert!(err.message.contains("unknown assignment operator"), "{err:?}");
    }

    #[test]
    fn continuations_conf() {
        let f = parse("A = \"a \\\n  b\"\n# c\nB = \"x\"\n", FileKind::Conf).unwrap();
        assert_eq!(f.statements.len(), 2);
        match &f.statements[0].stmt {
            Stmt::Assign(a) => assert_eq!(a.value, "a   b"),
            o => panic!("{o:?}"),
        }
        assert_eq!(f.statements[1].pos.line, 4);
    }

    #[test]
    fn conf_directives() {
        assert_eq!(
            one("include conf/a.conf", FileKind::Conf),
            Stmt::Include { files: "conf/a.conf".into(), required: false }
        );
        assert_eq!(one("require  b.inc", FileKind::Conf), Stmt::Include { files: "b.inc".into(), required: true });
        assert_eq!(one("include_all conf/x.conf", FileKind::Conf), Stmt::IncludeAll { file: "conf/x.conf".into() });
        assert_eq!(one("export FOO", FileKind::Conf), Stmt::Export { var: "FOO".into() });
        assert_eq!(one("unset FOO", FileKind::Conf), Stmt::Unset { var: "FOO".into() });
        assert_eq!(one("unset FOO[doc]", FileKind::Conf), Stmt::UnsetFlag { var: "FOO".into(), flag: "doc".into() });
        assert_eq!(
            one("addpylib ${LAYERDIR}/lib oe", FileKind::Conf),
            Stmt::AddPylib { dir: "${LAYERDIR}/lib".into(), namespace: "oe".into() }
        );
        assert_eq!(
            one(
                "addfragments conf/fragments OE_FRAGMENTS OE_FRAGMENTS_METADATA_VARS OE_FRAGMENTS_BUILTIN",
                FileKind::Conf
            ),
            Stmt::AddFragments {
                prefix: "conf/fragments".into(),
                var: "OE_FRAGMENTS".into(),
                flagged_vars: "OE_FRAGMENTS_METADATA_VARS".into(),
                builtin_var: Some("OE_FRAGMENTS_BUILTIN".into())
            }
        );
        // BitBake 2.12's form, without the built-in fragments variable.
        assert_eq!(
            one("addfragments ${OE_FRAGMENTS_PREFIX} OE_FRAGMENTS OE_FRAGMENTS_METADATA_VARS", FileKind::Conf),
            Stmt::AddFragments {
                prefix: "${OE_FRAGMENTS_PREFIX}".into(),
                var: "OE_FRAGMENTS".into(),
                flagged_vars: "OE_FRAGMENTS_METADATA_VARS".into(),
                builtin_var: None
            }
        );
    }

    #[test]
    fn functions() {
        let f = parse("do_install() {\n\techo hi \\\n}\n", FileKind::Recipe).unwrap();
        match &f.statements[0].stmt {
            Stmt::Function(func) => {
                assert_eq!(func.name.as_deref(), Some("do_install"));
                assert!(!func.python);
                assert_eq!(func.body, vec!["\techo hi \\".to_owned(), String::new()]);
                assert_eq!(func.end_line, 3);
            }
            o => panic!("{o:?}"),
        }
        let f = parse("python () {\n    pass\n}\n", FileKind::Recipe).unwrap();
        assert!(matches!(&f.statements[0].stmt, Stmt::Function(Function { name: None, python: true, .. })));
        let f = parse("python __anonymous () {\n    pass\n}\n", FileKind::Recipe).unwrap();
        assert!(
            matches!(&f.statements[0].stmt, Stmt::Function(Function { name: Some(n), python: true, .. }) if n == "__anonymous")
        );
        let f = parse("fakeroot python do_x() {\n}\n", FileKind::Recipe).unwrap();
        assert!(matches!(&f.statements[0].stmt, Stmt::Function(Function { python: true, fakeroot: true, .. })));
        let f = parse("fakeroot do_x () {\n}\n", FileKind::Recipe).unwrap();
        assert!(matches!(&f.statements[0].stmt, Stmt::Function(Function { python: false, fakeroot: true, .. })));
        let err = parse("do_x() {\n echo\n", FileKind::Recipe).unwrap_err();
        assert!(err.message.contains("never closed"));
        assert_eq!(err.line, 1);
    }

    #[test]
    fn def_blocks() {
        let src = "def foo(d):\n    return 1\n\n# c\nA = \"1\"\n";
        let f = parse(src, FileKind::Recipe).unwrap();
        assert_eq!(f.statements.len(), 2);
        match &f.statements[0].stmt {
            Stmt::PythonDef(d) => {
                assert_eq!(d.name, "foo");
                assert_eq!(d.body.len(), 4);
                assert_eq!(d.end_line, 5);
            }
            o => panic!("{o:?}"),
        }
        // a def at the end of the file is closed by EOF
        let f = parse("def bar():\n    pass", FileKind::Recipe).unwrap();
        assert!(matches!(&f.statements[0].stmt, Stmt::PythonDef(d) if d.end_line == 3));
    }

    #[test]
    fn recipe_directives() {
        assert_eq!(
            one("addtask do_x after do_a do_b before do_c # note", FileKind::Recipe),
            Stmt::AddTask { tasks: "do_x".into(), before: "do_c ".into(), after: "do_a do_b".into() }
        );
        assert_eq!(
            one("addtask do_y before do_b after do_a", FileKind::Recipe),
            Stmt::AddTask { tasks: "do_y".into(), before: "do_b".into(), after: "do_a".into() }
        );
        assert_eq!(one("deltask do_x", FileKind::Recipe), Stmt::DelTask { tasks: "do_x".into() });
        assert_eq!(
            one("inherit autotools pkgconfig", FileKind::Recipe),
            Stmt::Inherit { classes: "autotools pkgconfig".into() }
        );
        assert_eq!(one("inherit_defer native", FileKind::Recipe), Stmt::InheritDefer { classes: "native".into() });
        assert_eq!(one("addhandler foo", FileKind::Recipe), Stmt::AddHandler { names: "foo".into() });
        assert_eq!(
            one("EXPORT_FUNCTIONS do_compile do_install", FileKind::Recipe),
            Stmt::ExportFunctions { names: "do_compile do_install".into() }
        );
        assert!(parse("addtask do_foo:append_x", FileKind::Recipe).is_err());
        assert!(parse("addpylib a b", FileKind::Recipe).is_err());
    }

    #[test]
    fn recipe_continuations_and_comments() {
        let f = parse("A = \"a \\\n b\"\n", FileKind::Recipe).unwrap();
        assert!(matches!(&f.statements[0].stmt, Stmt::Assign(a) if a.value == "a  b"));
        let err = parse("A = \"a \\\n# c\n b\"\n", FileKind::Recipe).unwrap_err();
        assert!(err.message.contains("comment in the middle"));
        let err = parse("A = \"a \\", FileKind::Recipe).unwrap_err();
        assert!(err.message.contains("continuation"));
    }

    #[test]
    fn unparsed_lines() {
        let err = parse("   A = \"x\"", FileKind::Conf).unwrap_err();
        assert!(err.message.contains("indentation"), "{err:?}");
        let err = parse("this is nonsense", FileKind::Conf).unwrap_err();
        assert!(err.message.starts_with("expected an assignment"), "{err:?}");
        let err = parse("A = x", FileKind::Conf).unwrap_err();
        assert!(err.message.contains("double or single quotes"), "{err:?}");
    }
}
