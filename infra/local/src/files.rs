//! Where the local stack finds its files and keeps its state, so that `slm` runs as well from
//! its checkout (`cargo run`) as installed anywhere (`cargo install --path cli`).
//!
//! **The project's files** (template.yaml, the state machine it names, the emulator's scripts)
//! are embedded in the binary. Run from its checkout, the binary reads them from disk instead, so
//! an edit counts without a rebuild. It runs from its checkout when `SLM_CHECKOUT` names one, or
//! when the current directory lies inside the checkout it was built from (`cargo run`, `cargo
//! test`, infra/test-all.sh); anywhere else it uses its embedded copies and never looks at a
//! checkout. (The prices are the core's: `PriceTable::bundled`, embedded there for the functions.)
//!
//! **The state** (stack.json, credentials.json, iam-usage/, the emulator's venv, pid and log)
//! lives in the data directory: `--data-dir` (alias `--root`) or `SLM_DATA_DIR`; else
//! `<checkout>/.local` from the checkout; else `$XDG_DATA_HOME/slm`, by default
//! `~/.local/share/slm`. Installed, the emulator's scripts are written to `<data dir>/emulator/`
//! and run from there.

use anyhow::{Context, Result, anyhow};
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A file of the project, by its path in the checkout, with the copy built into the binary.
#[derive(Debug)]
pub struct File {
    pub path: &'static str,
    embedded: &'static str,
}

pub const TEMPLATE: File = File { path: "template.yaml", embedded: include_str!("../../../template.yaml") };
pub const STATE_MACHINE: File =
    File { path: "infra/statemachine/task.asl.json", embedded: include_str!("../../statemachine/task.asl.json") };
pub const STACK_SH: File = File { path: "infra/local/stack.sh", embedded: include_str!("../stack.sh") };
pub const MOTO_SERVER: File = File { path: "infra/local/moto_server.py", embedded: include_str!("../moto_server.py") };
pub const REQUIREMENTS: File = File { path: "infra/local/requirements.txt", embedded: include_str!("../requirements.txt") };
pub const LOCALSTACK_REQUIREMENTS: File =
    File { path: "infra/local/localstack/requirements.txt", embedded: include_str!("../localstack/requirements.txt") };
pub const LOCALSTACK_PLUGIN_PROJECT: File =
    File { path: "infra/local/localstack/plugin/pyproject.toml", embedded: include_str!("../localstack/plugin/pyproject.toml") };
pub const LOCALSTACK_PLUGIN: File = File {
    path: "infra/local/localstack/plugin/slm_localstack.py",
    embedded: include_str!("../localstack/plugin/slm_localstack.py"),
};

/// Every embedded file.
pub const ALL: [&File; 8] =
    [&TEMPLATE, &STATE_MACHINE, &STACK_SH, &MOTO_SERVER, &REQUIREMENTS, &LOCALSTACK_REQUIREMENTS, &LOCALSTACK_PLUGIN_PROJECT, &LOCALSTACK_PLUGIN];

/// The emulators' scripts, which stack.sh finds where they lie in infra/local.
const EMULATOR: [&File; 6] = [&STACK_SH, &MOTO_SERVER, &REQUIREMENTS, &LOCALSTACK_REQUIREMENTS, &LOCALSTACK_PLUGIN_PROJECT, &LOCALSTACK_PLUGIN];

impl File {
    /// The checkout's copy when running from the checkout, else the embedded one.
    pub fn text(&self) -> Result<Cow<'static, str>> {
        match checkout() {
            Some(dir) => {
                let path = dir.join(self.path);
                Ok(Cow::Owned(std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?))
            }
            None => Ok(Cow::Borrowed(self.embedded)),
        }
    }

    pub fn embedded(&self) -> &'static str {
        self.embedded
    }
}

/// The embedded file at a path relative to the checkout (a template's DefinitionUri, say).
pub fn named(path: &str) -> Option<&'static File> {
    let path = path.strip_prefix("./").unwrap_or(path);
    ALL.into_iter().find(|f| f.path == path)
}

/// The checkout the project's files are read from, if running from one (see the module's doc).
pub fn checkout() -> Option<&'static Path> {
    static CHECKOUT: OnceLock<Option<PathBuf>> = OnceLock::new();
    CHECKOUT
        .get_or_init(|| {
            let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
            let cwd = std::env::current_dir().ok();
            choose_checkout(std::env::var_os("SLM_CHECKOUT").map(PathBuf::from), &built, cwd.as_deref())
        })
        .as_deref()
}

fn choose_checkout(named: Option<PathBuf>, built: &Path, cwd: Option<&Path>) -> Option<PathBuf> {
    if let Some(dir) = named {
        return Some(dir);
    }
    let built = built.canonicalize().ok()?;
    let cwd = cwd?.canonicalize().ok()?;
    (cwd.starts_with(&built) && built.join(TEMPLATE.path).is_file()).then_some(built)
}

static DATA_DIR: OnceLock<PathBuf> = OnceLock::new();

