//! Which commands a shell function runs.
//!
//! A shell task's signature depends on the shell functions it calls. BitBake finds them
//! by parsing the (expanded) function body with a POSIX shell grammar and collecting
//! the command name of every simple command — inside `if`/`while`/`case`/`for`
//! bodies, pipelines, subshells, brace groups and command substitutions (`$(…)` and
//! backticks) too — minus the functions the body defines itself. This module does the
//! same with a small lexer and a state machine over its tokens. It never fails: text it
//! cannot make sense of contributes no command names.

use std::collections::BTreeSet;

/// Commands executed by `script`, except functions it defines.
pub fn executed_commands(script: &str) -> BTreeSet<String> {
    let mut found = Found::default();
    scan(script, &mut found, 0);
    found.execs.retain(|c| !found.funcdefs.contains(c));
    found.execs
}

#[derive(Default)]
struct Found {
    execs: BTreeSet<String>,
    funcdefs: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Op(&'static str),
    Newline,
}

const OPS: [&str; 19] =
    ["&&", "||", ";;", ";&", "|&", "<<-", "<<", "<&", "<>", ">>", ">&", ">|", "&>", ";", "&", "|", "(", ")", "<"];

fn is_redirect(op: &str) -> bool {
    matches!(op, "<<-" | "<<" | "<&" | "<>" | ">>" | ">&" | ">|" | "&>" | "<" | ">")
}

struct Lexer<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
    pending_heredocs: Vec<(String, bool)>,
    expect_delimiter: Option<bool>,
}

