#![allow(non_snake_case)] // the methods carry the names of BitBake's Python API

//! The `d` object metadata Python sees: BitBake's DataSmart API over our datastore, and
//! the other functions of the native `_rstore` module.

use std::rc::Rc;

use pyo3::exceptions::{PyKeyError, PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PySet, PyString, PyTuple};

use super::{LogLevel, runtime, with_host};
use crate::datastore::{DataError, DataStore, Read};
use crate::tasks;
use crate::value::Value;

/// A datastore as a Python object.
#[pyclass(unsendable, module = "_rstore", name = "DataSmart")]
pub struct DataSmart {
    pub inner: Rc<DataStore>,
}

/// Wrap a datastore for Python.
pub fn wrap(py: Python<'_>, d: Rc<DataStore>) -> PyResult<Bound<'_, DataSmart>> {
    Bound::new(py, DataSmart { inner: d })
}

fn err(py: Python<'_>, e: DataError) -> PyErr {
    match runtime() {
        Ok(rt) => rt.error_to_py(py, e),
        Err(init) => PyRuntimeError::new_err(format!("{e} ({init})")),
    }
}

/// A datastore held as a value of another datastore (BB_ORIGENV).
pub fn to_value(d: Rc<DataStore>) -> PyResult<Value> {
    Python::attach(|py| Ok(Value::Py(Rc::new(wrap(py, d)?.into_any().unbind()))))
}

/// A datastore value as a Python object (containers are fresh copies).
pub fn to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Str(s) => PyString::new(py, s).into_any(),
        Value::Int(i) => i.into_pyobject(py)?.into_any(),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::None => py.None().into_bound(py),
        Value::List(items) => {
            let l = PyList::empty(py);
            for i in items.iter() {
                l.append(to_py(py, i)?)?;
            }
            l.into_any()
        }
        Value::Tuple(items) => {
            let items: Vec<Bound<'py, PyAny>> = items.iter().map(|i| to_py(py, i)).collect::<PyResult<_>>()?;
            PyTuple::new(py, items)?.into_any()
        }
        Value::Conditionals(items) => {
            let l = PyList::empty(py);
            for c in items.iter() {
                let o = match &c.overrides {
                    Some(o) => PyString::new(py, o).into_any(),
                    None => py.None().into_bound(py),
                };
                l.append(PyList::new(py, [to_py(py, &c.value)?, o])?)?;
            }
            l.into_any()
        }
        Value::Py(obj) => {
            let b = obj.bind(py).clone();
            if b.is_instance_of::<PyList>() || b.is_instance_of::<PyDict>() || b.is_instance_of::<PySet>() {
                match runtime() {
                    Ok(rt) => rt.copy_object(&b)?,
                    Err(_) => b,
                }
            } else {
                b
            }
        }
    })
}

/// A Python object as a datastore value.
pub fn from_py(obj: &Bound<'_, PyAny>) -> Value {
    if let Ok(s) = obj.cast::<PyString>() {
        if let Ok(s) = s.to_str() {
            return Value::str(s);
        }
    } else if obj.is_instance_of::<PyBool>() {
        return Value::Bool(obj.is_truthy().unwrap_or(false));
    } else if obj.is_none() {
        return Value::None;
    } else if obj.is_exact_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            return Value::Int(i);
        }
    } else if obj.is_exact_instance_of::<PyList>() || obj.is_exact_instance_of::<PyTuple>() {
        let items: Vec<Value> = match obj.try_iter() {
            Ok(it) => it.filter_map(Result::ok).map(|i| from_py(&i)).collect(),
            Err(_) => return Value::Py(Rc::new(obj.clone().unbind())),
        };
        if items.iter().all(|v| !matches!(v, Value::Py(_))) {
            return if obj.is_exact_instance_of::<PyList>() {
                Value::List(Rc::new(items))
            } else {
                Value::Tuple(Rc::new(items))
            };
        }
    } else if obj.is_instance_of::<PyFloat>() {
        // stored as an object so it reads back as a float
    }
    Value::Py(Rc::new(obj.clone().unbind()))
}

