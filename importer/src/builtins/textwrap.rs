//! Python's `textwrap.wrap(text, width)` with its default options, which
//! package_deb.bbclass uses to lay out a package's extended description: white space
//! becomes single spaces, lines break between words or after a hyphen inside a
//! word (`"GPL-2.0-or-"` / `"later"`), words longer than a line are cut, and spaces
//! at the ends of lines are dropped.

use std::sync::LazyLock;

use fancy_regex::Regex;

/// Python's `TextWrapper.wordsep_re`: runs of white space, em-dashes between words,
/// and words, which may end after a hyphen between letters.
static WORDSEP: LazyLock<Regex> = LazyLock::new(|| {
    let ws = r"[\t\n\x0b\x0c\r ]";
    let nws = r"[^\t\n\x0b\x0c\r ]";
    let wp = r#"[\w!"'&.,?]"#;
    let lt = r"[^\d\W]";
    let pattern = format!(
        "({ws}+|(?<={wp})-{{2,}}(?=\\w)|{nws}+?(?:-(?:(?<={lt}{{2}}-)|(?<={lt}-{lt}-))(?={lt}-?{lt})|(?={ws}|\\z)|(?<={wp})(?=-{{2,}}\\w)))"
    );
    Regex::new(&pattern).expect("the word separator pattern is valid")
});

/// Python's whitespace for `replace_whitespace`.
fn is_py_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0b' | '\x0c' | '\r' | ' ')
}

/// `textwrap.wrap(text, width)`.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let munged: String = expand_tabs(text).chars().map(|c| if is_py_whitespace(c) { ' ' } else { c }).collect();
    let mut chunks: Vec<String> = split(&munged).into_iter().filter(|c| !c.is_empty()).collect();
    chunks.reverse();
    wrap_chunks(chunks, width.max(1))
}

/// `str.expandtabs(8)`.
fn expand_tabs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut column = 0usize;
    for c in text.chars() {
        match c {
            '\t' => {
                let spaces = 8 - column % 8;
                out.extend(std::iter::repeat_n(' ', spaces));
                column += spaces;
            }
            '\n' | '\r' => {
                out.push(c);
                column = 0;
            }
            _ => {
                out.push(c);
                column += 1;
            }
        }
    }
    out
}

/// `re.split(wordsep_re, text)`: the text between matches and each match.
fn split(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut last = 0;
    let mut at = 0;
    while at <= text.len() {
        let Ok(Some(m)) = WORDSEP.find_from_pos(text, at) else { break };
        out.push(text[last..m.start()].to_owned());
        out.push(m.as_str().to_owned());
        last = m.end();
        at = if m.end() > m.start() { m.end() } else { m.end() + 1 };
    }
    out.push(text[last..].to_owned());
    out
}

fn char_len(s: &str) -> usize {
    s.chars().count()
}

fn is_blank(s: &str) -> bool {
    s.trim().is_empty()
}

/// `TextWrapper._wrap_chunks` with no indents; `chunks` is reversed (next chunk last).
fn wrap_chunks(mut chunks: Vec<String>, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    while !chunks.is_empty() {
        let mut line: Vec<String> = Vec::new();
        let mut len = 0usize;
        if !lines.is_empty() && chunks.last().is_some_and(|c| is_blank(c)) {
            chunks.pop();
        }
        while let Some(next) = chunks.last() {
            let l = char_len(next);
            if len + l <= width {
                len += l;
                line.push(chunks.pop().expect("checked"));
            } else {
                break;
            }
        }
        if chunks.last().is_some_and(|c| char_len(c) > width) {
            handle_long_word(&mut chunks, &mut line, len, width);
        }
        if line.last().is_some_and(|c| is_blank(c)) {
            line.pop();
        }
        if !line.is_empty() {
            lines.push(line.concat());
        }
    }
    lines
}

/// `TextWrapper._handle_long_word`: cut the next chunk to fit, after its last hyphen
/// when it has one (preceded by something other than hyphens).
fn handle_long_word(chunks: &mut [String], line: &mut Vec<String>, len: usize, width: usize) {
    let space_left = if width < 1 { 1 } else { width.saturating_sub(len) };
    let chunk: Vec<char> = chunks.last().expect("a chunk").chars().collect();
    let mut end = space_left;
    if chunk.len() > space_left {
        let hyphen = chunk[..space_left.min(chunk.len())].iter().rposition(|&c| c == '-');
        if let Some(h) = hyphen
            && h > 0
            && chunk[..h].iter().any(|&c| c != '-')
        {
            end = h + 1;
        }
    }
    let end = end.min(chunk.len());
    line.push(chunk[..end].iter().collect());
    let rest: String = chunk[end..].iter().collect();
    *chunks.last_mut().expect("a chunk") = rest;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Python's own results for the same calls (`textwrap.wrap(text, width)`).
    fn python_wrap(cases: &[(&str, usize)]) -> Option<Vec<Vec<String>>> {
        let input = serde_json::to_string(cases).ok()?;
        let script =
            "import json,sys,textwrap\nprint(json.dumps([textwrap.wrap(t, w) for t, w in json.load(sys.stdin)]))";
        let mut child = std::process::Command::new("python3")
            .args(["-c", script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .ok()?;
        use std::io::Write;
        child.stdin.take()?.write_all(input.as_bytes()).ok()?;
        let out = child.wait_with_output().ok()?;
        serde_json::from_slice(&out.stdout).ok()
    }

    #[test]
    fn wraps_exactly_like_python() {
        let cases: Vec<(&str, usize)> = vec![
            (
                "XZ Utils compress and decompress the .xz and legacy .lzma formats with the LZMA2 algorithm; liblzma is the library behind them.",
                78,
            ),
            (
                "BusyBox combines tiny versions of many common UNIX utilities into a single small executable: a shell, core file and text tools, archivers, init and basic networking.",
                78,
            ),
            (
                "liblzma and the programs are 0BSD AND GPL-2.0-or-later AND LGPL-2.1-or-later licensed, see the copyright file",
                40,
            ),
            ("a very-long-hyphenated-compound-word-that-goes-on-and-on-past-the-width of the line", 20),
            ("averyveryveryverylongwordwithoutanybreakopportunityatall and more", 16),
            ("an em--dash between words -- and spaced ones --- too", 12),
            ("tabs\tand\nnewlines\r\nand  double  spaces", 10),
            ("   leading and trailing   ", 8),
            ("", 78),
            ("x-y ab-cd-ef 1-2-3 --flag ---", 4),
            ("Zlib: (RFC 1950, 1951 and 1952). Version 1.3.1-r0; see https://zlib.net/fossils/zlib-1.3.1.tar.gz", 30),
            ("ünïcödé wörds wïth-hyphens ärë cöüntëd ïn chäräctërs", 14),
        ];
        let ours: Vec<Vec<String>> = cases.iter().map(|(t, w)| wrap(t, *w)).collect();
        let python =
            python_wrap(&cases).expect("python3 runs (it is needed by the importer's embedded interpreter too)");
        for ((case, got), want) in cases.iter().zip(&ours).zip(&python) {
            assert_eq!(got, want, "textwrap.wrap({:?}, {})", case.0, case.1);
        }
    }
}