impl<'a> Lexer<'a> {
    fn new(text: &'a str) -> Lexer<'a> {
        Lexer { s: text.as_bytes(), text, i: 0, pending_heredocs: Vec::new(), expect_delimiter: None }
    }

    fn peek(&self, off: usize) -> Option<u8> {
        self.s.get(self.i + off).copied()
    }

    /// Skip to the end of a construct opened at `self.i` (after its opener), honouring
    /// quotes and nesting; returns the index just past the closer.
    fn skip_balanced(&self, mut j: usize, open: u8, close: u8) -> usize {
        let mut depth = 1;
        while j < self.s.len() {
            match self.s[j] {
                b'\\' => j += 2,
                b'\'' => {
                    j += 1;
                    while j < self.s.len() && self.s[j] != b'\'' {
                        j += 1;
                    }
                    j += 1;
                }
                b'"' => j = self.skip_double_quoted(j + 1),
                b'`' => j = self.skip_backticks(j + 1),
                b'$' if self.s.get(j + 1) == Some(&b'(') => j = self.skip_balanced(j + 2, b'(', b')'),
                b'$' if self.s.get(j + 1) == Some(&b'{') => j = self.skip_balanced(j + 2, b'{', b'}'),
                c if c == close => {
                    depth -= 1;
                    j += 1;
                    if depth == 0 {
                        return j;
                    }
                }
                c if c == open => {
                    depth += 1;
                    j += 1;
                }
                _ => j += 1,
            }
        }
        self.s.len()
    }

    fn skip_double_quoted(&self, mut j: usize) -> usize {
        while j < self.s.len() {
            match self.s[j] {
                b'\\' => j += 2,
                b'"' => return j + 1,
                b'`' => j = self.skip_backticks(j + 1),
                b'$' if self.s.get(j + 1) == Some(&b'(') => j = self.skip_balanced(j + 2, b'(', b')'),
                b'$' if self.s.get(j + 1) == Some(&b'{') => j = self.skip_balanced(j + 2, b'{', b'}'),
                _ => j += 1,
            }
        }
        self.s.len()
    }

    fn skip_backticks(&self, mut j: usize) -> usize {
        while j < self.s.len() {
            match self.s[j] {
                b'\\' => j += 2,
                b'`' => return j + 1,
                _ => j += 1,
            }
        }
        self.s.len()
    }

    fn word(&mut self) -> String {
        let start = self.i;
        while self.i < self.s.len() {
            let c = self.s[self.i];
            match c {
                b' ' | b'\t' | b'\n' | b';' | b'&' | b'|' | b'(' | b')' | b'<' | b'>' => break,
                b'\\' => self.i += 2,
                b'\'' => {
                    self.i += 1;
                    while self.i < self.s.len() && self.s[self.i] != b'\'' {
                        self.i += 1;
                    }
                    self.i += 1;
                }
                b'"' => self.i = self.skip_double_quoted(self.i + 1),
                b'`' => self.i = self.skip_backticks(self.i + 1),
                b'$' if self.peek(1) == Some(b'(') => self.i = self.skip_balanced(self.i + 2, b'(', b')'),
                b'$' if self.peek(1) == Some(b'{') => self.i = self.skip_balanced(self.i + 2, b'{', b'}'),
                _ => self.i += 1,
            }
        }
        let end = self.i.min(self.s.len());
        self.text.get(start..end).unwrap_or_default().to_owned()
    }

    fn read_heredocs(&mut self) {
        for (delimiter, strip_tabs) in std::mem::take(&mut self.pending_heredocs) {
            while self.i < self.s.len() {
                let line_end = self.text[self.i..].find('\n').map_or(self.s.len(), |k| self.i + k);
                let mut line = &self.text[self.i..line_end];
                if strip_tabs {
                    line = line.trim_start_matches('\t');
                }
                self.i = (line_end + 1).min(self.s.len());
                if line == delimiter {
                    break;
                }
            }
        }
    }

    fn next(&mut self) -> Option<Tok> {
        loop {
            let c = self.peek(0)?;
            match c {
                b' ' | b'\t' | b'\r' => self.i += 1,
                b'\\' if self.peek(1) == Some(b'\n') => self.i += 2,
                b'#' => {
                    while self.i < self.s.len() && self.s[self.i] != b'\n' {
                        self.i += 1;
                    }
                }
                b'\n' => {
                    self.i += 1;
                    self.read_heredocs();
                    return Some(Tok::Newline);
                }
                _ => break,
            }
        }
        // An IO number directly before a redirection belongs to the redirection.
        let digits = self.s[self.i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits > 0 && matches!(self.s.get(self.i + digits), Some(b'<' | b'>')) {
            self.i += digits;
        }
        for op in OPS.iter().copied().chain(std::iter::once(">")) {
            if self.s[self.i..].starts_with(op.as_bytes()) {
                self.i += op.len();
                if op == "<<" || op == "<<-" {
                    self.expect_delimiter = Some(op == "<<-");
                }
                return Some(Tok::Op(op));
            }
        }
        let w = self.word();
        if w.is_empty() {
            self.i += 1;
            return self.next();
        }
        if let Some(strip) = self.expect_delimiter.take() {
            let delimiter: String = w.chars().filter(|c| !matches!(c, '\'' | '"' | '\\')).collect();
            self.pending_heredocs.push((delimiter, strip));
        }
        Some(Tok::Word(w))
    }
}

const RESERVED_BEFORE_COMMAND: [&str; 10] = ["if", "then", "elif", "else", "do", "while", "until", "!", "{", "time"];
const RESERVED_ENDS: [&str; 4] = ["fi", "done", "}", "esac"];

fn is_assignment(w: &str) -> bool {
    let Some(eq) = w.find('=') else { return false };
    let name = w[..eq].trim_end_matches('+');
    let name = name.split('[').next().unwrap_or(name);
    !name.is_empty()
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Command substitutions inside a word, outside single quotes.
fn substitutions(word: &str, found: &mut Found, depth: usize) {
    let s = word.as_bytes();
    let mut i = 0;
    let lexer = Lexer::new(word);
    let mut in_double = false;
    while i < s.len() {
        match s[i] {
            b'\\' => i += 2,
            b'\'' if !in_double => {
                i += 1;
                while i < s.len() && s[i] != b'\'' {
                    i += 1;
                }
                i += 1;
            }
            b'"' => {
                in_double = !in_double;
                i += 1;
            }
            b'$' if s.get(i + 1) == Some(&b'(') && s.get(i + 2) != Some(&b'(') => {
                let end = lexer.skip_balanced(i + 2, b'(', b')');
                let inner = word.get(i + 2..end.saturating_sub(1)).unwrap_or_default();
                scan(inner, found, depth + 1);
                i = end;
            }
            b'$' if s.get(i + 1) == Some(&b'{') => {
                let end = lexer.skip_balanced(i + 2, b'{', b'}');
                substitutions(word.get(i + 2..end.saturating_sub(1)).unwrap_or_default(), found, depth + 1);
                i = end;
            }
            b'`' => {
                let end = lexer.skip_backticks(i + 1);
                let inner = word.get(i + 1..end.saturating_sub(1)).unwrap_or_default().replace("\\`", "`");
                scan(&inner, found, depth + 1);
                i = end;
            }
            _ => i += 1,
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// At the start of a command.
    Command,
    /// After the command name: arguments.
    Args,
    /// Reading the word list of `for NAME in …`.
    ForWords,
    /// `case WORD` then `in`.
    CaseSubject,
    /// Patterns of a case item, up to `)`.
    CasePattern,
}

fn scan(script: &str, found: &mut Found, depth: usize) {
    if depth > 64 {
        return;
    }
    let mut lexer = Lexer::new(script);
    let mut toks = Vec::new();
    while let Some(t) = lexer.next() {
        toks.push(t);
    }
    let mut mode = Mode::Command;
    // Case statements nest; each entry says whether we are in its pattern part.
    let mut cases: Vec<bool> = Vec::new();
    let mut i = 0;
    let mut simple: Vec<String> = Vec::new();
    while i < toks.len() {
        let tok = toks[i].clone();
        i += 1;
        match tok {
            Tok::Newline => {
                flush(&mut simple, found, depth);
                if mode == Mode::ForWords || mode == Mode::Args {
                    mode = Mode::Command;
                }
                if cases.last() == Some(&true) {
                    mode = Mode::CasePattern;
                }
            }
            Tok::Op(op) if is_redirect(op) => {
                // The redirection target is not a command, and (as in BitBake) command
                // substitutions inside it are not followed.
                let _ = op;
                if let Some(Tok::Word(_)) = toks.get(i) {
                    i += 1;
                }
            }
            Tok::Op(";;") | Tok::Op(";&") => {
                flush(&mut simple, found, depth);
                if let Some(last) = cases.last_mut() {
                    *last = true;
                }
                mode = Mode::CasePattern;
            }
            Tok::Op(")") if mode == Mode::CasePattern => {
                if let Some(last) = cases.last_mut() {
                    *last = false;
                }
                mode = Mode::Command;
            }
            Tok::Op("(") if mode == Mode::CasePattern => {}
            Tok::Op("|") if mode == Mode::CasePattern => {}
            Tok::Op(_) => {
                flush(&mut simple, found, depth);
                mode = if cases.last() == Some(&true) { Mode::CasePattern } else { Mode::Command };
            }
            Tok::Word(w) => match mode {
                Mode::CasePattern => {
                    if w == "esac" {
                        cases.pop();
                        mode = Mode::Args;
                    } else {
                        substitutions(&w, found, depth);
                    }
                }
                Mode::CaseSubject => {
                    if w == "in" {
                        mode = Mode::CasePattern;
                        if let Some(last) = cases.last_mut() {
                            *last = true;
                        }
                    } else {
                        substitutions(&w, found, depth);
                    }
                }
                Mode::ForWords => {
                    if w == "do" {
                        mode = Mode::Command;
                    } else {
                        substitutions(&w, found, depth);
                    }
                }
                Mode::Args => {
                    if simple.is_empty() && RESERVED_ENDS.contains(&w.as_str()) {
                        if w == "esac" {
                            cases.pop();
                        }
                        continue;
                    }
                    substitutions(&w, found, depth);
                    simple.push(w);
                }
                Mode::Command => {
                    if RESERVED_BEFORE_COMMAND.contains(&w.as_str()) {
                        continue;
                    }
                    if RESERVED_ENDS.contains(&w.as_str()) {
                        if w == "esac" {
                            cases.pop();
                        }
                        mode = Mode::Args;
                        continue;
                    }
                    if w == "case" {
                        cases.push(false);
                        mode = Mode::CaseSubject;
                        continue;
                    }
                    if w == "for" || w == "select" {
                        // NAME, then optional `in WORDS`, then `do`.
                        i += 1;
                        while matches!(toks.get(i), Some(Tok::Newline)) {
                            i += 1;
                        }
                        if matches!(toks.get(i), Some(Tok::Word(w)) if w == "in") {
                            i += 1;
                        }
                        mode = Mode::ForWords;
                        continue;
                    }
                    if w == "function"
                        && let Some(Tok::Word(name)) = toks.get(i)
                    {
                        found.funcdefs.insert(name.clone());
                        i += 1;
                        if toks.get(i) == Some(&Tok::Op("(")) && toks.get(i + 1) == Some(&Tok::Op(")")) {
                            i += 2;
                        }
                        continue;
                    }
                    if toks.get(i) == Some(&Tok::Op("(")) && toks.get(i + 1) == Some(&Tok::Op(")")) {
                        found.funcdefs.insert(w.clone());
                        i += 2;
                        continue;
                    }
                    if is_assignment(&w) {
                        substitutions(&w, found, depth);
                        continue;
                    }
                    substitutions(&w, found, depth);
                    simple.push(w);
                    mode = Mode::Args;
                }
            },
        }
    }
    flush(&mut simple, found, depth);
}

/// A finished simple command: record its name.
fn flush(words: &mut Vec<String>, found: &mut Found, depth: usize) {
    let Some(first) = words.first() else { return };
    let mut use_next = false;
    for (k, w) in words.iter().enumerate() {
        if k > 0 && !use_next {
            break;
        }
        if w.contains('=') && k == 0 {
            use_next = true;
            continue;
        }
        if w.starts_with('$') || w.starts_with("\"$") || w.starts_with('`') {
            // A command name computed at run time cannot be followed.
        } else if w == "eval" {
            let rest = words[k + 1..].join(" ");
            scan(&rest, found, depth + 1);
        } else {
            found.execs.insert(w.clone());
        }
        break;
    }
    let _ = first;
    words.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmds(s: &str) -> Vec<String> {
        executed_commands(s).into_iter().collect()
    }

    #[test]
    fn simple_commands_and_lists() {
        assert_eq!(cmds("a x y; b | c && d || e &\nf"), ["a", "b", "c", "d", "e", "f"]);
        assert_eq!(cmds("FOO=1 BAR=\"x y\" make -j4 install"), ["make"]);
        assert_eq!(cmds("X=1\n"), Vec::<String>::new());
    }

    #[test]
    fn compound_commands() {
        let s = "if test -e x; then\n  a\nelif b; then c; else d; fi\nwhile read l; do e \"$l\"; done < f\nuntil g; do h; done\n( i ) ; { j; }";
        assert_eq!(cmds(s), ["a", "b", "c", "d", "e", "g", "h", "i", "j", "read", "test"]);
    }

    #[test]
    fn for_and_case() {
        let s = "for f in $(ls) a b; do\n  rm $f\ndone\ncase \"$x\" in\n  a|b) one ;;\n  *.c) two; three ;;\n  (d) four\n  ;;\nesac\nafter";
        assert_eq!(cmds(s), ["after", "four", "ls", "one", "rm", "three", "two"]);
    }

    #[test]
    fn substitutions_and_functions() {
        let s = "helper() {\n  inner\n}\nv=$(outer1 | outer2)\necho \"`bq`\" '$(notcmd)'\nhelper\n${CC} x\n$(dyn) y";
        assert_eq!(cmds(s), ["bq", "dyn", "echo", "inner", "outer1", "outer2"]);
    }

    #[test]
    fn heredocs_and_comments() {
        let s = "cat > f <<EOF\nnot_a_command $(x)\nEOF\ncat <<-'END'\n\tstill text\n\tEND\nlast # trailing comment\n# whole line\n";
        assert_eq!(cmds(s), ["cat", "last"]);
    }

    #[test]
    fn eval_and_redirections() {
        assert_eq!(cmds("eval foo bar\n2>/dev/null baz\nqux 2>&1 >out"), ["baz", "foo", "qux"]);
    }

    #[test]
    fn never_panics_on_garbage() {
        for s in ["$(", "\"unterminated", "case", "for", "a() {", "`", "${", "x <<", "((", "'", "\\"] {
            let _ = executed_commands(s);
        }
    }
}
