//! `mint`: first-time setup and manual recovery. The authority is `VAULT_TOKEN` (or `BAO_TOKEN`)
//! when set — e.g. a login with `-token-only`, which never touches the file — else the file's token.

use super::heal::{MintError, mint_and_install};
use super::{Context, LOCK_WAIT};
use crate::runlog::{Outcome, Report, escape};
use crate::secret::Token;
use crate::settings::Env;
use crate::tokenfile::parse_token;

pub async fn mint(ctx: &Context<'_>, env: &Env) -> Report {
    let _lock = match crate::lock::acquire(&ctx.settings.state_dir, LOCK_WAIT) {
        Ok(lock) => lock,
        Err(e) => return Report::new(Outcome::Fail, e.to_string()),
    };
    ctx.file.remove_stale_temp_files();
    let (current, _) = match ctx.file.read_current() {
        Ok(c) => c,
        Err(e) => return Report::new(Outcome::Fail, e.to_string()),
    };
    let from_env = ["VAULT_TOKEN", "BAO_TOKEN"].iter().find_map(|var| {
        env.vars
            .get(*var)
            .filter(|v| !v.trim().is_empty())
            .map(|v| (*var, v.trim()))
    });
    let (authority, source): (Token, String) = match from_env {
        Some((var, value)) => match parse_token(value.as_bytes()) {
            Ok(token) => (token, format!("${var}")),
            Err(_) => {
                return Report::new(
                    Outcome::Fail,
                    format!(
                        "${var} does not hold a token (non-printable characters); set it to a token"
                    ),
                );
            }
        },
        None => match ctx.file.read() {
            Ok(snapshot) => (snapshot.token, ctx.file.path().display().to_string()),
            Err(e) => {
                return Report::new(
                    Outcome::Fail,
                    format!("no authority to mint with: VAULT_TOKEN is unset and {e}"),
                );
            }
        },
    };
    match mint_and_install(ctx, &authority, &current).await {
        Ok(installed) => Report::new(
            Outcome::Ok,
            format!(
                "minted periodic token (dn={} period={}s) into {} with the authority of {source} ({})",
                escape(&ctx.our_name, 200),
                ctx.settings.period.as_secs(),
                ctx.file.path().display(),
                installed.sweep.summary()
            ),
        ),
        Err(MintError::NoPolicies) => Report::new(
            Outcome::Fail,
            format!(
                "mint refused: no policies to mint are configured; set `policies` in {} or pass --policy (e.g. --policy vault-admin)",
                ctx.settings.config_file.display()
            ),
        ),
        Err(MintError::Denied(e)) => Report::new(
            Outcome::Fail,
            format!(
                "mint denied: the token from {source} may not create a periodic orphan token with these policies ({}); use a token with sudo on auth/token/create-orphan",
                escape(&e.server_reason(), 300)
            ),
        ),
        Err(MintError::Failed(why)) => Report::new(Outcome::Fail, format!("mint failed: {why}")),
    }
}
