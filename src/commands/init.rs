//! `rstore init`: create a build directory for the bundled layers (what
//! `oe-init-build-env` does for openembedded-core).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::GlobalArgs;

/// Create a build directory (conf/bblayers.conf, conf/local.conf) for the bundled layers
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Directory to create or complete [default: ./build]
    pub dir: Option<PathBuf>,
    /// Layers directory holding meta-core [default: the bundled layers]
    #[arg(long, env = "RSTORE_LAYERS_DIR")]
    pub layers: Option<PathBuf>,
}

/// Where the bundled layers are: next to the installed binary, in the source tree it
/// was built from, or where RSTORE_LAYERS_DIR says.
pub fn bundled_layers() -> Option<PathBuf> {
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1) {
            for candidate in [dir.join("layers"), dir.join("share/rstore/layers")] {
                if candidate.join("meta-core/conf/layer.conf").is_file() {
                    return Some(candidate);
                }
            }
        }
    }
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("layers");
    source.join("meta-core/conf/layer.conf").is_file().then_some(source)
}

pub fn run(_global: &GlobalArgs, args: InitArgs) -> anyhow::Result<ExitCode> {
    let layers = match args.layers.or_else(bundled_layers) {
        Some(l) => l,
        None => bail!("cannot find the bundled layers: pass --layers DIR or set RSTORE_LAYERS_DIR"),
    };
    let layers = layers.canonicalize().with_context(|| format!("reading {}", layers.display()))?;
    let templates = layers.join("meta-core/conf/templates/default");
    let dir = args.dir.unwrap_or_else(|| PathBuf::from("build"));
    let conf = dir.join("conf");
    std::fs::create_dir_all(&conf).with_context(|| format!("creating {}", conf.display()))?;
    let layers_str = layers.display().to_string();
    let mut created = Vec::new();
    for name in ["bblayers.conf", "local.conf"] {
        let target = conf.join(name);
        if target.exists() {
            eprintln!("keeping existing {}", target.display());
            continue;
        }
        let sample = templates.join(format!("{name}.sample"));
        let text = std::fs::read_to_string(&sample).with_context(|| format!("reading {}", sample.display()))?;
        std::fs::write(&target, text.replace("##LAYERSDIR##", &layers_str))
            .with_context(|| format!("writing {}", target.display()))?;
        created.push(target);
    }
    for c in &created {
        println!("created {}", c.display());
    }
    if let Ok(notes) = std::fs::read_to_string(templates.join("conf-notes.txt")) {
        eprintln!("{notes}");
    }
    Ok(ExitCode::SUCCESS)
}