/// Chooses the data directory (the CLI's `--data-dir`), before anything reads it.
pub fn set_data_dir(dir: &Path) -> Result<()> {
    let dir = std::path::absolute(dir).with_context(|| format!("data directory {}", dir.display()))?;
    DATA_DIR.set(dir).map_err(|_| anyhow!("the data directory was read before it was chosen"))
}

/// Where the local stack keeps its state (see the module's doc). Not created here: each writer
/// creates what it writes.
pub fn data_dir() -> &'static Path {
    DATA_DIR.get_or_init(|| {
        let named = std::env::var_os("SLM_DATA_DIR").filter(|d| !d.is_empty()).map(PathBuf::from);
        let xdg = std::env::var_os("XDG_DATA_HOME").map(PathBuf::from);
        let dir = choose_data_dir(named, checkout(), xdg, std::env::home_dir());
        std::path::absolute(&dir).unwrap_or(dir)
    })
}

fn choose_data_dir(named: Option<PathBuf>, checkout: Option<&Path>, xdg_data_home: Option<PathBuf>, home: Option<PathBuf>) -> PathBuf {
    if let Some(dir) = named {
        return dir;
    }
    if let Some(dir) = checkout {
        return dir.join(".local");
    }
    // XDG: a relative XDG_DATA_HOME is invalid and ignored.
    match (xdg_data_home.filter(|d| d.is_absolute()), home) {
        (Some(data), _) => data.join("slm"),
        (None, Some(home)) => home.join(".local/share/slm"),
        (None, None) => PathBuf::from(".slm"),
    }
}

/// The emulator's script: the checkout's infra/local/stack.sh, or, installed, the embedded
/// scripts written to `<data dir>/emulator/` (rewritten when this binary's differ).
pub fn emulator_script() -> Result<PathBuf> {
    if let Some(dir) = checkout() {
        return Ok(dir.join(STACK_SH.path));
    }
    write_emulator(&data_dir().join("emulator"))
}

fn write_emulator(dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for file in EMULATOR {
        let path = dir.join(file.path.strip_prefix("infra/local/").expect("an emulator file lies in infra/local"));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        if std::fs::read_to_string(&path).ok().as_deref() != Some(file.embedded) {
            std::fs::write(&path, file.embedded).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(dir.join("stack.sh"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("slm-files-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn every_file_the_template_names_is_embedded() {
        let template: serde_yaml_ng::Value = serde_yaml_ng::from_str(TEMPLATE.embedded()).unwrap();
        let uris: Vec<&str> = template["Resources"]
            .as_mapping()
            .unwrap()
            .values()
            .filter_map(|r| r["Properties"]["DefinitionUri"].as_str())
            .collect();
        assert!(!uris.is_empty());
        for uri in uris {
            assert!(named(uri).is_some(), "{uri} is named by template.yaml but not embedded (files::ALL)");
        }
    }

    #[test]
    fn a_directory_inside_the_checkout_it_was_built_from_runs_from_the_checkout() {
        let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let inside = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        assert_eq!(choose_checkout(None, &built, Some(&inside)), Some(built.canonicalize().unwrap()));
    }

    #[test]
    fn a_directory_outside_the_checkout_uses_the_embedded_files() {
        let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let outside = temp_dir();
        assert_eq!(choose_checkout(None, &built, Some(&outside)), None);
        std::fs::remove_dir_all(outside).unwrap();
    }

    #[test]
    fn slm_checkout_names_the_checkout_wherever_it_runs() {
        let elsewhere = Path::new("/");
        assert_eq!(choose_checkout(Some("/src/slm".into()), Path::new("/nowhere"), Some(elsewhere)), Some("/src/slm".into()));
    }

    #[test]
    fn the_data_directory_is_the_named_one_then_the_checkouts_then_the_users() {
        let (home, xdg) = (Some(PathBuf::from("/home/u")), Some(PathBuf::from("/data")));
        let checkout = Some(Path::new("/src/slm"));
        assert_eq!(choose_data_dir(Some("/state".into()), checkout, xdg.clone(), home.clone()), Path::new("/state"));
        assert_eq!(choose_data_dir(None, checkout, xdg.clone(), home.clone()), Path::new("/src/slm/.local"));
        assert_eq!(choose_data_dir(None, None, xdg, home.clone()), Path::new("/data/slm"));
        assert_eq!(choose_data_dir(None, None, None, home.clone()), Path::new("/home/u/.local/share/slm"));
        assert_eq!(choose_data_dir(None, None, Some("relative".into()), home), Path::new("/home/u/.local/share/slm"));
    }

    #[test]
    fn the_emulator_is_written_beside_its_state_and_rewritten_when_it_differs() {
        let dir = temp_dir().join("emulator");
        let script = write_emulator(&dir).unwrap();
        assert_eq!(std::fs::read_to_string(&script).unwrap(), STACK_SH.embedded());
        std::fs::write(dir.join("moto_server.py"), "stale").unwrap();
        write_emulator(&dir).unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("moto_server.py")).unwrap(), MOTO_SERVER.embedded());
        assert_eq!(std::fs::read_to_string(dir.join("requirements.txt")).unwrap(), REQUIREMENTS.embedded());
        std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    }
}
