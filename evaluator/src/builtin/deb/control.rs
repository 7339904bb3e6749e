//! Debian control paragraphs: writing a binary package's `control` file from a
//! [`DebControl`], checking its values the way `dpkg-deb --build` would, and reading
//! paragraphs back (from a package or a status file).

use serde::{Deserialize, Serialize};

use super::version::Version;

/// The fields of a binary package's `control` file, in the order they are written.
/// Empty optional fields are left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DebControl {
    pub package: String,
    /// `[epoch:]upstream[-revision]`.
    pub version: String,
    pub architecture: String,
    pub maintainer: String,
    /// A complete `Depends` value (`a (>= 1.0), b`), or empty.
    pub depends: String,
    pub section: String,
    pub priority: String,
    pub homepage: String,
    pub source: String,
    /// The first line of `Description`.
    pub summary: String,
    /// The extended description, one entry per line without the leading space; an
    /// empty entry separates paragraphs (written ` .`).
    pub description: Vec<String>,
}

/// A value that cannot go into a control file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("package {package}: field {field} {problem}: {value:?}")]
pub struct ControlError {
    pub package: String,
    pub field: &'static str,
    pub value: String,
    pub problem: &'static str,
}

impl DebControl {
    /// Check every value the way dpkg does: a valid package name, version and
    /// architecture, and no line breaks in one-line fields.
    pub fn check(&self) -> Result<(), ControlError> {
        let err = |field: &'static str, value: &str, problem: &'static str| ControlError {
            package: self.package.clone(),
            field,
            value: value.to_owned(),
            problem,
        };
        if !valid_package_name(&self.package) {
            return Err(err(
                "Package",
                &self.package,
                "is not a Debian package name (lower-case letters, digits, + - . ; at least two characters, starting with a letter or digit)",
            ));
        }
        if let Err(problem) = Version::parse(&self.version) {
            return Err(err("Version", &self.version, problem));
        }
        if self.architecture.is_empty()
            || !self.architecture.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(err("Architecture", &self.architecture, "is not an architecture name"));
        }
        for (field, value) in self.one_line_fields() {
            if value.contains(['\n', '\r']) {
                return Err(err(field, value, "spans several lines"));
            }
        }
        for line in &self.description {
            if line.contains(['\n', '\r']) {
                return Err(err("Description", line, "has a line with a line break in it"));
            }
        }
        Ok(())
    }

    fn one_line_fields(&self) -> [(&'static str, &str); 9] {
        [
            ("Maintainer", &self.maintainer),
            ("Depends", &self.depends),
            ("Section", &self.section),
            ("Priority", &self.priority),
            ("Homepage", &self.homepage),
            ("Source", &self.source),
            ("Description", &self.summary),
            ("Version", &self.version),
            ("Architecture", &self.architecture),
        ]
    }

    /// The `control` file, with `installed_size` (KiB) as `Installed-Size`.
    pub fn render(&self, installed_size: u64) -> String {
        let size = installed_size.to_string();
        let fields: [(&str, &str); 10] = [
            ("Package", &self.package),
            ("Version", &self.version),
            ("Architecture", &self.architecture),
            ("Maintainer", &self.maintainer),
            ("Installed-Size", &size),
            ("Depends", &self.depends),
            ("Section", &self.section),
            ("Priority", &self.priority),
            ("Homepage", &self.homepage),
            ("Source", &self.source),
        ];
        let mut out = String::new();
        for (name, value) in fields {
            if !value.is_empty() {
                out.push_str(&format!("{name}: {value}\n"));
            }
        }
        out.push_str(&format!("Description: {}\n", self.summary));
        for line in &self.description {
            if line.is_empty() {
                out.push_str(" .\n");
            } else {
                out.push_str(&format!(" {line}\n"));
            }
        }
        out
    }
}

/// Debian policy 5.6.1: lower-case letters, digits, `+`, `-`, `.`; at least two
/// characters; starting with a letter or digit.
pub fn valid_package_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes.len() >= 2
        && bytes[0].is_ascii_alphanumeric()
        && bytes.iter().all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.'))
}

