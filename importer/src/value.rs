//! Values held in the datastore.
//!
//! BitBake variables are mostly strings, but metadata and BitBake itself also store
//! integers (`func = 1`), booleans, lists (`__BBTASKS`, task `deps`), the internal
//! `[value, override]` lists behind `:append`/`:prepend`/`:remove`, and arbitrary Python
//! objects set from Python code. Strings are reference counted so that copying a value
//! out of the store (BitBake returns shallow copies) is cheap.

use std::fmt;
use std::rc::Rc;

use pyo3::{Py, PyAny};

/// A shared string.
pub type Str = Rc<str>;

/// One entry of an `:append` / `:prepend` / `:remove` list: the value and the override
/// condition (`FOO:append:arm = …` gives `("…", Some("arm"))`).
#[derive(Debug, Clone)]
pub struct Conditional {
    pub value: Value,
    pub overrides: Option<Str>,
}

/// A datastore value.
#[derive(Clone)]
pub enum Value {
    Str(Str),
    Int(i64),
    Bool(bool),
    /// Python `None` stored explicitly.
    None,
    List(Rc<Vec<Value>>),
    Tuple(Rc<Vec<Value>>),
    /// `:append`, `:prepend` and `:remove` operations waiting to be applied.
    Conditionals(Rc<Vec<Conditional>>),
    /// Any other Python object.
    Py(Rc<Py<PyAny>>),
}

impl Value {
    pub fn str(s: impl Into<Str>) -> Value {
        Value::Str(s.into())
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Python truthiness, for the cases BitBake tests (`if value:`).
    pub fn truthy(&self) -> bool {
        match self {
            Value::Str(s) => !s.is_empty(),
            Value::Int(i) => *i != 0,
            Value::Bool(b) => *b,
            Value::None => false,
            Value::List(l) | Value::Tuple(l) => !l.is_empty(),
            Value::Conditionals(l) => !l.is_empty(),
            Value::Py(_) => true,
        }
    }

    /// The list items when this is a list of values.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) | Value::Tuple(l) => Some(l),
            _ => None,
        }
    }

    /// A list of strings (non-string items are rendered like Python's `str()`).
    pub fn string_list(&self) -> Vec<String> {
        match self {
            Value::List(l) | Value::Tuple(l) => l.iter().map(|v| v.to_string()).collect(),
            Value::Str(s) => s.split_whitespace().map(str::to_owned).collect(),
            _ => Vec::new(),
        }
    }

    pub fn list_of_strs<I: IntoIterator<Item = S>, S: Into<Str>>(items: I) -> Value {
        Value::List(Rc::new(items.into_iter().map(|s| Value::Str(s.into())).collect()))
    }
}

impl fmt::Display for Value {
    /// Like Python's `str()` for the plain types.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => f.write_str(s),
            Value::Int(i) => write!(f, "{i}"),
            Value::Bool(true) => f.write_str("True"),
            Value::Bool(false) => f.write_str("False"),
            Value::None => f.write_str("None"),
            Value::List(l) | Value::Tuple(l) => {
                let open = if matches!(self, Value::List(_)) { '[' } else { '(' };
                write!(f, "{open}")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    match v {
                        Value::Str(s) => write!(f, "'{s}'")?,
                        other => write!(f, "{other}")?,
                    }
                }
                if matches!(self, Value::Tuple(_)) && l.len() == 1 {
                    f.write_str(",")?;
                }
                write!(f, "{}", if open == '[' { ']' } else { ')' })
            }
            Value::Conditionals(l) => {
                f.write_str("[")?;
                for (i, c) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    match &c.overrides {
                        Some(o) => write!(f, "['{}', '{o}']", c.value)?,
                        None => write!(f, "['{}', None]", c.value)?,
                    }
                }
                f.write_str("]")
            }
            Value::Py(obj) => pyo3::Python::attach(|py| write!(f, "{}", obj.bind(py))),
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => write!(f, "{s:?}"),
            other => write!(f, "{other}"),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.into())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(s.into())
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Bool(b)) | (Value::Bool(b), Value::Int(a)) => *a == i64::from(*b),
            (Value::None, Value::None) => true,
            (Value::List(a), Value::List(b)) | (Value::Tuple(a), Value::Tuple(b)) => a == b,
            (Value::Py(a), Value::Py(b)) => Rc::ptr_eq(a, b),
            _ => false,
        }
    }
}