/// A boolean argument accepting any Python value by truthiness (`d.getVar(x, 1)`).
pub struct Truthy(bool);

impl<'a, 'py> FromPyObject<'a, 'py> for Truthy {
    type Error = PyErr;
    fn extract(obj: pyo3::Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        Ok(Truthy(obj.is_truthy()?))
    }
}

fn opt_bool(kwargs: Option<&Bound<'_, PyDict>>, key: &str) -> bool {
    kwargs.and_then(|k| k.get_item(key).ok().flatten()).is_some_and(|v| v.is_truthy().unwrap_or(false))
}

fn py_str(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    Ok(obj.str()?.to_string())
}

#[pymethods]
impl DataSmart {
    #[new]
    fn py_new() -> PyResult<Self> {
        let hooks = super::hooks().map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        Ok(DataSmart { inner: DataStore::new(Some(hooks)) })
    }

    #[pyo3(signature = (var, expand = Truthy(true), noweakdefault = Truthy(false), parsing = Truthy(false)))]
    fn getVar<'py>(
        &self,
        py: Python<'py>,
        var: &str,
        expand: Truthy,
        noweakdefault: Truthy,
        parsing: Truthy,
    ) -> PyResult<Bound<'py, PyAny>> {
        let read = Read { expand: expand.0, noweakdefault: noweakdefault.0, parsing: parsing.0 };
        let v = self.inner.get_var_flag(var, "_content", read).map_err(|e| err(py, e))?;
        match v {
            Some(v) => to_py(py, &v),
            None => Ok(py.None().into_bound(py)),
        }
    }

    #[pyo3(signature = (var, value, **kwargs))]
    fn setVar(
        &self,
        py: Python<'_>,
        var: &str,
        value: &Bound<'_, PyAny>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        let parsing = opt_bool(kwargs, "parsing");
        self.inner.set_var(var, from_py(value), parsing, None, "set").map_err(|e| err(py, e))
    }

    #[allow(clippy::too_many_arguments)] // BitBake's signature
    #[pyo3(signature = (var, flag, expand = Truthy(true), noweakdefault = Truthy(false), parsing = Truthy(false), retparser = Truthy(false)))]
    fn getVarFlag<'py>(
        &self,
        py: Python<'py>,
        var: &str,
        flag: &str,
        expand: Truthy,
        noweakdefault: Truthy,
        parsing: Truthy,
        retparser: Truthy,
    ) -> PyResult<Bound<'py, PyAny>> {
        let _ = retparser;
        if flag.is_empty() {
            return Ok(py.None().into_bound(py));
        }
        let read = Read { expand: expand.0, noweakdefault: noweakdefault.0, parsing: parsing.0 };
        let v = self.inner.get_var_flag(var, flag, read).map_err(|e| err(py, e))?;
        match v {
            Some(v) => to_py(py, &v),
            None => Ok(py.None().into_bound(py)),
        }
    }

    #[pyo3(signature = (var, flag, value, **kwargs))]
    fn setVarFlag(
        &self,
        py: Python<'_>,
        var: &str,
        flag: &str,
        value: &Bound<'_, PyAny>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        let _ = kwargs;
        self.inner.set_var_flag(var, flag, from_py(value), None, "set").map_err(|e| err(py, e))
    }

    #[pyo3(signature = (var, expand = None, internalflags = Truthy(false)))]
    fn getVarFlags<'py>(
        &self,
        py: Python<'py>,
        var: &str,
        expand: Option<&Bound<'py, PyAny>>,
        internalflags: Truthy,
    ) -> PyResult<Bound<'py, PyAny>> {
        let names: Vec<String> = match expand {
            None => Vec::new(),
            Some(e) if e.is_instance_of::<PyBool>() => {
                if e.is_truthy()? {
                    return Err(PyTypeError::new_err("argument of type 'bool' is not iterable"));
                }
                Vec::new()
            }
            Some(e) if e.is_none() => Vec::new(),
            Some(e) => e.try_iter()?.map(|i| i.and_then(|i| py_str(&i))).collect::<PyResult<_>>()?,
        };
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        match self.inner.get_var_flags(var, &refs, internalflags.0).map_err(|e| err(py, e))? {
            None => Ok(py.None().into_bound(py)),
            Some(flags) => {
                let dict = PyDict::new(py);
                for (k, v) in flags {
                    dict.set_item(k, to_py(py, &v)?)?;
                }
                Ok(dict.into_any())
            }
        }
    }

    #[pyo3(signature = (var, flags, **kwargs))]
    fn setVarFlags(&self, var: &str, flags: &Bound<'_, PyDict>, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
        let _ = kwargs;
        let mut list = Vec::new();
        for (k, v) in flags.iter() {
            list.push((py_str(&k)?, from_py(&v)));
        }
        self.inner.set_var_flags(var, list);
        Ok(())
    }

    #[pyo3(signature = (var, **kwargs))]
    fn delVar(&self, var: &str, kwargs: Option<&Bound<'_, PyDict>>) {
        let _ = kwargs;
        self.inner.del_var(var, None);
    }

    #[pyo3(signature = (var, flag, **kwargs))]
    fn delVarFlag(&self, var: &str, flag: &str, kwargs: Option<&Bound<'_, PyDict>>) {
        let _ = kwargs;
        self.inner.del_var_flag(var, flag, None);
    }

    #[pyo3(signature = (var, **kwargs))]
    fn delVarFlags(&self, var: &str, kwargs: Option<&Bound<'_, PyDict>>) {
        let _ = kwargs;
        self.inner.del_var_flags(var);
    }

    #[pyo3(signature = (var, value, **kwargs))]
    fn appendVar(
        &self,
        py: Python<'_>,
        var: &str,
        value: &Bound<'_, PyAny>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        let _ = kwargs;
        self.inner.append_var(var, from_py(value), None).map_err(|e| err(py, e))
    }

    #[pyo3(signature = (var, value, **kwargs))]
    fn prependVar(
        &self,
        py: Python<'_>,
        var: &str,
        value: &Bound<'_, PyAny>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        let _ = kwargs;
        self.inner.prepend_var(var, from_py(value), None).map_err(|e| err(py, e))
    }

    #[pyo3(signature = (var, flag, value, **kwargs))]
    fn appendVarFlag(
        &self,
        py: Python<'_>,
        var: &str,
        flag: &str,
        value: &Bound<'_, PyAny>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        let _ = kwargs;
        self.inner.append_var_flag(var, flag, &py_str(value)?, None).map_err(|e| err(py, e))
    }

    #[pyo3(signature = (var, flag, value, **kwargs))]
    fn prependVarFlag(
        &self,
        py: Python<'_>,
        var: &str,
        flag: &str,
        value: &Bound<'_, PyAny>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        let _ = kwargs;
        self.inner.prepend_var_flag(var, flag, &py_str(value)?, None).map_err(|e| err(py, e))
    }

    #[pyo3(signature = (s, varname = None))]
    fn expand<'py>(
        &self,
        py: Python<'py>,
        s: &Bound<'py, PyAny>,
        varname: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let Ok(text) = s.cast::<PyString>() else {
            return Ok(s.clone());
        };
        let out = self.inner.expand(text.to_str()?, varname.as_deref()).map_err(|e| err(py, e))?;
        Ok(PyString::new(py, &out).into_any())
    }

    /// `d.expandWithRefs(s, varname)`: an object with `.value` and `.references`.
    fn expandWithRefs<'py>(
        &self,
        py: Python<'py>,
        s: &Bound<'py, PyAny>,
        varname: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let e = self.inner.expand_with_refs(Some(from_py(s)), varname.as_deref()).map_err(|e| err(py, e))?;
        let ns = py.import("types")?.getattr("SimpleNamespace")?.call0()?;
        ns.setattr(
            "value",
            match &e.value {
                Some(v) => to_py(py, v)?,
                None => py.None().into_bound(py),
            },
        )?;
        let refs = PySet::empty(py)?;
        for r in &e.references {
            refs.add(&**r)?;
        }
        ns.setattr("references", refs)?;
        ns.setattr("execs", PySet::empty(py)?)?;
        ns.setattr("contains", PyDict::new(py))?;
        Ok(ns)
    }

    fn keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let keys = self.inner.keys().map_err(|e| err(py, e))?;
        PyList::new(py, keys.iter().map(|k| &**k))
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.keys(py)?.try_iter().map(|i| i.into_any())
    }

    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.inner.keys().map_err(|e| err(py, e))?.len())
    }

    fn __contains__(&self, py: Python<'_>, key: &str) -> PyResult<bool> {
        Ok(self.inner.get_var(key, false).map_err(|e| err(py, e))?.is_some())
    }

    fn __getitem__<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Bound<'py, PyAny>> {
        match self.inner.get_var(key, false).map_err(|e| err(py, e))? {
            Some(v) => to_py(py, &v),
            None => Err(PyKeyError::new_err(key.to_owned())),
        }
    }

    fn __setitem__(&self, py: Python<'_>, key: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.set_var(key, from_py(value), false, None, "set").map_err(|e| err(py, e))
    }

    fn __delitem__(&self, key: &str) {
        self.inner.del_var(key, None);
    }

    fn localkeys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.inner.local_keys().iter().map(|k| &**k))
    }

    fn createCopy(&self) -> DataSmart {
        DataSmart { inner: self.inner.create_copy() }
    }

    #[pyo3(signature = (key, newkey, **kwargs))]
    fn renameVar(&self, py: Python<'_>, key: &str, newkey: &str, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
        let _ = kwargs;
        self.inner.rename_var(key, newkey, None).map_err(|e| err(py, e))
    }

    fn hasOverrides(&self, var: &str) -> bool {
        self.inner.has_overrides(var)
    }

    fn setVarFilter(&self, var: &str, filter: Option<&str>) {
        self.inner.set_var_filter(var, filter);
    }

    #[pyo3(signature = (variable, parents = Truthy(false)))]
    fn expandVarref(&self, py: Python<'_>, variable: &str, parents: Truthy) -> PyResult<()> {
        let _ = parents;
        self.inner.expand_varref(variable).map_err(|e| err(py, e))
    }

    fn initVar(&self, var: &str) {
        if self.inner.find_var(var).is_none() {
            self.inner.set_var_flags(var, Vec::new());
        }
    }

    /// `bb.data.expandKeys(d)`.
    fn expandKeys(&self, py: Python<'_>) -> PyResult<()> {
        let warnings = self.inner.expand_keys().map_err(|e| err(py, e))?;
        for w in warnings {
            with_host(|h| h.log(LogLevel::Warn, &w));
        }
        Ok(())
    }

    fn enableTracking(&self) {
        self.inner.enable_tracking();
    }

    fn disableTracking(&self) {}

    #[getter]
    fn varhistory(&self) -> VarHistory {
        VarHistory { inner: self.inner.clone() }
    }

    #[getter]
    fn inchistory(&self) -> IncHistory {
        IncHistory {}
    }

    fn __bool__(&self) -> bool {
        true
    }

    fn __repr__(&self) -> String {
        "<rstore datastore>".to_owned()
    }
}

