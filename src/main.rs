use std::process::ExitCode;

fn main() -> ExitCode {
    match vault_token_renew::run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(vault_token_renew::EXIT_USAGE)
        }
    }
}
