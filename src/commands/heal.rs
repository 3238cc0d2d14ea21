//! Mint our periodic token with someone else's authority, verify it, install it with a
//! compare-and-swap, sweep. Used by the heal (a foreign token in the file) and by `mint`.
//!
//! Invariant: once the server has minted a token, it ends up either in the file or revoked.
//! Its accessor is recorded first of all, so even a kill -9 leaves the next sweep able to find it.

use super::Context;
use super::lost_mint;
use super::sweep::{SweepOptions, SweepReport, sweep};
use crate::decide::{MintPath, choose_mint_path, mint_candidates, mint_denied, verify_minted};
use crate::identity;
use crate::runlog::escape;
use crate::secret::Token;
use crate::tokenfile::Current;
use crate::vault::{MintRequest, Minted, NEW_TOKEN_GRACE, REVOKE_GRACE, VaultError};
use std::time::Duration;

pub struct Installed {
    pub sweep: SweepReport,
    pub warnings: Vec<String>,
    /// The installed token's TTL and period as the verifying lookup saw them.
    pub ttl_secs: i64,
    pub period_secs: Option<i64>,
}

pub enum MintError {
    /// No policies configured: we will not mint a token that inherits whatever the caller has.
    NoPolicies,
    /// The server refused the mint (403, or 400 for lack of sudo); nothing was created.
    Denied(VaultError),
    /// The token's capabilities allow none of the mint paths; no mint was sent. The text lists
    /// what was asked.
    NoAuthority(String),
    /// Something failed; the message says what and whether a minted token was revoked.
    Failed(String),
}

/// `grace`: how long a token written moments ago may take to show its authority on the node that
/// answers (an HA standby); zero for a token known to be older.
pub async fn mint_and_install(
    ctx: &Context<'_>,
    authority: &Token,
    expected: &Current,
    grace: Duration,
) -> Result<Installed, MintError> {
    let s = ctx.settings;
    if s.policies.is_empty() {
        return Err(MintError::NoPolicies);
    }
    let path = mint_path(ctx, authority, grace).await?;
    // The nonce tells this attempt's token apart from every other, should its answer be lost.
    let nonce = identity::nonce();
    let request = MintRequest {
        policies: &s.policies,
        period_secs: s.period.as_secs(),
        display_name: &s.display_name,
        meta: ctx
            .identity
            .mint_meta(&s.display_name, &identity::hostname(), &nonce),
    };
    let Minted {
        token,
        accessor,
        warnings,
    } = match ctx.client.mint(authority, &path, &request).await {
        Ok(minted) => minted,
        Err(e) if e.status().is_some_and(mint_denied) => return Err(MintError::Denied(e)),
        Err(e) => {
            let lost = if e.never_reached_server() {
                String::new()
            } else {
                format!("; {}", lost_mint::recover(ctx, authority, &nonce).await)
            };
            return Err(MintError::Failed(format!(
                "the mint request failed: {}{lost}",
                escape(&e.to_string(), 400)
            )));
        }
    };

    if let Err(e) = ctx.minted.add(&accessor) {
        return Err(discard(ctx, &token, &accessor, &e.to_string()).await);
    }
    // On an HA standby the brand-new token may answer 403/412 for a moment (vault/settle.rs).
    let verified = ctx
        .client
        .settling(NEW_TOKEN_GRACE, async || {
            ctx.client.lookup_self(&token).await
        })
        .await;
    let info = match verified {
        Ok(info) => info,
        Err(e) => {
            return Err(discard(
                ctx,
                &token,
                &accessor,
                &format!(
                    "looking up the minted token failed: {}",
                    escape(&e.to_string(), 300)
                ),
            )
            .await);
        }
    };
    if let Err(why) = verify_minted(
        &info,
        &ctx.our_name,
        &s.require_policies,
        s.period.as_secs(),
        &path,
    ) {
        return Err(discard(
            ctx,
            &token,
            &accessor,
            &format!("the minted token failed verification: {why}"),
        )
        .await);
    }
    if let Err(e) = ctx.file.replace_if_unchanged(expected, &token) {
        return Err(discard(ctx, &token, &accessor, &e.to_string()).await);
    }
    let sweep = sweep(ctx, &token, &info.accessor, SweepOptions::default()).await;
    Ok(Installed {
        sweep,
        warnings,
        ttl_secs: info.ttl,
        period_secs: info.period,
    })
}

/// Which path to mint through, from one `sys/capabilities-self` request on every candidate, so
/// no mint is sent that would only be denied. A token that may not ask (no `default` policy)
/// leaves the choice to the server's answer to the best candidate.
///
/// A login written moments ago may carry its authority in identity policies an HA standby has not
/// seen yet (it answers "deny"): with a `grace`, a verdict of no path is asked again until it passes.
async fn mint_path(
    ctx: &Context<'_>,
    authority: &Token,
    grace: Duration,
) -> Result<MintPath, MintError> {
    let role = ctx.settings.token_role.as_deref();
    let paths: Vec<String> = mint_candidates(role)
        .iter()
        .map(MintPath::api_path)
        .collect();
    let answer = ctx
        .client
        .settling_until(
            grace,
            async || ctx.client.capabilities_self(authority, &paths).await,
            |answer| matches!(answer, Ok(caps) if choose_mint_path(role, Some(caps)).is_none()),
        )
        .await;
    let caps = match answer {
        Ok(caps) => Some(caps),
        Err(e) if e.is_invalid_token() => return Err(MintError::Denied(e)),
        Err(e) if e.is_permission_denied() => None,
        Err(e) => {
            return Err(MintError::Failed(format!(
                "asking the server which mint paths the token may use failed: {}; no mint was sent",
                escape(&e.to_string(), 400)
            )));
        }
    };
    choose_mint_path(role, caps.as_ref()).ok_or_else(|| {
        let asked = caps
            .iter()
            .flatten()
            .map(|(path, have)| format!("{path}: {}", have.join(",")))
            .collect::<Vec<_>>()
            .join("; ");
        MintError::NoAuthority(escape(&asked, 600))
    })
}

/// Revokes a minted token that will not be installed, and says so.
async fn discard(ctx: &Context<'_>, token: &Token, accessor: &str, why: &str) -> MintError {
    // However much of the run is spent, the revoke gets time of its own.
    ctx.client.grant_grace(REVOKE_GRACE);
    match ctx.client.revoke_self(token).await {
        Ok(()) => {
            let _ = ctx.minted.remove(&[accessor.to_owned()].into());
            MintError::Failed(format!("{why}; the minted token was revoked"))
        }
        Err(e) => MintError::Failed(format!(
            "{why}; revoking the minted token also failed ({}): revoke it with `vault token revoke -accessor {}` (the next sweep retries)",
            escape(&e.to_string(), 200),
            escape(accessor, 100)
        )),
    }
}
