//! The embedded CPython that runs metadata Python.
//!
//! Metadata runs Python in four ways: inline `${@…}` expressions, anonymous
//! `python () {…}` functions run when a recipe is finalised, `def` functions (which
//! become globals of one shared context, as in BitBake), and event handlers. All of it
//! runs against a `d` object ([`datasmart::DataSmart`]) backed by our datastore, and with
//! rstore's own `bb` package (embedded from `importer/python/bb`) on the import path.
//!
//! Why our own `bb` package instead of the user's BitBake checkout: BitBake's `bb`
//! modules import its datastore, cooker and server machinery at import time and assume
//! its own DataSmart internals (`d.dict`, its COW classes), so loading them against our
//! datastore would pull in most of BitBake; the parse-time API that layers actually call
//! is small, documented and stable, and owning it keeps parsing hermetic (no checkout
//! needed for the bundled layers). The fidelity check against openembedded-core measures
//! the result.

pub mod datasmart;
mod host;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;

use pyo3::exceptions::PySyntaxError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyModule, PyString, PyTuple};

pub use host::{Host, HostGuard, LogLevel, set_host, with_host};

use crate::datastore::{DataError, DataStore, ExpansionError, Hooks, InlineResult, PythonDeps};
use crate::value::Str;
use crate::value::Value;

/// (module name, is package, source, file name) for every embedded Python file.
const MODULES: &[(&str, bool, &str, &str)] = include!(concat!(env!("OUT_DIR"), "/python_modules.rs"));

/// Identifies the parse-relevant code of this build: the importer's and evaluator's Rust
/// sources and the embedded Python (part of the parse cache key).
pub fn build_id() -> String {
    let mut h = blake3::Hasher::new();
    h.update(env!("RSTORE_IMPORTER_SOURCES").as_bytes());
    for (name, _, src, _) in MODULES {
        h.update(name.as_bytes());
        h.update(src.as_bytes());
    }
    h.finalize().to_hex().to_string()
}

/// Starting the interpreter failed.
#[derive(Debug, thiserror::Error)]
#[error("starting the embedded Python failed: {0}")]
pub struct InitError(String);

/// The shared context and event handlers at one moment.
pub struct Snapshot {
    context: Py<PyDict>,
    handlers: Py<PyAny>,
}

/// The embedded interpreter and the objects rstore uses from it.
pub struct PyRuntime {
    /// `bb.utils._context`: globals of all metadata code.
    context: Py<PyDict>,
    data_context: Py<PyAny>,
    compile_at: Py<PyAny>,
    format_exception: Py<PyAny>,
    apply_filters: Py<PyAny>,
    event_module: Py<PyAny>,
    copy: Py<PyAny>,
    skip_recipe: Py<PyAny>,
    handled: Py<PyAny>,
    expansion_error: Py<PyAny>,
    inline_cache: RefCell<HashMap<String, Py<PyAny>>>,
    python_parser: Py<PyAny>,
    deps_cache: RefCell<HashMap<String, Rc<PythonDeps>>>,
}

thread_local! {
    static RUNTIME: RefCell<Option<Rc<PyRuntime>>> = const { RefCell::new(None) };
}

/// The interpreter of this thread, started on first use.
pub fn runtime() -> Result<Rc<PyRuntime>, InitError> {
    if let Some(rt) = RUNTIME.with(|r| r.borrow().clone()) {
        return Ok(rt);
    }
    let rt = Rc::new(Python::attach(PyRuntime::start).map_err(|e| InitError(e.to_string()))?);
    RUNTIME.with(|r| *r.borrow_mut() = Some(rt.clone()));
    Ok(rt)
}

/// Hooks for new datastores: inline Python and filters through this thread's runtime.
pub fn hooks() -> Result<Rc<dyn Hooks>, InitError> {
    Ok(runtime()? as Rc<dyn Hooks>)
}

