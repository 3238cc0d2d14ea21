//! `vault-token-renew generate man|completions <shell> [--out DIR]`: the man pages and shell
//! completions, generated from the clap definition so they can never drift from the real flags.
//! The Nix package and `install` call it; a person rarely needs to, so the command is hidden.

use crate::cli::{Cli, GenerateArgs, GenerateWhat};
use clap::CommandFactory;
pub use clap_complete::Shell;
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
        (GenerateWhat::Man, None) => {
            let mut out = Vec::new();
            clap_mangen::Man::new(Cli::command()).render(&mut out)?;
            std::io::stdout().write_all(&out)?;
        }
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
    clap_mangen::generate_to(Cli::command(), dir)?;
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
