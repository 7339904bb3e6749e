//! The syntax tree of one BitBake metadata file.
//!
//! A file parses into a flat list of [`Statement`]s, exactly the statements BitBake's
//! own parser produces (`DataNode`, `IncludeNode`, `MethodNode`, …), each with the line and
//! column it starts at. Evaluation (`eval.rs`) gives them meaning against a datastore.
//! The tree holds no absolute paths, so it can be cached by file content.

use serde::{Deserialize, Serialize};

/// Where a statement starts: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

/// The assignment operators of BitBake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AssignOp {
    /// `=`
    Set,
    /// `?=`: set unless already set
    Default,
    /// `??=`: weak default, applied only when nothing else sets the variable
    WeakDefault,
    /// `:=`: expand now
    Immediate,
    /// `+=`: append with a space
    Append,
    /// `=+`: prepend with a space
    Prepend,
    /// `.=`: append without a space
    AppendDot,
    /// `=.`: prepend without a space
    PrependDot,
}

impl AssignOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            AssignOp::Set => "=",
            AssignOp::Default => "?=",
            AssignOp::WeakDefault => "??=",
            AssignOp::Immediate => ":=",
            AssignOp::Append => "+=",
            AssignOp::Prepend => "=+",
            AssignOp::AppendDot => ".=",
            AssignOp::PrependDot => "=.",
        }
    }
}

/// `[export ]VAR[flag] op "value"`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub export: bool,
    /// The variable name as written, with any `:override` / `:append` suffixes.
    pub var: String,
    pub flag: Option<String>,
    pub op: AssignOp,
    /// The text between the quotes, unexpanded.
    pub value: String,
}

/// A shell or Python function written with braces: `name() {…}`, `python name() {…}`,
/// `fakeroot name() {…}`, or an anonymous `python () {…}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Function {
    /// `None` for anonymous Python functions.
    pub name: Option<String>,
    pub python: bool,
    pub fakeroot: bool,
    /// Body lines, without the closing brace.
    pub body: Vec<String>,
    /// Line of the closing `}`.
    pub end_line: u32,
}

/// A top-level `def name(…):` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PythonDef {
    pub name: String,
    /// Every line of the block, the `def` line included.
    pub body: Vec<String>,
    /// The line at which BitBake considers the block ended (the first line after it).
    pub end_line: u32,
}

/// One statement of a metadata file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stmt {
    Assign(Assignment),
    /// `include FILES` (`required: false`) or `require FILES` (`required: true`)
    Include {
        files: String,
        required: bool,
    },
    /// `include_all FILE`: include FILE from every BBPATH entry that has it
    IncludeAll {
        file: String,
    },
    /// `export VAR`
    Export {
        var: String,
    },
    /// `unset VAR`
    Unset {
        var: String,
    },
    /// `unset VAR[flag]`
    UnsetFlag {
        var: String,
        flag: String,
    },
    /// `addpylib DIR NAMESPACE` (configuration files only)
    AddPylib {
        dir: String,
        namespace: String,
    },
    /// `addfragments PREFIX VAR FLAGGED_VARS BUILTIN_VAR`
    AddFragments {
        prefix: String,
        var: String,
        flagged_vars: String,
        /// The built-in fragments variable (BitBake 2.16 on; 2.12 takes three arguments).
        builtin_var: Option<String>,
    },
    /// `inherit CLASSES`
    Inherit {
        classes: String,
    },
    /// `inherit_defer CLASSES`
    InheritDefer {
        classes: String,
    },
    Function(Function),
    PythonDef(PythonDef),
    /// `EXPORT_FUNCTIONS NAMES`
    ExportFunctions {
        names: String,
    },
    /// `addtask TASKS [after …] [before …]`, split the way BitBake splits it.
    AddTask {
        tasks: String,
        before: String,
        after: String,
    },
    /// `deltask TASKS`
    DelTask {
        tasks: String,
    },
    /// `addhandler NAMES`
    AddHandler {
        names: String,
    },
}

/// A statement and where it starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    pub pos: Pos,
    pub stmt: Stmt,
}

/// Which of BitBake's two line grammars a file uses: `.conf` files, or
/// `.bb`/`.bbappend`/`.bbclass`/`.inc` files (which add functions, inherit, addtask…).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileKind {
    Conf,
    Recipe,
}

impl FileKind {
    /// BitBake picks the grammar by file extension; `None` means "not a BitBake file".
    ///
    /// As BitBake's handlers decide: by extension for recipes and classes, and for
    /// configuration by the name's last five characters, so `conf/multiconfig/.conf`
    /// (an include of `${BB_CURRENT_MC}.conf` with no multiconfig) is a configuration
    /// file that is not found, not a file of no known kind.
    pub fn for_path(path: &std::path::Path) -> Option<FileKind> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("bb" | "bbappend" | "bbclass" | "inc") => Some(FileKind::Recipe),
            _ if path.as_os_str().as_encoded_bytes().ends_with(b".conf") => Some(FileKind::Conf),
            _ => None,
        }
    }
}

/// A parsed file: its statements in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct File {
    pub kind: FileKind,
    pub statements: Vec<Statement>,
}
