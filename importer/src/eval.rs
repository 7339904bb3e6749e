//! Evaluating statements against a datastore: what BitBake's AST nodes do, plus the
//! file handling around them (include, require, inherit, BBPATH search).
//!
//! The [`Evaluator`] owns the parsed-file cache and records every file a parse read or
//! looked for, so the parse cache can tell when a result is stale.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::assign;
use crate::ast::{self, FileKind, Pos, Stmt};
use crate::datastore::{DataError, DataStore, Origin, Read};
use crate::parser;
use crate::python::{Host, LogLevel, PyRuntime};
use crate::tasks;
use crate::value::{Str, Value};

/// An error while evaluating metadata, located at the statement that caused it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EvalError {
    #[error("{}", render_at(file, *line, *col, message, text.as_deref()))]
    At { file: String, line: u32, col: u32, message: String, text: Option<String> },
    /// An error already located (by a Python traceback) or without a location.
    #[error("{0}")]
    Other(String),
    /// The recipe raised SkipRecipe.
    #[error("skipped: {0}")]
    Skip(String),
}

fn render_at(file: &str, line: u32, col: u32, message: &str, text: Option<&str>) -> String {
    match text {
        Some(t) if !t.is_empty() => format!("{file}:{line}:{col}: {message}\n    {t}"),
        _ => format!("{file}:{line}:{col}: {message}"),
    }
}

impl EvalError {
    pub fn at(file: &Path, pos: Pos, message: impl Into<String>) -> EvalError {
        EvalError::At {
            file: file.display().to_string(),
            line: pos.line,
            col: pos.col,
            message: message.into(),
            text: None,
        }
    }

    fn from_data(file: &Path, pos: Pos, e: DataError) -> EvalError {
        match e {
            DataError::SkipRecipe(reason) => EvalError::Skip(reason),
            // Python errors name the metadata line that raised them.
            DataError::Python { message, .. } if message.starts_with(&format!("{}:", file.display())) => {
                EvalError::Other(message)
            }
            DataError::Python { message, .. } if message.contains(".bb") || message.contains(".conf") => {
                EvalError::At { file: file.display().to_string(), line: pos.line, col: pos.col, message, text: None }
            }
            other => EvalError::at(file, pos, other.to_string()),
        }
    }

    /// An error from code not tied to one statement (finalising a recipe).
    pub fn from_data_unlocated(file: &Path, e: DataError) -> EvalError {
        match e {
            DataError::SkipRecipe(reason) => EvalError::Skip(reason),
            other => EvalError::Other(format!("{}: {other}", file.display())),
        }
    }
}

/// A message logged while parsing (by metadata Python or the evaluator).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Message {
    pub level: LogLevel,
    pub text: String,
}

/// A file the parse depended on: read, or looked for and not found.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Dependency {
    pub path: PathBuf,
    pub exists: bool,
}

/// Parses and caches metadata files; evaluates statements; receives Python callbacks.
pub struct Evaluator {
    pub runtime: Rc<PyRuntime>,
    files: RefCell<HashMap<PathBuf, Rc<ast::File>>>,
    deps: RefCell<BTreeMap<PathBuf, bool>>,
    messages: RefCell<Vec<Message>>,
    module_funcs: RefCell<Option<Rc<HashMap<String, crate::vardeps::ModuleFunc>>>>,
    /// Files being evaluated by `handle_include`, outermost first (include cycles).
    including: RefCell<Vec<PathBuf>>,
}

/// `bb.utils.which`: the first `dir/item` that exists among the colon-separated dirs.
pub fn which(path: &str, item: &str, attempts: &mut Vec<PathBuf>) -> Option<PathBuf> {
    for dir in path.split(':') {
        let candidate = Path::new(dir).join(item);
        attempts.push(candidate.clone());
        if candidate.exists() {
            return Some(absolute(&candidate));
        }
    }
    None
}