impl PyRuntime {
    fn start(py: Python<'_>) -> PyResult<PyRuntime> {
        let native = PyModule::new(py, "_rstore")?;
        datasmart::register(&native)?;
        py.import("sys")?.getattr("modules")?.set_item("_rstore", &native)?;

        let (_, _, boot_src, boot_file) =
            MODULES.iter().find(|(name, ..)| *name == "rstore_boot").expect("rstore_boot.py is embedded");
        let boot = PyModule::from_code(
            py,
            &std::ffi::CString::new(*boot_src).expect("no NUL in source"),
            &std::ffi::CString::new(*boot_file).expect("no NUL in name"),
            c"rstore_boot",
        )?;
        let sources = PyDict::new(py);
        for (name, is_pkg, src, file) in MODULES {
            if *name != "rstore_boot" {
                sources.set_item(
                    *name,
                    PyTuple::new(
                        py,
                        [
                            is_pkg.into_pyobject(py)?.to_owned().into_any(),
                            PyString::new(py, src).into_any(),
                            PyString::new(py, file).into_any(),
                        ],
                    )?,
                )?;
            }
        }
        boot.getattr("install")?.call1((sources,))?;

        let bb = py.import("bb")?;
        let utils = py.import("bb.utils")?;
        let context = utils.getattr("_context")?.cast_into::<PyDict>()?.unbind();
        let parse = py.import("bb.parse")?;
        let data_smart = py.import("bb.data_smart")?;
        let filter = py.import("bb.filter")?;
        let event = py.import("bb.event")?;
        Ok(PyRuntime {
            context,
            data_context: data_smart.getattr("DataContext")?.unbind(),
            compile_at: boot.getattr("compile_at")?.unbind(),
            format_exception: boot.getattr("format_exception")?.unbind(),
            apply_filters: filter.getattr("apply_filters")?.unbind(),
            event_module: event.into_any().unbind(),
            copy: py.import("copy")?.getattr("copy")?.unbind(),
            skip_recipe: parse.getattr("SkipRecipe")?.unbind(),
            handled: bb.getattr("BBHandledException")?.unbind(),
            expansion_error: data_smart.getattr("ExpansionError")?.unbind(),
            inline_cache: RefCell::default(),
            python_parser: py.import("bb.codeparser")?.getattr("PythonParser")?.unbind(),
            deps_cache: RefCell::default(),
        })
    }

