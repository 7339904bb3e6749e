//! The request of the `populate-lic` built-in (license.bbclass `do_populate_lic`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use rstore_evaluator::builtin::BuiltinRequest;
use rstore_evaluator::builtin::license::{LicenseFile, LicenseRequest};

use super::BuildContext;
use super::values::{fatal, path, string};
use crate::datastore::{DataError, DataStore};

/// Where license files kept outside the task's work area (in a layer, say) are
/// mounted inside the sandbox, one directory per entry.
pub const LICENSE_FILES_INSIDE: &str = "/rstore/license-files";

/// `do_populate_lic`: the `LIC_FILES_CHKSUM` entries, each with where its file is
/// read inside the sandbox: `${S}/<path>` for a relative path; an absolute path below
/// `TMPDIR` is read where it is, any other absolute path is a host file mounted
/// read-only under [`LICENSE_FILES_INSIDE`].
pub fn populate_lic_request(d: &Rc<DataStore>, _ctx: &BuildContext) -> Result<BuiltinRequest, DataError> {
    let pn = string(d, "PN")?;
    let s = path(d, "S")?;
    let tmpdir = path(d, "TMPDIR")?;
    let mut files = Vec::new();
    for (index, entry) in string(d, "LIC_FILES_CHKSUM")?.split_whitespace().enumerate() {
        let (location, params) = entry.split_once(';').unwrap_or((entry, ""));
        let Some(file) = location.strip_prefix("file://") else {
            return Err(fatal(d, &format!("LIC_FILES_CHKSUM entry {entry}: only file:// entries are supported")));
        };
        let mut parm: BTreeMap<&str, &str> = BTreeMap::new();
        for item in params.split(';').filter(|i| !i.is_empty()) {
            let (key, value) = item.split_once('=').unwrap_or((item, ""));
            parm.insert(key, value);
        }
        let md5 = parm
            .get("md5")
            .filter(|m| !m.is_empty())
            .ok_or_else(|| fatal(d, &format!("LIC_FILES_CHKSUM entry {entry} has no md5=")))?;
        if md5.len() != 32 || !md5.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(fatal(d, &format!("LIC_FILES_CHKSUM entry {entry}: md5 {md5} is not 32 hex digits")));
        }
        let line = |key: &str| -> Result<Option<usize>, DataError> {
            match parm.get(key).filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(v) => match v.parse::<usize>() {
                    Ok(n) if n >= 1 => Ok(Some(n)),
                    _ => Err(fatal(d, &format!("LIC_FILES_CHKSUM entry {entry}: {key}={v} is not a line number"))),
                },
            }
        };
        let (location, host) = if Path::new(file).is_absolute() {
            if Path::new(file).starts_with(&tmpdir) {
                (PathBuf::from(file), None)
            } else {
                let name = Path::new(file).file_name().map(|n| n.to_owned()).unwrap_or_default();
                (Path::new(LICENSE_FILES_INSIDE).join(index.to_string()).join(name), Some(PathBuf::from(file)))
            }
        } else {
            (s.join(file), None)
        };
        files.push(LicenseFile {
            path: file.to_owned(),
            location,
            host,
            md5: md5.to_ascii_lowercase(),
            begin_line: line("beginline")?,
            end_line: line("endline")?,
        });
    }
    Ok(BuiltinRequest::PopulateLic(LicenseRequest {
        dest: path(d, "LICENSE_DESTDIR")?.join(&pn),
        recipe: pn,
        files,
        license: string(d, "LICENSE")?,
        pv: string(d, "PV")?,
        pr: string(d, "PR")?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    fn data(chksum: &str) -> Rc<DataStore> {
        let d = DataStore::new(None);
        for (k, v) in [
            ("PN", "hello"),
            ("PV", "1.0"),
            ("PR", "r0"),
            ("LICENSE", "MIT"),
            ("TMPDIR", "/rstore/tmp"),
            ("S", "/rstore/tmp/work/hello/sources"),
            ("LICENSE_DESTDIR", "/rstore/tmp/work/hello/license-destdir"),
            ("LIC_FILES_CHKSUM", chksum),
        ] {
            d.set_var(k, Value::str(v), false, None, "set").unwrap();
        }
        d
    }

    /// The files of a request, or the error's text.
    fn files(chksum: &str) -> Result<Vec<LicenseFile>, Box<dyn std::error::Error>> {
        match populate_lic_request(&data(chksum), &BuildContext::default()) {
            Ok(BuiltinRequest::PopulateLic(r)) => Ok(r.files),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e.to_string().into()),
        }
    }

    #[test]
    fn entries_are_read_as_the_class_reads_them() {
        let md5 = "d82c3b077c4ea41f7d3ed3bf6e03052f";
        let got = files(&format!(
            "file://hello.c;beginline=4;endline=23;md5={md5} file:///layers/licenses/MIT;md5={} \
             file:///rstore/tmp/work/hello/COPYING;md5={md5}",
            md5.to_uppercase()
        ))
        .unwrap();
        assert_eq!(got[0].location, Path::new("/rstore/tmp/work/hello/sources/hello.c"));
        assert_eq!((got[0].begin_line, got[0].end_line, got[0].host.as_deref()), (Some(4), Some(23), None));
        assert_eq!(got[1].location, Path::new("/rstore/license-files/1/MIT"));
        assert_eq!(got[1].host.as_deref(), Some(Path::new("/layers/licenses/MIT")));
        assert_eq!(got[1].md5, md5);
        assert_eq!(
            (got[2].location.as_path(), got[2].host.as_deref()),
            (Path::new("/rstore/tmp/work/hello/COPYING"), None)
        );
    }

    #[test]
    fn bad_entries_are_named() {
        let err = files("http://x/COPYING;md5=d82c3b077c4ea41f7d3ed3bf6e03052f").unwrap_err().to_string();
        assert!(err.contains("only file:// entries are supported"), "{err}");
        let err = files("file://COPYING").unwrap_err().to_string();
        assert!(err.contains("has no md5="), "{err}");
        let err = files("file://COPYING;md5=d82c3b077c4ea41f7d3ed3bf6e03052f;beginline=0").unwrap_err().to_string();
        assert!(err.contains("beginline=0 is not a line number"), "{err}");
        let err = files("file://COPYING;md5=abc").unwrap_err().to_string();
        assert!(err.starts_with("hello: LIC_FILES_CHKSUM entry"), "{err}");
    }
}