/// `os.path.abspath`: absolute and normalised, without resolving symlinks.
pub fn absolute(p: &Path) -> PathBuf {
    let joined = if p.is_absolute() { p.to_path_buf() } else { std::env::current_dir().unwrap_or_default().join(p) };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn str_of(v: Option<Value>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

impl Evaluator {
    pub fn new(runtime: Rc<PyRuntime>) -> Rc<Evaluator> {
        Rc::new(Evaluator {
            runtime,
            files: RefCell::default(),
            deps: RefCell::default(),
            messages: RefCell::default(),
            module_funcs: RefCell::default(),
            including: RefCell::default(),
        })
    }

    /// Read `d` (and the copies made of it afterwards) with the rules of this BitBake
    /// release; the embedded `bb` reports it as `bb.__version__`.
    pub fn use_bitbake(
        &self,
        d: &Rc<DataStore>,
        version: crate::bitbake_version::BitBakeVersion,
    ) -> Result<(), DataError> {
        d.set_bitbake(version);
        self.runtime.set_bb_version(&version.to_string())
    }

    /// Forget recorded dependencies and messages (start of a new recipe).
    pub fn take_record(&self) -> (Vec<Dependency>, Vec<Message>) {
        let deps = std::mem::take(&mut *self.deps.borrow_mut())
            .into_iter()
            .map(|(path, exists)| Dependency { path, exists })
            .collect();
        let msgs = std::mem::take(&mut *self.messages.borrow_mut());
        (deps, msgs)
    }

    /// What each layer-library function reads (read from Python once).
    pub fn module_funcs(&self) -> Result<Rc<HashMap<String, crate::vardeps::ModuleFunc>>, DataError> {
        if let Some(m) = self.module_funcs.borrow().as_ref() {
            return Ok(m.clone());
        }
        let m = Rc::new(self.runtime.module_funcs()?);
        *self.module_funcs.borrow_mut() = Some(m.clone());
        Ok(m)
    }

    pub fn note_dependency(&self, path: &Path, exists: bool) {
        self.deps.borrow_mut().entry(path.to_path_buf()).or_insert(exists);
    }

    pub fn message(&self, level: LogLevel, text: String) {
        match level {
            LogLevel::Debug => tracing::debug!("{text}"),
            LogLevel::Note => tracing::debug!("{text}"),
            _ => {}
        }
        if level >= LogLevel::Note {
            self.messages.borrow_mut().push(Message { level, text });
        }
    }

    /// Parse a file (cached for the life of the evaluator).
    pub fn parse_file(&self, path: &Path) -> Result<Rc<ast::File>, EvalError> {
        if let Some(f) = self.files.borrow().get(path) {
            return Ok(f.clone());
        }
        let kind = match FileKind::for_path(path) {
            Some(k) => k,
            None if path.extension().is_some_and(|e| e == "bbappend") => FileKind::Recipe,
            None => {
                return Err(EvalError::Other(format!(
                    "{}: not a BitBake file (expected .conf, .bb, .bbappend, .bbclass or .inc)",
                    path.display()
                )));
            }
        };
        let bytes = std::fs::read(path).map_err(|e| EvalError::Other(format!("{}: {e}", path.display())))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            EvalError::Other(format!("{}: not valid UTF-8 (byte {})", path.display(), e.utf8_error().valid_up_to()))
        })?;
        let file = parser::parse(&text, kind).map_err(|e| EvalError::At {
            file: path.display().to_string(),
            line: e.line,
            col: e.col,
            message: e.message,
            text: Some(e.text),
        })?;
        let file = Rc::new(file);
        self.files.borrow_mut().insert(path.to_path_buf(), file.clone());
        Ok(file)
    }

    /// BitBake's `resolve_file`: find a relative file through BBPATH.
    fn resolve_file(&self, d: &Rc<DataStore>, file: &str) -> Result<Option<PathBuf>, DataError> {
        let path = Path::new(file);
        if path.is_absolute() {
            let ok = path.is_file();
            self.note_dependency(path, ok);
            return Ok(ok.then(|| path.to_path_buf()));
        }
        let bbpath = str_of(d.get_var("BBPATH", true)?);
        let mut attempts = Vec::new();
        let found = which(&bbpath, file, &mut attempts);
        for a in &attempts {
            self.note_dependency(a, Some(a) == found.as_ref());
        }
        Ok(found.filter(|p| p.is_file()))
    }

    /// `bb.parse.handle(fn, d, include)` for a file that is not a top-level recipe.
    pub fn handle_include(&self, d: &Rc<DataStore>, path: &Path, baseconfig: bool) -> Result<(), EvalError> {
        let here = Pos { line: 0, col: 0 };
        let kind = FileKind::for_path(path);
        let is_class = path.extension().is_some_and(|e| e == "bbclass");
        if is_class {
            let mut cache = inherit_cache(d).map_err(|e| EvalError::from_data(path, here, e))?;
            let p = path.display().to_string();
            if !cache.contains(&p) {
                cache.push(p);
                set_inherit_cache(d, cache).map_err(|e| EvalError::from_data(path, here, e))?;
            }
        }
        let oldfile = d.get_var("FILE", false).map_err(|e| EvalError::from_data(path, here, e))?;
        let file = self.parse_file(path)?;
        let abs = path.display().to_string();
        let set_file = !is_class && oldfile.as_ref().and_then(Value::as_str) != Some(abs.as_str());
        if set_file || kind == Some(FileKind::Conf) {
            d.set_var("FILE", Value::str(abs.as_str()), false, None, "set")
                .map_err(|e| EvalError::from_data(path, here, e))?;
        }
        self.including.borrow_mut().push(path.to_path_buf());
        let result = self.eval_statements(d, path, &file, baseconfig);
        self.including.borrow_mut().pop();
        match result {
            Ok(()) => {}
            Err(EvalError::Skip(reason)) if kind != Some(FileKind::Conf) => {
                let _ = reason;
                d.set_var("__SKIPPED", Value::Bool(true), false, None, "set")
                    .map_err(|e| EvalError::from_data(path, here, e))?;
            }
            Err(e) => return Err(e),
        }
        if let Some(old) = oldfile
            && (set_file || kind == Some(FileKind::Conf))
            && old.as_str() != Some(abs.as_str())
        {
            d.set_var("FILE", old, false, None, "set").map_err(|e| EvalError::from_data(path, here, e))?;
        }
        Ok(())
    }

    /// Evaluate every statement of a parsed file.
    pub fn eval_statements(
        &self,
        d: &Rc<DataStore>,
        path: &Path,
        file: &ast::File,
        baseconfig: bool,
    ) -> Result<(), EvalError> {
        let file_str: Str = path.display().to_string().into();
        for st in &file.statements {
            self.eval_statement(d, path, &file_str, &st.stmt, st.pos, baseconfig)?;
        }
        Ok(())
    }

    fn eval_statement(
        &self,
        d: &Rc<DataStore>,
        path: &Path,
        file: &Str,
        stmt: &Stmt,
        pos: Pos,
        baseconfig: bool,
    ) -> Result<(), EvalError> {
        let origin = Origin { file: file.clone(), line: pos.line };
        let de = |e: DataError| EvalError::from_data(path, pos, e);
        if let Some(needs) = directive_needs(stmt)
            && !needs.0(&d.bitbake())
        {
            return Err(EvalError::at(
                path,
                pos,
                format!(
                    "{} is not a directive of BitBake {}, which these layers are read as (it needs {} or later)",
                    needs.1,
                    d.bitbake(),
                    needs.2
                ),
            ));
        }
        match stmt {
            Stmt::Assign(a) => assign::apply(d, a, Some(&origin)).map_err(de),
            Stmt::Include { files, required } => {
                let verb = if *required { Some("include required") } else { None };
                self.include(d, path, files, pos, verb)
            }
            Stmt::IncludeAll { file: f } => {
                let s = d.expand(f, None).map_err(de)?;
                let bbpath = str_of(d.get_var("BBPATH", true).map_err(de)?);
                for dir in bbpath.split(':') {
                    let candidate = Path::new(dir).join(&s);
                    self.include(d, path, &candidate.display().to_string(), pos, None)?;
                }
                Ok(())
            }
            Stmt::Export { var } => d.set_var_flag(var, "export", Value::Int(1), Some(&origin), "exported").map_err(de),
            Stmt::Unset { var } => {
                d.del_var(var, Some(&origin));
                Ok(())
            }
            Stmt::UnsetFlag { var, flag } => {
                d.del_var_flag(var, flag, Some(&origin));
                Ok(())
            }
            Stmt::AddPylib { dir, namespace } => {
                if !baseconfig {
                    return Err(EvalError::at(
                        path,
                        pos,
                        "addpylib is only allowed in bblayers.conf, layer.conf and bitbake.conf",
                    ));
                }
                let mods = str_of(d.get_var("BB_GLOBAL_PYMODULES", true).map_err(de)?);
                for m in mods.split_whitespace() {
                    self.runtime.import_global(m).map_err(de)?;
                }
                let libdir = d.expand(dir, None).map_err(de)?;
                self.note_dependency(Path::new(&libdir), Path::new(&libdir).is_dir());
                self.runtime.add_pylib(&libdir, namespace).map_err(de)
            }
            Stmt::AddFragments { prefix, var, flagged_vars, builtin_var } => {
                let builtin = d.bitbake().has_builtin_fragments();
                if builtin != builtin_var.is_some() {
                    return Err(EvalError::at(
                        path,
                        pos,
                        format!(
                            "addfragments takes {} arguments in BitBake {} (PREFIX VAR FLAGGED_VARS{}; the built-in \
                             fragments variable came with BitBake 2.16)",
                            if builtin { 4 } else { 3 },
                            d.bitbake(),
                            if builtin { " BUILTIN_VAR" } else { "" }
                        ),
                    ));
                }
                self.add_fragments(d, path, pos, prefix, var, flagged_vars, builtin_var.as_deref())
            }
            Stmt::Inherit { classes } => self.inherit(d, classes, path, pos.line, false),
            Stmt::InheritDefer { classes } => inherit_defer(d, classes, file, pos.line).map_err(de),
            Stmt::Function(f) => self.eval_function(d, path, file, f).map_err(de),
            Stmt::PythonDef(def) => {
                let text = def.body.join("\n");
                let lineno = def.end_line.saturating_sub(def.body.len() as u32 + 1);
                self.runtime.exec_in_context(&text, file, lineno, None).map_err(de)?;
                d.set_var_flag(&def.name, "func", Value::Int(1), None, "set").map_err(de)?;
                d.set_var_flag(&def.name, "python", Value::Int(1), None, "set").map_err(de)?;
                d.set_var(&def.name, Value::str(text), true, Some(&origin), "set").map_err(de)?;
                d.set_var_flag(&def.name, "filename", Value::str(&**file), None, "set").map_err(de)?;
                d.set_var_flag(&def.name, "lineno", Value::str(lineno.to_string()), None, "set").map_err(de)
            }
            Stmt::ExportFunctions { names } => {
                let classname = if path.extension().is_some_and(|e| e == "bbclass") {
                    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
                } else {
                    String::new()
                };
                export_functions(d, names, &classname).map_err(de)
            }
            Stmt::AddTask { tasks: names, before, after } => {
                for task in names.split_whitespace() {
                    tasks::addtask(d, task, Some(before), Some(after)).map_err(de)?;
                }
                Ok(())
            }
            Stmt::DelTask { tasks: names } => {
                let expanded = d.expand(names, None).map_err(de)?;
                for task in expanded.split_whitespace() {
                    tasks::deltask(d, task).map_err(de)?;
                }
                Ok(())
            }
            Stmt::AddHandler { names } => {
                let mut list =
                    d.get_var("__BBHANDLERS", false).map_err(de)?.map(|v| v.string_list()).unwrap_or_default();
                for h in names.split_whitespace() {
                    list.push(h.to_owned());
                    d.set_var_flag(h, "handler", Value::Int(1), None, "set").map_err(de)?;
                }
                d.set_var("__BBHANDLERS", Value::list_of_strs(list), false, None, "set").map_err(de)
            }
        }
    }

    fn eval_function(&self, d: &Rc<DataStore>, _path: &Path, file: &Str, f: &ast::Function) -> Result<(), DataError> {
        let mut text = f.body.join("\n");
        let mut python = f.python;
        let anonymous = matches!(f.name.as_deref(), None | Some("__anonymous"));
        let funcname = if anonymous {
            let tr: String = file.chars().map(|c| if "/.+-@%&~".contains(c) { '_' } else { c }).collect();
            let name = format!("__anon_{}_{}", f.end_line, tr);
            python = true;
            text = format!("def {name}(d):\n{text}");
            let lineno = f.end_line.saturating_sub(f.body.len() as u32 + 1);
            self.runtime.exec_in_context(&text, file, lineno, None)?;
            let mut anon = d.get_var("__BBANONFUNCS", false)?.map(|v| v.string_list()).unwrap_or_default();
            anon.push(name.clone());
            d.set_var("__BBANONFUNCS", Value::list_of_strs(anon), false, None, "set")?;
            name
        } else {
            f.name.clone().unwrap_or_default()
        };
        if d.get_var(&funcname, false)?.is_some_and(|v| v.truthy()) {
            d.del_var_flag(&funcname, "python", None);
            d.del_var_flag(&funcname, "fakeroot", None);
        }
        if python {
            d.set_var_flag(&funcname, "python", Value::str("1"), None, "set")?;
        }
        if f.fakeroot {
            d.set_var_flag(&funcname, "fakeroot", Value::str("1"), None, "set")?;
        }
        d.set_var_flag(&funcname, "func", Value::Int(1), None, "set")?;
        let origin = Origin { file: file.clone(), line: f.end_line.saturating_sub(f.body.len() as u32) };
        d.set_var(&funcname, Value::str(text), true, Some(&origin), "set")?;
        d.set_var_flag(&funcname, "filename", Value::str(&**file), None, "set")?;
        d.set_var_flag(
            &funcname,
            "lineno",
            Value::str(f.end_line.saturating_sub(f.body.len() as u32).to_string()),
            None,
            "set",
        )
    }

    /// `include` / `require` (BitBake's ConfHandler.include): expand, split, and include
    /// each file, searching the including file's directory then BBPATH.
    pub fn include(
        &self,
        d: &Rc<DataStore>,
        parent: &Path,
        files: &str,
        pos: Pos,
        error_verb: Option<&str>,
    ) -> Result<(), EvalError> {
        let de = |e: DataError| EvalError::from_data(parent, pos, e);
        let files = d.expand(files, None).map_err(de)?;
        let parent_str = parent.display().to_string();
        for f in files.split_whitespace() {
            if f == parent_str {
                continue;
            }
            let mut target = PathBuf::from(f);
            if !target.is_absolute() {
                let dname = parent.parent().map(|p| p.display().to_string()).unwrap_or_default();
                let bbpath = str_of(d.get_var("BBPATH", true).map_err(de)?);
                let mut attempts = Vec::new();
                let found = which(&format!("{dname}:{bbpath}"), f, &mut attempts);
                for a in &attempts {
                    self.note_dependency(a, Some(a) == found.as_ref());
                }
                if let Some(found) = found {
                    target = found;
                }
            }
            if FileKind::for_path(&target).is_none() {
                return Err(EvalError::at(
                    parent,
                    pos,
                    format!("{f} is not a BitBake file (expected .conf, .bb, .bbclass or .inc)"),
                ));
            }
            let resolved = self.resolve_file(d, &target.display().to_string()).map_err(de)?;
            match resolved {
                Some(p) if self.including.borrow().contains(&p) => {
                    let chain: Vec<String> = self.including.borrow().iter().map(|f| f.display().to_string()).collect();
                    return Err(EvalError::at(
                        parent,
                        pos,
                        format!(
                            "include cycle: {} is already being included ({} -> {})",
                            p.display(),
                            chain.join(" -> "),
                            p.display()
                        ),
                    ));
                }
                Some(p) => self.handle_include(d, &p, false)?,
                None => {
                    if let Some(verb) = error_verb {
                        return Err(EvalError::at(
                            parent,
                            pos,
                            format!("could not {verb} file {f}: not found next to the including file or in BBPATH"),
                        ));
                    }
                    tracing::trace!("include {f} not found");
                }
            }
        }
        Ok(())
    }

    /// `inherit CLASSES` (BitBake's BBHandler.inherit).
    pub fn inherit(
        &self,
        d: &Rc<DataStore>,
        classes: &str,
        from: &Path,
        line: u32,
        deferred: bool,
    ) -> Result<(), EvalError> {
        let pos = Pos { line, col: 1 };
        let de = |e: DataError| EvalError::from_data(from, pos, e);
        let files = d.expand(classes, None).map_err(de)?;
        for class in files.split_whitespace() {
            let defer = if d.bitbake().defers_listed_classes() {
                str_of(d.get_var("BB_DEFER_BBCLASSES", true).map_err(de)?)
            } else {
                String::new()
            };
            if !deferred && defer.split_whitespace().any(|c| c == class) {
                inherit_defer(d, class, &from.display().to_string(), line).map_err(de)?;
                continue;
            }
            let classtype = str_of(d.get_var("__bbclasstype", false).map_err(de)?);
            let mut found: Option<PathBuf> = None;
            let mut last = PathBuf::from(class);
            for dir in [format!("classes-{classtype}"), "classes".to_owned()] {
                let mut file = PathBuf::from(class);
                if !file.is_absolute() && !class.ends_with(".bbclass") {
                    file = Path::new(&dir).join(format!("{class}.bbclass"));
                }
                if !file.is_absolute() {
                    let bbpath = str_of(d.get_var("BBPATH", true).map_err(de)?);
                    let mut attempts = Vec::new();
                    let hit = which(&bbpath, &file.display().to_string(), &mut attempts);
                    for a in &attempts {
                        if Some(a) != hit.as_ref() {
                            self.note_dependency(a, false);
                        }
                    }
                    if let Some(hit) = hit {
                        file = hit;
                    }
                }
                last = file.clone();
                if file.exists() {
                    found = Some(file);
                    break;
                }
            }
            let Some(file) = found else {
                return Err(EvalError::at(
                    from,
                    pos,
                    format!(
                        "could not inherit {}: no {class}.bbclass in the classes directories of BBPATH",
                        last.display()
                    ),
                ));
            };
            let mut cache = inherit_cache(d).map_err(de)?;
            let key = file.display().to_string();
            if !cache.contains(&key) {
                cache.push(key);
                set_inherit_cache(d, cache).map_err(de)?;
                self.note_dependency(&file, true);
                self.handle_include(d, &file, false)?;
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn add_fragments(
        &self,
        d: &Rc<DataStore>,
        path: &Path,
        pos: Pos,
        prefix: &str,
        var: &str,
        flagged_vars: &str,
        builtin_var: Option<&str>,
    ) -> Result<(), EvalError> {
        let de = |e: DataError| EvalError::from_data(path, pos, e);
        if str_of(d.get_var("_BB_SKIP_FRAGMENTS", true).map_err(de)?) == "1" {
            return Ok(());
        }
        let fragments = str_of(d.get_var(var, true).map_err(de)?);
        let layers = str_of(d.get_var("BBLAYERS", true).map_err(de)?);
        let flagged: Vec<String> =
            str_of(d.get_var(flagged_vars, true).map_err(de)?).split_whitespace().map(str::to_owned).collect();
        let builtin_value = match builtin_var {
            Some(v) => str_of(d.get_var(v, true).map_err(de)?),
            None => String::new(),
        };
        let builtins: Vec<(String, String)> = builtin_value
            .split_whitespace()
            .filter_map(|f| f.split_once(':').map(|(a, b)| (a.to_owned(), b.to_owned())))
            .collect();
        for f in fragments.split_whitespace() {
            let Some((layerid, name)) = f.split_once('/') else {
                return Err(EvalError::at(path, pos, format!("fragment {f} must be of the form LAYER/NAME")));
            };
            if let Some((_, target)) = builtins.iter().find(|(p, _)| p == layerid) {
                if d.get_var_flag(target, "_content", Read { expand: true, noweakdefault: true, parsing: false })
                    .map_err(de)?
                    .is_some()
                {
                    return Err(EvalError::at(
                        path,
                        pos,
                        format!("builtin fragment {f} is used while {target} is already set"),
                    ));
                }
                d.set_var(target, Value::str(name), true, None, "set").map_err(de)?;
                continue;
            }
            let full = d.expand(&format!("{prefix}/{name}.conf"), None).map_err(de)?;
            let mut hit = None;
            for layer in layers.split_whitespace() {
                let candidate = Path::new(layer).join(&full);
                if candidate.exists() && self.file_layer(d, &candidate).map_err(de)?.as_deref() == Some(layerid) {
                    hit = Some(candidate);
                    break;
                }
            }
            let Some(fragment) = hit else {
                return Err(EvalError::at(path, pos, format!("could not find fragment {f} in the enabled layers")));
            };
            self.include(d, path, &fragment.display().to_string(), pos, Some("include fragment"))?;
            for fv in &flagged {
                let v = d.get_var(fv, true).map_err(de)?.unwrap_or(Value::None);
                d.set_var_flag(fv, f, v, None, "set").map_err(de)?;
                d.set_var(fv, Value::None, false, None, "set").map_err(de)?;
            }
        }
        Ok(())
    }

    /// `bb.utils.get_file_layer`: the collection whose BBFILE_PATTERN matches a file.
    fn file_layer(&self, d: &Rc<DataStore>, file: &Path) -> Result<Option<String>, DataError> {
        let collections = str_of(d.get_var("BBFILE_COLLECTIONS", true)?);
        let file_s = file.display().to_string();
        for c in collections.split_whitespace() {
            let pattern = str_of(d.get_var(&format!("BBFILE_PATTERN_{c}"), true)?);
            if pattern.is_empty() {
                continue;
            }
            if let Ok(re) = regex::Regex::new(&format!("^(?:{pattern})"))
                && re.is_match(&file_s)
            {
                return Ok(Some(c.to_owned()));
            }
        }
        Ok(None)
    }
}

/// The `__inherit_cache` list.
pub fn inherit_cache(d: &Rc<DataStore>) -> Result<Vec<String>, DataError> {
    Ok(d.get_var("__inherit_cache", false)?.map(|v| v.string_list()).unwrap_or_default())
}

fn set_inherit_cache(d: &Rc<DataStore>, cache: Vec<String>) -> Result<(), DataError> {
    d.set_var("__inherit_cache", Value::list_of_strs(cache), false, None, "set")
}

/// `inherit_defer CLASS`: queue the class for inheritance when the recipe is finalised.
pub fn inherit_defer(d: &Rc<DataStore>, classes: &str, file: &str, line: u32) -> Result<(), DataError> {
    let mut list: Vec<Value> =
        d.get_var("__BBDEFINHERITS", false)?.and_then(|v| v.as_list().map(<[Value]>::to_vec)).unwrap_or_default();
    list.push(Value::Tuple(Rc::new(vec![Value::str(classes), Value::str(file), Value::Int(i64::from(line))])));
    d.set_var("__BBDEFINHERITS", Value::List(Rc::new(list)), false, None, "set")
}

/// The directives later BitBake releases added: the test, the name, the release.
type Needs = (fn(&crate::bitbake_version::BitBakeVersion) -> bool, &'static str, &'static str);

/// What release a statement needs, when it is a directive older releases do not have
/// (they stop at it as an unparsed line).
fn directive_needs(stmt: &Stmt) -> Option<Needs> {
    use crate::bitbake_version::BitBakeVersion as V;
    match stmt {
        Stmt::AddPylib { .. } => Some((V::has_addpylib, "addpylib", "2.4")),
        Stmt::InheritDefer { .. } => Some((V::has_inherit_defer, "inherit_defer", "2.8")),
        Stmt::IncludeAll { .. } => Some((V::has_include_all_and_addfragments, "include_all", "2.12")),
        Stmt::AddFragments { .. } => Some((V::has_include_all_and_addfragments, "addfragments", "2.12")),
        _ => None,
    }
}

/// `EXPORT_FUNCTIONS`: make `do_x` call `classname_do_x` unless the recipe defines it.
/// A stub set by an earlier class is replaced; BitBake recognises one by a sentinel
/// line in its body (from 2.8) or, before, by an `export_func` flag.
fn export_functions(d: &Rc<DataStore>, names: &str, classname: &str) -> Result<(), DataError> {
    const SENTINEL: &str = "    # Export function set\n";
    let in_body = d.bitbake().marks_exported_functions_in_body();
    let sentinel = if in_body { SENTINEL } else { "" };
    for func in names.split_whitespace() {
        let called = format!("{classname}_{func}");
        let base = d.get_var(func, false)?;
        if let Some(b) = &base
            && b.truthy()
        {
            let is_stub = if in_body {
                b.to_string().contains(SENTINEL)
            } else {
                d.get_var_flag(func, "export_func", Read::RAW)?.is_some_and(|v| v.truthy())
            };
            if !is_stub {
                continue;
            }
        }
        if base.as_ref().is_some_and(Value::truthy) {
            d.set_var_flag(func, "python", Value::None, None, "set")?;
            d.set_var_flag(func, "func", Value::None, None, "set")?;
        }
        for flag in ["func", "python"] {
            if let Some(v) = d.get_var_flag(&called, flag, Read::RAW)?
                && v.truthy()
            {
                d.set_var_flag(func, flag, v, None, "set")?;
            }
        }
        for flag in ["dirs", "cleandirs", "fakeroot"] {
            if let Some(v) = d.get_var_flag(func, flag, Read::RAW)?
                && v.truthy()
            {
                d.set_var_flag(&called, flag, v, None, "set")?;
            }
        }
        d.set_var_flag(func, "filename", Value::str("autogenerated"), None, "set")?;
        d.set_var_flag(func, "lineno", Value::Int(1), None, "set")?;
        let is_python = d.get_var_flag(&called, "python", Read::RAW)?.is_some_and(|v| v.truthy());
        let body = if is_python {
            format!("{sentinel}    bb.build.exec_func('{called}', d)\n")
        } else {
            if classname.contains('-') {
                return Err(DataError::Fatal(format!(
                    "the class name {classname} contains a dash and exports the shell function {called}: \
                     a dash is not allowed in shell function names"
                )));
            }
            format!("{sentinel}    {called}\n")
        };
        d.set_var(func, Value::str(body), true, None, "set")?;
        if !in_body {
            d.set_var_flag(func, "export_func", Value::str("1"), None, "set")?;
        }
    }
    Ok(())
}

impl Host for Evaluator {
    fn log(&self, level: LogLevel, message: &str) {
        self.message(level, message.to_owned());
    }

    fn inherit(&self, d: &Rc<DataStore>, classes: &str, file: &str, line: u32) -> Result<(), DataError> {
        Evaluator::inherit(self, d, classes, Path::new(file), line, false).map_err(|e| match e {
            EvalError::Skip(r) => DataError::SkipRecipe(r),
            other => DataError::Fatal(other.to_string()),
        })
    }

    fn mark_dependency(&self, _d: &Rc<DataStore>, path: &str) {
        let p = Path::new(path);
        self.note_dependency(p, p.exists());
    }
}