    /// The shared globals of metadata code.
    pub fn context<'py>(&self, py: Python<'py>) -> Bound<'py, PyDict> {
        self.context.bind(py).clone()
    }

    /// Turn a Python exception into a datastore error, keeping skip and fatal apart.
    pub fn error_from_py(&self, py: Python<'_>, err: PyErr) -> DataError {
        let value = err.value(py);
        if value.is_instance(self.skip_recipe.bind(py)).unwrap_or(false) {
            let reason =
                value.getattr("args").ok().and_then(|a| a.get_item(0).ok()).map(|a| a.to_string()).unwrap_or_default();
            return DataError::SkipRecipe(reason);
        }
        if value.is_instance(self.handled.bind(py)).unwrap_or(false) {
            let text = value.to_string();
            let last = datasmart::take_last_error();
            return DataError::Fatal(match last {
                Some(msg) if text.is_empty() || !text.contains(&msg) => {
                    if text.is_empty() {
                        msg
                    } else {
                        format!("{msg}: {text}")
                    }
                }
                _ => text,
            });
        }
        if value.is_instance(self.expansion_error.bind(py)).unwrap_or(false) {
            let chain: Vec<String> = value.getattr("varlist").and_then(|v| v.extract()).unwrap_or_default();
            let expression: Option<String> = value.getattr("expression").ok().and_then(|v| v.extract().ok());
            let cause = value
                .getattr("exception")
                .map(|e| format!("{}: {}", e.get_type().name().map(|n| n.to_string()).unwrap_or_default(), e))
                .unwrap_or_else(|_| value.to_string());
            return DataError::Expansion(Box::new(ExpansionError { chain, expression, cause }));
        }
        // The traceback may be held by the error rather than by the exception object.
        if let Some(tb) = err.traceback(py)
            && value.getattr("__traceback__").is_ok_and(|t| t.is_none())
        {
            let _ = value.setattr("__traceback__", tb);
        }
        let message = self
            .format_exception
            .bind(py)
            .call1((value,))
            .and_then(|t| t.extract::<(String, String)>())
            .map(|(head, _)| head)
            .unwrap_or_else(|_| value.to_string());
        DataError::Python { message, exception: Some(Rc::new(err)) }
    }

    /// Turn a datastore error into the Python exception BitBake would raise.
    pub fn error_to_py(&self, py: Python<'_>, err: DataError) -> PyErr {
        match err {
            DataError::SkipRecipe(reason) => match self.skip_recipe.bind(py).call1((reason.clone(),)) {
                Ok(e) => PyErr::from_value(e),
                Err(e) => e,
            },
            DataError::Fatal(msg) => match self.handled.bind(py).call1((msg,)) {
                Ok(e) => PyErr::from_value(e),
                Err(e) => e,
            },
            DataError::Expansion(e) => {
                let varname = e.chain.first().cloned().unwrap_or_default();
                let cause = pyo3::exceptions::PyException::new_err(e.cause.clone()).into_value(py);
                match self.expansion_error.bind(py).call1((varname, e.expression.clone(), cause)) {
                    Ok(obj) => {
                        let _ = obj.setattr("varlist", PyList::new(py, &e.chain).ok());
                        PyErr::from_value(obj)
                    }
                    Err(err) => err,
                }
            }
            DataError::Python { exception: Some(exc), .. } => exc.clone_ref(py),
            DataError::Python { message, exception: None } => pyo3::exceptions::PyException::new_err(message),
        }
    }

    /// Compile and execute `text` in the shared context (defines functions there).
    pub fn exec_in_context(
        &self,
        text: &str,
        file: &str,
        lineno: u32,
        locals: Option<&Rc<DataStore>>,
    ) -> Result<(), DataError> {
        Python::attach(|py| {
            let run = || -> PyResult<()> {
                let code = self.compile_at.bind(py).call1((text, file, lineno, "exec"))?;
                let ctx = self.context(py);
                let builtins = py.import("builtins")?;
                match locals {
                    Some(d) => {
                        let l = PyDict::new(py);
                        l.set_item("d", datasmart::wrap(py, d.clone())?)?;
                        builtins.getattr("exec")?.call1((code, ctx, l))?;
                    }
                    None => {
                        builtins.getattr("exec")?.call1((code, ctx))?;
                    }
                }
                Ok(())
            };
            run().map_err(|e| self.error_from_py(py, e))
        })
    }

    /// Call `bb.event.register(name, body, mask, filename, lineno, data=d)`.
    pub fn register_handler(
        &self,
        d: &Rc<DataStore>,
        name: &str,
        body: &str,
        mask: &[String],
        file: &str,
        lineno: u32,
    ) -> Result<(), DataError> {
        Python::attach(|py| {
            let run = || -> PyResult<()> {
                let kwargs = PyDict::new(py);
                kwargs.set_item("data", datasmart::wrap(py, d.clone())?)?;
                let mask = if mask.is_empty() { None } else { Some(PyList::new(py, mask)?) };
                self.event_module
                    .bind(py)
                    .getattr("register")?
                    .call((name, body, mask, file, lineno), Some(&kwargs))?;
                Ok(())
            };
            run().map_err(|e| self.error_from_py(py, e))
        })
    }

    /// Fire `bb.event.<class>(*args)` at the handlers, with `d`.
    pub fn fire(&self, d: &Rc<DataStore>, class: &str, args: Vec<Value>) -> Result<(), DataError> {
        Python::attach(|py| {
            let run = || -> PyResult<()> {
                let module = self.event_module.bind(py);
                let args: Vec<Bound<'_, PyAny>> =
                    args.iter().map(|v| datasmart::to_py(py, v)).collect::<PyResult<_>>()?;
                let event = module.getattr(class)?.call1(PyTuple::new(py, args)?)?;
                module.getattr("fire")?.call1((event, datasmart::wrap(py, d.clone())?))?;
                Ok(())
            };
            run().map_err(|e| self.error_from_py(py, e))
        })
    }

    /// Keep the bytecode of imported Python modules (layer libraries such as
    /// openembedded-core's `oe`) under `dir`, so later runs do not compile them again:
    /// about a third of the configuration parse. Layers stay untouched: nothing is
    /// written next to their sources, whatever PYTHONDONTWRITEBYTECODE says, because
    /// the bytecode goes to rstore's own cache directory.
    pub fn cache_bytecode_in(&self, dir: &std::path::Path) -> Result<(), DataError> {
        Python::attach(|py| {
            let run = || -> PyResult<()> {
                let sys = py.import("sys")?;
                sys.setattr("pycache_prefix", dir.to_string_lossy().as_ref())?;
                sys.setattr("dont_write_bytecode", false)?;
                Ok(())
            };
            run().map_err(|e| self.error_from_py(py, e))
        })
    }

    /// Set `bb.__version__`: the BitBake release the layers are read as.
    pub fn set_bb_version(&self, version: &str) -> Result<(), DataError> {
        Python::attach(|py| {
            let run = || -> PyResult<()> { py.import("bb")?.setattr("__version__", version) };
            run().map_err(|e| self.error_from_py(py, e))
        })
    }

    /// Import a module into the shared context under its top-level name (BB_GLOBAL_PYMODULES).
    pub fn import_global(&self, name: &str) -> Result<(), DataError> {
        Python::attach(|py| {
            let ctx = self.context(py);
            if ctx.contains(name).unwrap_or(false) {
                return Ok(());
            }
            let run = || -> PyResult<()> {
                let module = py.import("builtins")?.getattr("__import__")?.call1((name,))?;
                ctx.set_item(name, module)
            };
            run().map_err(|e| self.error_from_py(py, e))
        })
    }

    /// `addpylib DIR NAMESPACE`: put DIR on sys.path and import the namespace (and the
    /// modules it lists in BBIMPORTS) into the shared context.
    pub fn add_pylib(&self, dir: &str, namespace: &str) -> Result<(), DataError> {
        Python::attach(|py| {
            let run = || -> PyResult<()> {
                let path = py.import("sys")?.getattr("path")?;
                if !path.contains(dir)? {
                    path.call_method1("append", (dir,))?;
                }
                let import = py.import("builtins")?.getattr("__import__")?;
                let ctx = self.context(py);
                let module = import.call1((namespace,))?;
                ctx.set_item(namespace, &module)?;
                let codeparser = py.import("bb.codeparser")?;
                if let Ok(list) = module.getattr("BBIMPORTS") {
                    for item in list.try_iter()? {
                        let item: String = item?.extract()?;
                        let top = import.call1((format!("{namespace}.{item}"),))?;
                        ctx.set_item(namespace, &top)?;
                        // Record what the module's functions read, for task signatures.
                        let module = top.getattr(item.as_str())?;
                        let file = module.getattr("__file__")?;
                        let funcs = PyDict::new(py);
                        for name in module.dir()?.iter() {
                            let name: String = name.extract()?;
                            if name.starts_with('_') {
                                continue;
                            }
                            let f = module.getattr(name.as_str())?;
                            if f.is_callable() {
                                funcs.set_item(name, f)?;
                            }
                        }
                        codeparser.getattr("add_module_functions")?.call1((
                            file,
                            funcs,
                            format!("{namespace}.{item}"),
                        ))?;
                    }
                }
                Ok(())
            };
            run().map_err(|e| self.error_from_py(py, e))
        })
    }

    /// Run `f`, then restore the event handlers registered before it (BitBake drops the
    /// handlers a recipe registers once that recipe is finalised).
    pub fn with_saved_handlers<R>(&self, f: impl FnOnce() -> R) -> R {
        let saved = Python::attach(|py| {
            let m = self.event_module.bind(py);
            m.getattr("get_handlers")
                .and_then(|g| g.call0())
                .and_then(|h| h.call_method0("copy"))
                .map(|h| h.unbind())
                .ok()
        });
        let out = f();
        if let Some(saved) = saved {
            Python::attach(|py| {
                let _ = self.event_module.bind(py).getattr("set_handlers").and_then(|s| s.call1((saved.bind(py),)));
            });
        }
        out
    }

    /// A snapshot of the shared context and the class event handlers.
    pub fn snapshot(&self) -> Result<Snapshot, DataError> {
        Python::attach(|py| {
            let run = || -> PyResult<Snapshot> {
                let ctx = self.context(py).copy()?.unbind();
                let handlers =
                    self.event_module.bind(py).getattr("get_class_handlers")?.call0()?.call_method0("copy")?.unbind();
                Ok(Snapshot { context: ctx, handlers })
            };
            run().map_err(|e| self.error_from_py(py, e))
        })
    }

    /// Put back a snapshot: each recipe starts from the configuration's context.
    pub fn restore(&self, snapshot: &Snapshot) -> Result<(), DataError> {
        Python::attach(|py| {
            let run = || -> PyResult<()> {
                let ctx = self.context(py);
                ctx.clear();
                ctx.update(snapshot.context.bind(py).as_mapping())?;
                let handlers = snapshot.handlers.bind(py).call_method0("copy")?;
                self.event_module.bind(py).getattr("set_class_handlers")?.call1((handlers,))?;
                Ok(())
            };
            run().map_err(|e| self.error_from_py(py, e))
        })
    }

    /// Apply the configuration's `[vardepsexclude]` flags to module functions
    /// (`bb.codeparser.update_module_dependencies`).
    pub fn update_module_dependencies(&self, d: &Rc<DataStore>) -> Result<(), DataError> {
        Python::attach(|py| {
            let run = || -> PyResult<()> {
                py.import("bb.codeparser")?
                    .getattr("update_module_dependencies")?
                    .call1((datasmart::wrap(py, d.clone())?,))?;
                Ok(())
            };
            run().map_err(|e| self.error_from_py(py, e))
        })
    }

    /// What each layer-library function reads and calls (`bb.codeparser.modulecode_deps`).
    pub fn module_funcs(&self) -> Result<HashMap<String, crate::vardeps::ModuleFunc>, DataError> {
        Python::attach(|py| {
            let run = || -> PyResult<HashMap<String, crate::vardeps::ModuleFunc>> {
                let deps =
                    py.import("bb.codeparser")?.getattr("module_dependencies")?.call0()?.cast_into::<PyDict>()?;
                let mut out = HashMap::new();
                for (name, entry) in deps.iter() {
                    let name: String = name.extract()?;
                    let mut contains = BTreeMap::new();
                    for (k, v) in entry.get_item(3)?.cast_into::<PyDict>()?.iter() {
                        contains.insert(k.extract::<String>()?, v.extract::<BTreeSet<String>>()?);
                    }
                    out.insert(
                        name,
                        crate::vardeps::ModuleFunc {
                            references: entry.get_item(0)?.extract()?,
                            execs: entry.get_item(1)?.extract()?,
                            contains,
                            extra: entry.get_item(4)?.extract()?,
                        },
                    );
                }
                Ok(out)
            };
            run().map_err(|e| self.error_from_py(py, e))
        })
    }

    /// Shallow copy of a Python object (BitBake returns copies from the datastore).
    pub(crate) fn copy_object<'py>(&self, obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        self.copy.bind(obj.py()).call1((obj,))
    }
}

