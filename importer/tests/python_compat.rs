//! Runs the `bb` compatibility package's own tests (`importer/python/tests/`) inside the
//! embedded interpreter, against the real `_rstore` datastore.

use std::ffi::CString;

use pyo3::prelude::*;

#[test]
fn bb_compatibility_package() {
    rstore_importer::python::runtime().expect("embedded Python starts");
    let source = include_str!("../python/tests/test_bb_compat.py");
    Python::attach(|py| {
        let module = PyModule::from_code(py, &CString::new(source).unwrap(), c"test_bb_compat.py", c"test_bb_compat")
            .expect("the test module loads");
        let (passed, failed, failures): (usize, usize, Vec<(String, String)>) =
            module.getattr("run_all").unwrap().call0().unwrap().extract().unwrap();
        for (name, text) in &failures {
            eprintln!("FAILED {name}\n{text}");
        }
        assert_eq!(failed, 0, "{failed} of {} Python tests failed", passed + failed);
        assert!(passed > 20, "only {passed} Python tests ran");
    });
}
