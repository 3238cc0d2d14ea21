//! `vault-token-renew generate man|completions <shell> [--out DIR]`: the man pages and shell
//! completions, generated from the clap definition so they can never drift from the real flags.
//! The Nix package and `install` call it; a person rarely needs to, so the command is hidden.

use crate::cli::{Cli, GenerateArgs, GenerateWhat};
use crate::manual;
use clap::{Command, CommandFactory};
pub use clap_complete::Shell;
use clap_mangen::Man;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const BIN: &str = "vault-token-renew";

pub fn run(args: &GenerateArgs) -> anyhow::Result<()> {
    match (args.what, &args.out) {
        (GenerateWhat::Man, Some(dir)) => {
            for path in write_man_pages(dir)? {
                println!("{}", path.display());
            }
        }
        (GenerateWhat::Man, None) => std::io::stdout().write_all(&main_page()?)?,
        (GenerateWhat::Completions { shell }, Some(dir)) => {
            println!("{}", write_completions(shell, dir)?.display());
        }
        (GenerateWhat::Completions { shell }, None) => print_completions(shell),
    }
    Ok(())
}

/// The completion script for `shell` on stdout (`completions <shell>`).
pub fn print_completions(shell: Shell) {
    clap_complete::generate(shell, &mut Cli::command(), BIN, &mut std::io::stdout());
}

/// Writes `vault-token-renew.1` and one page per visible subcommand (`vault-token-renew-status.1`, …).
pub fn write_man_pages(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| {
        anyhow::anyhow!(
            "cannot create {}: {e}; pick another --out directory",
            dir.display()
        )
    })?;
    for (name, page) in pages()? {
        std::fs::write(dir.join(name), page)?;
    }
    let mut pages: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(BIN) && n.ends_with(".1"))
        })
        .collect();
    pages.sort();
    Ok(pages)
}

/// The built command: subcommands know their page names (`vault-token-renew-status`) and the
/// global flags, as clap_mangen's own generator sees them.
fn built() -> Command {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// The main page (`vault-token-renew.1`).
pub fn main_page() -> std::io::Result<Vec<u8>> {
    let cmd = built();
    let sections = manual::main_sections(&cmd);
    render(cmd, &sections)
}

/// Every page as (file name, roff): the main one and one per visible subcommand.
pub fn pages() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let cmd = built();
    let mut pages = vec![];
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let tail = sub
            .get_after_long_help()
            .or_else(|| sub.get_after_help())
            .map(|h| h.to_string())
            .unwrap_or_default();
        let man = Man::new(sub.clone());
        pages.push((
            man.get_filename(),
            render(sub.clone(), &manual::subcommand_sections(&tail))?,
        ));
    }
    pages.push((Man::new(cmd.clone()).get_filename(), main_page()?));
    Ok(pages)
}

/// clap_mangen's sections, with ours in place of its EXTRA (the raw help tail).
fn render(cmd: Command, sections: &str) -> std::io::Result<Vec<u8>> {
    let has_args = cmd.get_arguments().any(|a| !a.is_hide_set());
    let has_subcommands = cmd.get_subcommands().any(|s| !s.is_hide_set());
    let has_version = cmd.get_version().is_some();
    let man = Man::new(cmd);
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    if has_args {
        man.render_options_section(&mut out)?;
    }
    if has_subcommands {
        man.render_subcommands_section(&mut out)?;
    }
    out.extend_from_slice(sections.as_bytes());
    if has_version {
        man.render_version_section(&mut out)?;
    }
    Ok(out)
}