/// `d.varhistory`: the recorded operations on a variable.
#[pyclass(unsendable, module = "_rstore")]
pub struct VarHistory {
    inner: Rc<DataStore>,
}

#[pymethods]
impl VarHistory {
    fn variable<'py>(&self, py: Python<'py>, var: &str) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for ev in self.inner.history(var) {
            let dict = PyDict::new(py);
            dict.set_item("op", ev.op)?;
            dict.set_item("file", ev.file)?;
            dict.set_item("line", ev.line)?;
            dict.set_item("detail", ev.detail)?;
            if let Some(f) = ev.flag {
                dict.set_item("flag", f)?;
            }
            list.append(dict)?;
        }
        Ok(list)
    }

    #[pyo3(signature = (*args, **kwargs))]
    fn record(&self, args: &Bound<'_, PyTuple>, kwargs: Option<&Bound<'_, PyDict>>) {
        let _ = (args, kwargs);
    }
}

/// `d.inchistory`: include history is not kept in the datastore.
#[pyclass(module = "_rstore")]
pub struct IncHistory {}

#[pymethods]
impl IncHistory {
    fn include<'py>(slf: PyRef<'py, Self>, _filename: &str) -> PyRef<'py, Self> {
        slf
    }
    fn __enter__(&self) {}
    #[pyo3(signature = (*args))]
    fn __exit__(&self, args: &Bound<'_, PyTuple>) -> bool {
        let _ = args;
        false
    }
}

