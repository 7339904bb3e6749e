//! The `prepare-sysroot` built-in (staging.bbclass `do_prepare_recipe_sysroot`):
//! gather what every build dependency staged into this recipe's own sysroots.
//!
//! Each provider is the output of one dependency's `do_populate_sysroot` (mounted
//! read-only); what it staged is one directory inside that output. Providers are
//! staged in the order given (the importer sorts them by name), `-native` ones into
//! the native sysroot, the others into the target sysroot; a file two providers stage
//! at the same place is the later one's. Files are hard-linked where the file system
//! allows (never across mounts) and copied otherwise; symbolic links are recreated
//! as they are, so nothing in a sysroot points back into a dependency's output.

use std::io::Write;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::package::tree::{self, FileCopy, TreeError};

/// The `prepare-sysroot` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SysrootRequest {
    /// The recipe (PN), for messages.
    pub recipe: String,
    /// `${RECIPE_SYSROOT}`: where target providers are staged.
    pub target_sysroot: PathBuf,
    /// `${RECIPE_SYSROOT_NATIVE}`: where `-native` providers are staged.
    pub native_sysroot: PathBuf,
    /// What to stage, in order.
    pub providers: Vec<SysrootProvider>,
}

/// One dependency's staged files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SysrootProvider {
    /// The dependency (PN).
    pub name: String,
    /// Staged into the native sysroot (a `-native` recipe).
    pub native: bool,
    /// The output of its `do_populate_sysroot` (its work directory after that task).
    pub output: PathBuf,
    /// What it staged: `${SYSROOT_DESTDIR}${SYSROOT_PREFIX}`, relative to `output`.
    pub staged: PathBuf,
}

/// Why preparing the sysroots failed.
#[derive(Debug, thiserror::Error)]
pub enum SysrootError {
    #[error("{recipe} depends on {provider}, whose sysroot is missing: {} does not exist", output.display())]
    MissingProvider { recipe: String, provider: String, output: PathBuf },
    #[error("staging {provider} into {}", into.display())]
    Stage {
        provider: String,
        into: PathBuf,
        #[source]
        source: TreeError,
    },
}

/// Stage every provider.
pub fn run(request: &SysrootRequest, log: &mut dyn Write) -> Result<(), SysrootError> {
    for dir in [&request.target_sysroot, &request.native_sysroot] {
        tree::make_dirs(dir).map_err(|source| SysrootError::Stage {
            provider: request.recipe.clone(),
            into: dir.clone(),
            source,
        })?;
    }
    for provider in &request.providers {
        if !provider.output.is_dir() {
            return Err(SysrootError::MissingProvider {
                recipe: request.recipe.clone(),
                provider: provider.name.clone(),
                output: provider.output.clone(),
            });
        }
        let (into, which) = if provider.native {
            (&request.native_sysroot, "the native sysroot")
        } else {
            (&request.target_sysroot, "the sysroot")
        };
        let staged = provider.output.join(&provider.staged);
        if !staged.is_dir() {
            let _ = writeln!(log, "NOTE: {} staged nothing", provider.name);
            continue;
        }
        let stats = tree::copy_tree(&staged, into, FileCopy::LinkOrCopy).map_err(|source| SysrootError::Stage {
            provider: provider.name.clone(),
            into: into.clone(),
            source,
        })?;
        let _ = writeln!(log, "NOTE: Staged {} into {which} ({} files)", provider.name, stats.files);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::Path;

    use super::*;

    fn provider(name: &str, output: &Path, staged: &str) -> SysrootProvider {
        SysrootProvider {
            name: name.into(),
            native: name.ends_with("-native"),
            output: output.to_path_buf(),
            staged: staged.into(),
        }
    }

    #[test]
    fn stages_target_and_native_providers_apart() {
        let t = tempfile::tempdir().unwrap();
        let zlib = t.path().join("deps/zlib");
        fs::create_dir_all(zlib.join("sysroot-destdir/usr/include")).unwrap();
        fs::write(zlib.join("sysroot-destdir/usr/include/zlib.h"), "h").unwrap();
        std::os::unix::fs::symlink("libz.so.1", zlib.join("sysroot-destdir/usr/libz.so")).unwrap();
        let native = t.path().join("deps/zstd-native");
        let prefix = "sysroot-destdir/rstore/tmp/work/zstd-native/recipe-sysroot-native";
        fs::create_dir_all(native.join(prefix).join("usr/bin")).unwrap();
        fs::write(native.join(prefix).join("usr/bin/zstd"), "zstd").unwrap();
        let empty = t.path().join("deps/empty-native");
        fs::create_dir_all(&empty).unwrap();
        let request = SysrootRequest {
            recipe: "image".into(),
            target_sysroot: t.path().join("work/recipe-sysroot"),
            native_sysroot: t.path().join("work/recipe-sysroot-native"),
            providers: vec![
                provider("empty-native", &empty, "sysroot-destdir/x"),
                provider("zlib", &zlib, "sysroot-destdir"),
                provider("zstd-native", &native, prefix),
            ],
        };
        let mut log = Vec::new();
        run(&request, &mut log).unwrap();
        let log = String::from_utf8(log).unwrap();
        assert!(log.contains("empty-native staged nothing"), "{log}");
        assert_eq!(fs::read(t.path().join("work/recipe-sysroot/usr/include/zlib.h")).unwrap(), b"h");
        assert_eq!(fs::read_link(t.path().join("work/recipe-sysroot/usr/libz.so")).unwrap(), Path::new("libz.so.1"));
        assert_eq!(fs::read(t.path().join("work/recipe-sysroot-native/usr/bin/zstd")).unwrap(), b"zstd");
        assert!(!t.path().join("work/recipe-sysroot/usr/bin").exists());
    }

    #[test]
    fn a_missing_provider_output_is_an_error() {
        let t = tempfile::tempdir().unwrap();
        let request = SysrootRequest {
            recipe: "zstd".into(),
            target_sysroot: t.path().join("a"),
            native_sysroot: t.path().join("b"),
            providers: vec![provider("zlib", &t.path().join("missing"), "sysroot-destdir")],
        };
        let err = run(&request, &mut Vec::new()).unwrap_err();
        assert!(err.to_string().starts_with("zstd depends on zlib, whose sysroot is missing: "), "{err}");
    }
}
