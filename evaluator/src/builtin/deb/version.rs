//! Debian package versions (`[epoch:]upstream[-revision]`): checked and compared
//! exactly as dpkg does, so that dependency constraints mean what they mean to dpkg.

use std::cmp::Ordering;

/// A parsed version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version<'a> {
    pub epoch: u32,
    pub upstream: &'a str,
    /// Empty when the version has no `-`.
    pub revision: &'a str,
}

impl<'a> Version<'a> {
    /// Parse and check a version; the error says what is wrong with it.
    pub fn parse(text: &'a str) -> Result<Version<'a>, &'static str> {
        if text.is_empty() {
            return Err("is empty");
        }
        if text.contains(char::is_whitespace) {
            return Err("contains white space");
        }
        let (epoch, rest) = match text.split_once(':') {
            Some((e, rest)) => {
                if e.is_empty() || !e.bytes().all(|b| b.is_ascii_digit()) {
                    return Err("has an epoch that is not a number");
                }
                (e.parse::<u32>().map_err(|_| "has an epoch that is too large")?, rest)
            }
            None => (0, text),
        };
        if rest.is_empty() {
            return Err("has nothing after the epoch");
        }
        let (upstream, revision) = match rest.rsplit_once('-') {
            Some((u, r)) => {
                if r.is_empty() {
                    return Err("has an empty revision");
                }
                (u, r)
            }
            None => (rest, ""),
        };
        if !upstream.starts_with(|c: char| c.is_ascii_digit()) {
            return Err("does not start with a digit");
        }
        if !upstream.bytes().all(|b| b.is_ascii_alphanumeric() || b".-+~:".contains(&b)) {
            return Err("has a character other than letters, digits and . + - ~ : in its upstream part");
        }
        if !revision.bytes().all(|b| b.is_ascii_alphanumeric() || b".+~".contains(&b)) {
            return Err("has a character other than letters, digits and . + ~ in its revision");
        }
        Ok(Version { epoch, upstream, revision })
    }

    /// dpkg's ordering of versions.
    pub fn compare(&self, other: &Version<'_>) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| compare_part(self.upstream, other.upstream))
            .then_with(|| compare_part(self.revision, other.revision))
    }
}

/// The weight of a non-digit character: `~` before everything (even the end),
/// letters before other characters.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`: alternate runs of non-digits (compared by [`order`]) and runs
/// of digits (compared as numbers).
fn compare_part(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let digit = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !digit(a, i)) || (j < b.len() && !digit(b, j)) {
            let (ac, bc) = (order(a.get(i).copied()), order(b.get(j).copied()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while digit(a, i) && digit(b, j) {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if digit(a, i) {
            return Ordering::Greater;
        }
        if digit(b, j) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

/// A relation of a `Depends` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    Less,
    LessEqual,
    Equal,
    GreaterEqual,
    Greater,
}

impl Relation {
    /// The Debian operators `<<`, `<=`, `=`, `>=`, `>>` (and the obsolete `<`, `>`,
    /// which dpkg reads as `<=`, `>=`).
    pub fn parse(op: &str) -> Option<Relation> {
        Some(match op {
            "<<" => Relation::Less,
            "<=" | "<" => Relation::LessEqual,
            "=" => Relation::Equal,
            ">=" | ">" => Relation::GreaterEqual,
            ">>" => Relation::Greater,
            _ => return None,
        })
    }

    /// Whether `version` satisfies `self wanted`.
    pub fn holds(self, version: &Version<'_>, wanted: &Version<'_>) -> bool {
        let c = version.compare(wanted);
        match self {
            Relation::Less => c == Ordering::Less,
            Relation::LessEqual => c != Ordering::Greater,
            Relation::Equal => c == Ordering::Equal,
            Relation::GreaterEqual => c != Ordering::Less,
            Relation::Greater => c == Ordering::Greater,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        Version::parse(a).unwrap().compare(&Version::parse(b).unwrap())
    }

    #[test]
    fn orders_like_dpkg() {
        let ascending = [
            "1.0~rc1-r0",
            "1.0-r0",
            "1.0-r1",
            "1.0-r10",
            "1.0a-r0",
            "1.0+b1-r0",
            "1.0.1-r0",
            "1.2-r0",
            "1.10-r0",
            "1:0.1-r0",
        ];
        for pair in ascending.windows(2) {
            assert_eq!(cmp(pair[0], pair[1]), Ordering::Less, "{} < {}", pair[0], pair[1]);
            assert_eq!(cmp(pair[1], pair[0]), Ordering::Greater, "{} > {}", pair[1], pair[0]);
        }
        assert_eq!(cmp("1.01", "1.1"), Ordering::Equal);
        assert_eq!(cmp("0:1.0", "1.0"), Ordering::Equal);
        assert_eq!(cmp("1.0", "1.0-0"), Ordering::Equal);
    }

    #[test]
    fn rejects_what_dpkg_rejects() {
        for bad in ["", "r0", "1.0-", "a:1.0", "1:", "1.0 1", "1_0", "1.0-r_0"] {
            assert!(Version::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Version::parse("2:1.0-1-r0").unwrap(), Version { epoch: 2, upstream: "1.0-1", revision: "r0" });
    }

    #[test]
    fn relations() {
        let v = Version::parse("5.8.1-r0").unwrap();
        let w = Version::parse("5.8.1-r0").unwrap();
        assert!(Relation::parse("=").unwrap().holds(&v, &w));
        assert!(!Relation::parse("<<").unwrap().holds(&v, &w));
        assert!(Relation::parse(">=").unwrap().holds(&v, &Version::parse("5.8").unwrap()));
        assert!(Relation::parse("bad").is_none());
    }
}