impl Hooks for PyRuntime {
    fn eval_inline(&self, d: &Rc<DataStore>, code: &str, varname: Option<&str>) -> Result<InlineResult, DataError> {
        Python::attach(|py| {
            let compiled = {
                let cached = self.inline_cache.borrow().get(code).map(|c| c.clone_ref(py));
                match cached {
                    Some(c) => c,
                    None => {
                        let name = match varname {
                            Some(v) => format!("Var <{v}>"),
                            None => "<expansion>".to_owned(),
                        };
                        let compile = py.import("builtins").and_then(|b| b.getattr("compile"));
                        match compile.and_then(|c| c.call1((code.trim(), name, "eval"))) {
                            Ok(c) => {
                                self.inline_cache.borrow_mut().insert(code.to_owned(), c.clone().unbind());
                                c.unbind()
                            }
                            Err(e) if e.is_instance_of::<PySyntaxError>(py) => {
                                let msg = e.value(py).getattr("msg").map(|m| m.to_string()).unwrap_or_default();
                                if msg.starts_with("unterminated string literal")
                                    || msg == "EOL while scanning string literal"
                                {
                                    return Ok(InlineResult::Unterminated);
                                }
                                return Err(self.error_from_py(py, e));
                            }
                            Err(e) => return Err(self.error_from_py(py, e)),
                        }
                    }
                }
            };
            let run = || -> PyResult<String> {
                let ctx = self.context(py);
                let dobj = datasmart::wrap(py, d.clone())?;
                let previous = ctx.get_item("d")?;
                ctx.set_item("d", &dobj)?;
                let locals = self.data_context.bind(py).call1((&dobj,));
                let result =
                    locals.and_then(|l| py.import("builtins")?.getattr("eval")?.call1((compiled.bind(py), &ctx, l)));
                match previous {
                    Some(p) => ctx.set_item("d", p)?,
                    None => ctx.del_item("d")?,
                }
                Ok(result?.str()?.to_string())
            };
            run().map(InlineResult::Value).map_err(|e| self.error_from_py(py, e))
        })
    }