/// A control paragraph that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line} {problem}: {text:?}")]
pub struct ParagraphError {
    /// 1-based.
    pub line: usize,
    pub problem: &'static str,
    pub text: String,
}

impl ParagraphError {
    fn new(index: usize, problem: &'static str, text: &str) -> ParagraphError {
        ParagraphError { line: index + 1, problem, text: text.to_owned() }
    }
}

/// One control paragraph as read: fields in file order, continuation lines joined
/// with `\n` (each keeping its leading space).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paragraph {
    pub fields: Vec<(String, String)>,
}

impl Paragraph {
    /// Parse one paragraph (the text of a `control` file).
    pub fn parse(text: &str) -> Result<Paragraph, ParagraphError> {
        let mut fields: Vec<(String, String)> = Vec::new();
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                if fields.is_empty() {
                    continue;
                }
                break;
            }
            if line.starts_with([' ', '\t']) {
                match fields.last_mut() {
                    Some((_, value)) => {
                        value.push('\n');
                        value.push_str(line);
                    }
                    None => return Err(ParagraphError::new(index, "is a continuation line before any field", line)),
                }
                continue;
            }
            let Some((name, value)) = line.split_once(':') else {
                return Err(ParagraphError::new(index, "is not a `Field: value` line", line));
            };
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(ParagraphError::new(index, "does not start with a field name", line));
            }
            if fields.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
                return Err(ParagraphError::new(index, "repeats a field", line));
            }
            fields.push((name.to_owned(), value.trim().to_owned()));
        }
        Ok(Paragraph { fields })
    }

    /// A field's value (field names are case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The paragraph as text, each field on its line(s), ending with a newline.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, value) in &self.fields {
            out.push_str(name);
            out.push(':');
            if !value.starts_with('\n') {
                out.push(' ');
            }
            out.push_str(value);
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control() -> DebControl {
        DebControl {
            package: "xz-dev".into(),
            version: "5.8.1-r0".into(),
            architecture: "amd64".into(),
            maintainer: "rstore distribution <distro@rstore.invalid>".into(),
            depends: "liblzma (= 5.8.1-r0)".into(),
            section: "console/utils".into(),
            priority: "optional".into(),
            homepage: String::new(),
            source: "xz".into(),
            summary: "XZ Utils".into(),
            description: vec!["First paragraph.".into(), String::new(), "Second.".into()],
        }
    }

    #[test]
    fn renders_fields_in_order_and_skips_empty_ones() {
        assert_eq!(
            control().render(235),
            "Package: xz-dev\nVersion: 5.8.1-r0\nArchitecture: amd64\n\
             Maintainer: rstore distribution <distro@rstore.invalid>\nInstalled-Size: 235\n\
             Depends: liblzma (= 5.8.1-r0)\nSection: console/utils\nPriority: optional\nSource: xz\n\
             Description: XZ Utils\n First paragraph.\n .\n Second.\n"
        );
    }

    #[test]
    fn parse_reads_back_what_render_writes() {
        let text = control().render(1);
        let p = Paragraph::parse(&text).unwrap();
        assert_eq!(p.get("package"), Some("xz-dev"));
        assert_eq!(p.get("Installed-Size"), Some("1"));
        assert_eq!(p.get("Description"), Some("XZ Utils\n First paragraph.\n .\n Second."));
        assert_eq!(p.render(), text);
    }

    #[test]
    fn check_rejects_what_dpkg_rejects() {
        assert!(control().check().is_ok());
        let bad = |f: fn(&mut DebControl)| {
            let mut c = control();
            f(&mut c);
            c.check().unwrap_err().field
        };
        assert_eq!(bad(|c| c.package = "Upper".into()), "Package");
        assert_eq!(bad(|c| c.package = "a".into()), "Package");
        assert_eq!(bad(|c| c.version = "r0".into()), "Version");
        assert_eq!(bad(|c| c.architecture = "x86_64".into()), "Architecture");
        assert_eq!(bad(|c| c.maintainer = "a\nb".into()), "Maintainer");
        assert!(Paragraph::parse("A: 1\nA: 2\n").is_err());
        assert!(Paragraph::parse(" x\n").is_err());
    }
}