/// Writes the completion script under the file name the shell looks for
/// (`vault-token-renew.bash`, `_vault-token-renew`, `vault-token-renew.fish`, …).
pub fn write_completions(shell: Shell, dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| {
        anyhow::anyhow!(
            "cannot create {}: {e}; pick another --out directory",
            dir.display()
        )
    })?;
    Ok(clap_complete::generate_to(
        shell,
        &mut Cli::command(),
        BIN,
        dir,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn man_pages_cover_the_subcommands_but_not_the_hidden_one() {
        let dir = tempfile::tempdir().unwrap();
        let pages = write_man_pages(dir.path()).unwrap();
        let names: Vec<String> = pages
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        for want in [
            "vault-token-renew.1",
            "vault-token-renew-status.1",
            "vault-token-renew-mint.1",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
        }
        assert!(!names.iter().any(|n| n.contains("generate")), "{names:?}");
        let main = std::fs::read_to_string(dir.path().join("vault-token-renew.1")).unwrap();
        assert!(main.contains(".TH vault-token-renew 1"), "{main}");
        assert!(main.contains("metrics\\-file"), "flags are documented");
        let mint = std::fs::read_to_string(dir.path().join("vault-token-renew-mint.1")).unwrap();
        assert!(mint.contains("oidc\\-port"), "{mint}");
    }

    fn section<'a>(page: &'a str, name: &str) -> &'a str {
        let start = page
            .find(&format!(".SH {name}\n"))
            .unwrap_or_else(|| panic!("no {name} in {page}"));
        let body = &page[start + 1..];
        &body[..body.find("\n.SH ").unwrap_or(body.len())]
    }

    fn main_text() -> String {
        String::from_utf8(main_page().unwrap()).unwrap()
    }

    #[test]
    fn main_page_has_the_sections_a_reader_looks_for() {
        let page = main_text();
        for name in [
            "NAME",
            "SYNOPSIS",
            "DESCRIPTION",
            "\"GLOBAL OPTIONS\"",
            "\"CONFIGURATION FILE\"",
            "ENVIRONMENT",
            "FILES",
            "\"EXIT STATUS\"",
            "EXAMPLES",
        ] {
            section(&page, name);
        }
        assert!(!page.contains(".SH EXTRA"), "the raw help tail is replaced");
        assert!(page.is_ascii(), "groff reads other characters as \\[uXXXX]");
        let files = section(&page, "FILES");
        for file in [
            "vault\\-token",
            "config.toml",
            ".log",
            "lock",
            "minted\\-accessors",
            "metrics",
            "timer",
            "failure@.service",
        ] {
            assert!(files.contains(file), "{file} in {files}");
        }
        assert!(section(&page, "EXAMPLES").contains("sweep \\-\\-dry\\-run"));
    }

    /// The exit codes are the help's own text, one tagged paragraph per code.
    #[test]
    fn exit_status_is_the_helps_exit_codes() {
        let page = main_text();
        let status = section(&page, "\"EXIT STATUS\"");
        let mut codes = 0;
        for line in crate::cli::EXIT_CODES.lines() {
            if let Some((n, text)) = line.trim_start().split_once("  ")
                && n.parse::<u8>().is_ok()
            {
                codes += 1;
                let want = format!(".TP\n\\fB{n}\\fR\n{}\n", manual::roff(text.trim()));
                assert!(status.contains(&want), "{want} in {status}");
            }
        }
        assert_eq!(codes, 4, "0, 2, 3 and 4");
        assert!(status.contains("OK|HEALED|DRIFT|FAIL"), "{status}");
    }

    /// A key added to `ConfigFile` shows up in the page, described by its flag (or by
    /// `KEYS_WITHOUT_A_FLAG`); one without either fails here.
    #[test]
    fn every_config_key_is_in_the_page_with_a_meaning() {
        let keys = manual::config_keys();
        assert!(
            keys.contains(&"vault_addr") && keys.contains(&"on_failure"),
            "{keys:?}"
        );
        let docs = manual::config_key_docs(&built());
        assert_eq!(docs.len(), keys.len());
        for (key, _, doc) in &docs {
            assert!(
                doc.is_some(),
                "config key `{key}` has no flag and no entry in KEYS_WITHOUT_A_FLAG"
            );
        }
        let page = main_text();
        let config = section(&page, "\"CONFIGURATION FILE\"");
        for key in keys {
            let tag = format!("\\fB{} = ", manual::roff(key));
            assert!(config.contains(&tag), "{tag} in {config}");
        }
        assert!(
            config.contains("\\fBpolicies = [\"POLICY\", \\[u2026]]\\fR"),
            "{config}"
        );
        assert!(config.contains("\\fBretries = N\\fR"), "{config}");
        assert!(
            config.contains("[default: 768h]"),
            "defaults come with the meaning: {config}"
        );
    }

    /// Every variable a flag's help names (`[env: …]`) and every one the code reads by name.
    #[test]
    fn every_environment_variable_read_is_in_the_page() {
        let page = main_text();
        let env = section(&page, "ENVIRONMENT");
        let documented = |name: &str| {
            manual::ENVIRONMENT
                .iter()
                .any(|(names, _)| names.split(", ").any(|n| n == name))
        };
        let mut wanted = read_by_name();
        for arg in built().get_arguments() {
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            if let Some((_, rest)) = help.split_once("[env: ") {
                let names = rest.split(']').next().unwrap();
                wanted.extend(
                    names
                        .split([',', ' ', '/'])
                        .filter(|n| {
                            n.len() > 2 && n.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
                        })
                        .map(String::from),
                );
            }
        }
        for (names, _) in manual::ENVIRONMENT {
            assert!(env.contains(&format!("\\fB{}\\fR", manual::roff(names))));
        }
        let missing: Vec<_> = wanted.iter().filter(|n| !documented(n)).collect();
        assert!(missing.is_empty(), "not in ENVIRONMENT: {missing:?}");
        assert!(
            wanted.contains("VAULT_TOKEN_RENEW_SWEEP_CONCURRENCY") && wanted.contains("BAO_ADDR"),
            "{wanted:?}"
        );
    }

    /// The variables `src/` reads by a literal name: `own("X")` is VAULT_TOKEN_RENEW_X,
    /// `cli_var("X")` is BAO_X and VAULT_X, `var("X")`, `var_os("X")`, `xdg_dir("X"` and
    /// `env.get("X")` are X.
    fn read_by_name() -> std::collections::BTreeSet<String> {
        let mut names = std::collections::BTreeSet::new();
        let mut dirs = vec![std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                for (call, prefixes) in [
                    ("own(\"", &["VAULT_TOKEN_RENEW_"][..]),
                    ("cli_var(\"", &["BAO_", "VAULT_"][..]),
                    ("var(\"", &[""][..]),
                    ("var_os(\"", &[""][..]),
                    ("xdg_dir(\"", &[""][..]),
                    ("env.get(\"", &[""][..]),
                    ("vars.get(\"", &[""][..]),
                ] {
                    for (at, _) in text.match_indices(call) {
                        // A method or path call, not the tail of a longer name (`cli_var(` ends in `var(`).
                        if !text[..at].ends_with(['.', ':']) {
                            continue;
                        }
                        let rest = &text[at + call.len()..];
                        let name = &rest[..rest.find('"').unwrap()];
                        if !name.is_empty()
                            && name
                                .bytes()
                                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
                        {
                            names.extend(prefixes.iter().map(|p| format!("{p}{name}")));
                        }
                    }
                }
            }
        }
        names
    }

    /// Each command's help puts the global options in their own section and ends with examples
    /// and its exit codes, and its page has them as EXAMPLES and EXIT STATUS (issue 14 point 9).
    #[test]
    fn every_command_has_examples_exit_codes_and_global_options_in_help_and_page() {
        let cmd = built();
        let pages = pages().unwrap();
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let name = sub.get_name();
            let tail = sub
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            assert!(
                tail.starts_with("Examples:\n  vault-token-renew "),
                "{name}: {tail}"
            );
            assert!(tail.contains("\nExit codes: 0 "), "{name}: {tail}");
            let help = sub.clone().render_help().to_string();
            assert!(help.contains("\nGlobal options:\n"), "{name}: {help}");
            assert!(
                help.find("--vault-addr") > help.find("\nGlobal options:\n"),
                "{name}: the settings flags are under Global options: {help}"
            );
            let file = format!("vault-token-renew-{name}.1");
            let (_, page) = pages
                .iter()
                .find(|(n, _)| *n == file)
                .unwrap_or_else(|| panic!("{file}"));
            let page = String::from_utf8(page.clone()).unwrap();
            assert!(
                section(&page, "EXAMPLES").contains("vault\\-token\\-renew"),
                "{file}"
            );
            assert!(section(&page, "\"EXIT STATUS\"").contains("0 "), "{file}");
            assert!(!page.contains(".SH EXTRA"), "{file}");
        }
    }

    #[test]
    fn completions_know_the_flags() {
        let dir = tempfile::tempdir().unwrap();
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let path = write_completions(shell, dir.path()).unwrap();
            let text = std::fs::read_to_string(&path).unwrap();
            // bash and zsh spell flags `--oidc-port`, fish `-l oidc-port`.
            assert!(text.contains("oidc-port"), "{shell}: {}", path.display());
            assert!(text.contains("metrics-file"), "{shell}");
        }
    }
}