    fn python_deps(&self, code: &str, name: &str) -> Result<Rc<PythonDeps>, DataError> {
        if let Some(hit) = self.deps_cache.borrow().get(code) {
            return Ok(hit.clone());
        }
        let deps = Python::attach(|py| {
            let run = || -> PyResult<PythonDeps> {
                let parser = self.python_parser.bind(py).call1((name,))?;
                parser.call_method1("parse_python", (code,))?;
                let strs = |attr: &str| -> PyResult<BTreeSet<Str>> {
                    let v: BTreeSet<String> = parser.getattr(attr)?.extract()?;
                    Ok(v.into_iter().map(Str::from).collect())
                };
                let mut contains = BTreeMap::new();
                for (k, v) in parser.getattr("contains")?.cast_into::<PyDict>()?.iter() {
                    let items: BTreeSet<String> = v.extract()?;
                    contains.insert(Str::from(k.extract::<String>()?), items.into_iter().map(Str::from).collect());
                }
                Ok(PythonDeps { references: strs("references")?, execs: strs("execs")?, contains })
            };
            run().map_err(|e| self.error_from_py(py, e))
        })?;
        let deps = Rc::new(deps);
        self.deps_cache.borrow_mut().insert(code.to_owned(), deps.clone());
        Ok(deps)
    }

    fn apply_filter(&self, value: &str, expression: &str) -> Result<String, DataError> {
        Python::attach(|py| {
            let run = || -> PyResult<String> {
                let r = self.apply_filters.bind(py).call1((value, PyList::new(py, [expression])?))?;
                Ok(r.str()?.to_string())
            };
            run().map_err(|e| self.error_from_py(py, e))
        })
    }
}