#[pyfunction]
#[pyo3(signature = (task, before, after, d))]
fn addtask(
    py: Python<'_>,
    task: &str,
    before: Option<&str>,
    after: Option<&str>,
    d: PyRef<'_, DataSmart>,
) -> PyResult<()> {
    tasks::addtask(&d.inner, task, before, after).map_err(|e| err(py, e))
}

#[pyfunction]
fn deltask(py: Python<'_>, task: &str, d: PyRef<'_, DataSmart>) -> PyResult<()> {
    tasks::deltask(&d.inner, task).map_err(|e| err(py, e))
}

thread_local! {
    /// The last error or fatal message logged, to explain a bare BBHandledException.
    static LAST_ERROR: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Take the last error message logged by metadata Python.
pub fn take_last_error() -> Option<String> {
    LAST_ERROR.with(|l| l.borrow_mut().take())
}

#[pyfunction]
fn log(level: &str, message: &str) {
    let level = LogLevel::parse(level);
    if level >= LogLevel::Error {
        LAST_ERROR.with(|l| *l.borrow_mut() = Some(message.to_owned()));
    }
    if with_host(|h| h.log(level, message)).is_none() {
        match level {
            LogLevel::Debug => tracing::debug!("{message}"),
            LogLevel::Note => tracing::info!("{message}"),
            LogLevel::Warn => tracing::warn!("{message}"),
            LogLevel::Error | LogLevel::Fatal => tracing::error!("{message}"),
        }
    }
}

#[pyfunction]
fn mark_dependency(d: PyRef<'_, DataSmart>, path: &str) {
    with_host(|h| h.mark_dependency(&d.inner, path));
}

#[pyfunction]
fn inherit(py: Python<'_>, classes: &str, filename: &str, lineno: u32, d: PyRef<'_, DataSmart>) -> PyResult<()> {
    match with_host(|h| h.inherit(&d.inner, classes, filename, lineno)) {
        Some(r) => r.map_err(|e| err(py, e)),
        None => Err(PyRuntimeError::new_err("inherit is only possible while parsing")),
    }
}

/// Add the native API to the `_rstore` module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<DataSmart>()?;
    m.add_class::<VarHistory>()?;
    m.add_class::<IncHistory>()?;
    m.add_function(wrap_pyfunction!(addtask, m)?)?;
    m.add_function(wrap_pyfunction!(deltask, m)?)?;
    m.add_function(wrap_pyfunction!(log, m)?)?;
    m.add_function(wrap_pyfunction!(mark_dependency, m)?)?;
    m.add_function(wrap_pyfunction!(inherit, m)?)?;
    Ok(())
}
