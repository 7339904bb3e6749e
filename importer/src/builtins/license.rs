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
