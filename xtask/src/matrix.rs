//! `cargo xtask matrix`: the validation matrix. Capabilities are the rows of the
//! table under "## Capabilities" in `docs/ARCHITECTURE.md`; a test file or scenario
//! proves one by a `proves:` line in its leading comments (`//! proves: F5, D1` in a
//! Rust file, `# proves: F5` in a scenario). It writes `docs/VALIDATION.md`
//! (capability, the tests and scenarios that prove it, their last result from
//! `target/xtask/results.txt`, which `cargo xtask test` writes) and fails when a
//! capability has no test or a tag names no capability.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where `cargo xtask test` leaves the result of each test binary it ran.
pub const RESULTS_FILE: &str = "target/xtask/results.txt";

/// The generated matrix.
pub const MATRIX_FILE: &str = "docs/VALIDATION.md";

/// The repository's root, wherever `cargo xtask` was started.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Directories searched for tagged tests and scenarios.
const ROOTS: [&str; 8] = ["core", "net", "cuda", "model", "sim", "scenarios", "tests", "xtask"];

/// One capability: its id and name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capability {
    pub id: String,
    pub name: String,
}

/// What is wrong with the matrix.
#[derive(Debug, PartialEq, Eq)]
pub enum MatrixProblem {
    /// `docs/ARCHITECTURE.md` lists no capability.
    NoCapabilities,
    /// A capability no test or scenario proves.
    Unproved { id: String },
    /// A tag names a capability the table does not list.
    UnknownCapability { file: String, id: String },
}

impl std::fmt::Display for MatrixProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MatrixProblem::NoCapabilities => write!(f, "docs/ARCHITECTURE.md has no \"## Capabilities\" table"),
            MatrixProblem::Unproved { id } => {
                write!(f, "capability {id} has no test or scenario (tag one `proves: {id}`)")
            }
            MatrixProblem::UnknownCapability { file, id } => {
                write!(f, "{file}: `proves: {id}` names no capability of docs/ARCHITECTURE.md")
            }
        }
    }
}

/// The capabilities the table under "## Capabilities" of `architecture` lists
/// (rows `| id | name |`).
pub fn capabilities(architecture: &str) -> Vec<Capability> {
    let Some(start) = architecture.find("\n## Capabilities") else {
        return Vec::new();
    };
    let section = &architecture[start + 1..];
    let section = section[3..].find("\n## ").map_or(section, |end| &section[..end + 3]);
    section
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.trim().trim_matches('|').split('|').map(str::trim).collect();
            let [id, name, ..] = cells.as_slice() else { return None };
            let digits = id.strip_prefix(['F', 'D'])?;
            let is_id = !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit());
            is_id.then(|| Capability {
                id: (*id).to_owned(),
                name: name.to_string(),
            })
        })
        .collect()
}

/// The ids a file's leading comment block names after `proves:`.
pub fn tags(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .take_while(|line| line.starts_with("//") || line.starts_with('#') || line.is_empty())
        .filter_map(|line| line.trim_start_matches(['/', '!', '#', ' ']).strip_prefix("proves:"))
        .flat_map(|ids| ids.split(',').map(|id| id.trim().to_owned()))
        .filter(|id| !id.is_empty())
        .collect()
}

/// Every tagged file under the roots of `repo`: its path (relative) and its tags.
pub fn tagged_files(repo: &Path) -> Vec<(String, Vec<String>)> {
    let mut found = Vec::new();
    for root in ROOTS {
        walk(&repo.join(root), &mut |path| {
            let is_source = path.extension().is_some_and(|ext| ext == "rs" || ext == "toml");
            let Some(text) = is_source.then(|| std::fs::read_to_string(path).ok()).flatten() else {
                return;
            };
            let ids = tags(&text);
            if !ids.is_empty() {
                let relative = path.strip_prefix(repo).unwrap_or(path).to_string_lossy().into_owned();
                found.push((relative, ids));
            }
        });
    }
    found.sort();
    found
}

fn walk(dir: &Path, visit: &mut dyn FnMut(&Path)) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .collect();
    paths.sort();
    for path in paths {
        let name = path.file_name().and_then(|name| name.to_str()).unwrap_or_default();
        if path.is_dir() && name != "target" && !name.starts_with('.') {
            walk(&path, visit);
        } else if path.is_file() {
            visit(&path);
        }
    }
}

/// Capability id → the files that prove it; with every problem found.
pub fn check(
    capabilities: &[Capability],
    tagged: &[(String, Vec<String>)],
) -> (BTreeMap<String, Vec<String>>, Vec<MatrixProblem>) {
    let mut problems = Vec::new();
    if capabilities.is_empty() {
        problems.push(MatrixProblem::NoCapabilities);
    }
    let mut proved: BTreeMap<String, Vec<String>> = capabilities
        .iter()
        .map(|capability| (capability.id.clone(), Vec::new()))
        .collect();
    for (file, ids) in tagged {
        for id in ids {
            match proved.get_mut(id) {
                Some(files) => files.push(file.clone()),
                None => problems.push(MatrixProblem::UnknownCapability {
                    file: file.clone(),
                    id: id.clone(),
                }),
            }
        }
    }
    for (id, files) in &proved {
        if files.is_empty() {
            problems.push(MatrixProblem::Unproved { id: id.clone() });
        }
    }
    (proved, problems)
}

/// The last results `cargo xtask test` recorded: test executable (file name) →
/// its `test result:` line.
pub fn last_results(results: &str) -> BTreeMap<String, String> {
    let mut by_executable = BTreeMap::new();
    for (executable, result) in results.lines().filter_map(|line| line.split_once('\t')) {
        by_executable.insert(executable.to_owned(), result.to_owned());
    }
    by_executable
}

/// Source file (relative to the repository) → the test executables built from it,
/// for both flavours, as cargo reports them.
fn executables(repo: &Path) -> BTreeMap<String, Vec<(&'static str, String)>> {
    let mut found: BTreeMap<String, Vec<(&'static str, String)>> = BTreeMap::new();
    let flavours: [(&'static str, &[&str]); 2] = [("normal", &[]), ("simulation", &crate::SIM_FLAGS)];
    for (flavour, flags) in flavours {
        let output = std::process::Command::new(env!("CARGO"))
            .args(["test", "--workspace", "--no-run", "--quiet", "--message-format=json"])
            .args(flags)
            .current_dir(repo)
            .output();
        let Ok(output) = output else { continue };
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let (Some(source), Some(executable)) =
                (message["target"]["src_path"].as_str(), message["executable"].as_str())
            else {
                continue;
            };
            let source = Path::new(source)
                .strip_prefix(repo.canonicalize().unwrap_or_default())
                .unwrap_or(Path::new(source));
            let name = Path::new(executable)
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            found
                .entry(source.to_string_lossy().into_owned())
                .or_default()
                .push((flavour, name));
        }
    }
    found
}

/// The results recorded for `file`: a test file's own; a scenario's, its
/// catalogue's; a source file's, its crate's unit tests'.
fn result_of(
    file: &str,
    executables: &BTreeMap<String, Vec<(&'static str, String)>>,
    results: &BTreeMap<String, String>,
) -> String {
    let source = match file {
        scenario if scenario.ends_with(".toml") => "scenarios/tests/catalogue.rs".to_owned(),
        test if test.contains("/tests/") && !test.contains("/src/") => test.to_owned(),
        inside => format!("{}/src/lib.rs", inside.split('/').next().unwrap_or_default()),
    };
    let said: Vec<String> = executables
        .get(&source)
        .into_iter()
        .flatten()
        .filter_map(|(flavour, executable)| Some(format!("{flavour}: {}", results.get(executable)?)))
        .collect();
    match said.is_empty() {
        true => "not run".to_owned(),
        false => said.join("<br>"),
    }
}

/// The matrix as Markdown.
pub fn render(
    capabilities: &[Capability],
    proved: &BTreeMap<String, Vec<String>>,
    result: impl Fn(&str) -> String,
) -> String {
    let mut out = String::from(
        "# Validation matrix\n\nWritten by `cargo xtask test` from the `proves:` tags of \
         tests and scenarios and the capabilities of `docs/ARCHITECTURE.md`; each result is the last `cargo xtask \
         test` run's, per build flavour (\"not run\" where it did not run). Do not edit by hand.\n\n| capability | proved by | last result |\n|---|---|---|\n",
    );
    for capability in capabilities {
        for (position, file) in proved.get(&capability.id).into_iter().flatten().enumerate() {
            let name = match position {
                0 => format!("{} {}", capability.id, capability.name),
                _ => String::new(),
            };
            out.push_str(&format!("| {name} | `{file}` | {} |\n", result(file)));
        }
    }
    out
}

/// Runs the task in `repo`: writes the matrix, and answers its problems.
pub fn run(repo: &Path) -> Result<usize, Vec<MatrixProblem>> {
    let architecture = std::fs::read_to_string(repo.join("docs/ARCHITECTURE.md")).unwrap_or_default();
    let capabilities = capabilities(&architecture);
    let (proved, problems) = check(&capabilities, &tagged_files(repo));
    if !problems.is_empty() {
        return Err(problems);
    }
    let results = last_results(&std::fs::read_to_string(repo.join(RESULTS_FILE)).unwrap_or_default());
    let executables = executables(repo);
    let matrix = render(&capabilities, &proved, |file| result_of(file, &executables, &results));
    if let Err(error) = std::fs::write(repo.join(MATRIX_FILE), matrix) {
        eprintln!("cannot write {MATRIX_FILE}: {error}");
    }
    Ok(capabilities.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_capability_of_the_architecture_is_proved_by_a_tagged_test() {
        let architecture = std::fs::read_to_string(repo().join("docs/ARCHITECTURE.md")).unwrap();
        let capabilities = capabilities(&architecture);
        assert!(capabilities.len() >= 16, "{capabilities:?}");
        let (_, problems) = check(&capabilities, &tagged_files(&repo()));
        let said: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(said.is_empty(), "{said:#?}");
    }

    #[test]
    fn a_capability_without_a_test_and_a_tag_naming_none_are_problems() {
        let table = "intro\n## Capabilities\n\n| id | capability |\n|---|---|\n| F1 | Identity |\n| F2 | Discovery |\n\n## Next\n| F9 | not here |\n";
        let capabilities = capabilities(table);
        assert_eq!(
            capabilities.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
            ["F1", "F2"]
        );
        let tagged = vec![(
            "a.rs".to_owned(),
            tags("//! A test.\n//! proves: F1, F7\nuse x;\n// proves: F2\n"),
        )];
        let (proved, problems) = check(&capabilities, &tagged);
        assert_eq!(proved["F1"], ["a.rs"]);
        assert_eq!(
            problems,
            [
                MatrixProblem::UnknownCapability {
                    file: "a.rs".into(),
                    id: "F7".into()
                },
                MatrixProblem::Unproved { id: "F2".into() },
            ]
        );
        assert_eq!(tags("# proves: D1\nsummary = \"x\"\n"), ["D1"]);
    }
}
