//! A mint whose answer was lost (a timeout, a connection dropped after the request was sent) may
//! have created a token that nobody holds and no record names. Its `meta` carries the attempt's
//! nonce, so where the authority may list accessors the list is searched for it and the token
//! revoked. Without listing nobody can find it by accessor, and the message says so.

use super::Context;
use super::sweep::{REVOKE_ACCESSOR, capability_paths, may_list};
use crate::decide::allows;
use crate::identity::key;
use crate::runlog::escape;
use crate::secret::Token;
use crate::vault::{AccessorList, Revoked, VaultError};
use futures_util::stream::{self, StreamExt};

/// What became of the attempt's token, for the FAIL line. Never fails.
pub async fn recover(ctx: &Context<'_>, authority: &Token, nonce: &str) -> String {
    let caps = match ctx
        .client
        .capabilities_self(authority, &capability_paths())
        .await
    {
        Ok(caps) => caps,
        Err(e) => {
            return format!(
                "could not check whether the server minted a token before the answer was lost ({}): {}",
                escape(&e.to_string(), 200),
                unfindable(ctx, nonce)
            );
        }
    };
    let may_revoke = caps
        .get(REVOKE_ACCESSOR)
        .is_some_and(|c| allows(c, &["update"]));
    if !may_list(&caps) || !may_revoke {
        return format!(
            "the authority may not list, look up and revoke accessors, so a token the server may have minted before the answer was lost cannot be searched for: {}",
            unfindable(ctx, nonce)
        );
    }
    let found = match search(ctx, authority, nonce).await {
        Ok(found) => found,
        Err(why) => {
            return format!(
                "the search for a token minted before the answer was lost was incomplete ({why}): {}",
                unfindable(ctx, nonce)
            );
        }
    };
    if found.is_empty() {
        return "no token carries this attempt's nonce, so the server minted none (should one appear late, it carries our mark and a sweep that may list revokes it)".into();
    }
    let mut failed = vec![];
    // The search may have spent the run's time; revoking what it found gets time of its own.
    ctx.client.grant_grace(crate::vault::REVOKE_GRACE);
    for accessor in &found {
        match ctx.client.revoke_accessor(authority, accessor).await {
            Ok(Revoked::Now | Revoked::AlreadyGone) => {}
            Err(e) => failed.push(format!(
                "{} ({})",
                escape(accessor, 100),
                escape(&e.to_string(), 200)
            )),
        }
    }
    if failed.is_empty() {
        format!(
            "the server had minted {} token(s) before the answer was lost; found by this attempt's nonce and revoked",
            found.len()
        )
    } else {
        format!(
            "the server had minted a token before the answer was lost, found by this attempt's nonce, but revoking failed: {}; revoke it with `vault token revoke -accessor <accessor>` (a sweep that may list also revokes it)",
            failed.join(", ")
        )
    }
}

/// Every accessor whose token carries our display name and this nonce.
async fn search(ctx: &Context<'_>, authority: &Token, nonce: &str) -> Result<Vec<String>, String> {
    let list = ctx
        .client
        .list_accessors(authority)
        .await
        .map_err(|e| format!("cannot list accessors: {}", escape(&e.to_string(), 200)))?;
    let accessors = stream::unfold(Some(list), |list| async {
        let mut list: AccessorList = list?;
        let next: Result<Option<String>, VaultError> = list.next().await;
        match next {
            Ok(Some(accessor)) => Some((Ok(accessor), Some(list))),
            Ok(None) => None,
            Err(e) => Some((Err(e), None)),
        }
    });
    let looked_up = accessors
        .map(|item| async move {
            let accessor = item?;
            let info = ctx.client.lookup_accessor(authority, &accessor).await?;
            Ok::<_, VaultError>(info.filter(|i| {
                i.display_name == ctx.our_name
                    && i.meta.get(key::NONCE).map(String::as_str) == Some(nonce)
            }))
        })
        .buffer_unordered(ctx.settings.sweep_concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    let mut found = vec![];
    let mut errors = 0;
    for result in looked_up {
        match result {
            Ok(Some(info)) => found.push(info.accessor),
            Ok(None) => {}
            Err(_) => errors += 1,
        }
    }
    if errors > 0 && found.is_empty() {
        return Err(format!("{errors} list or look-up request(s) failed"));
    }
    Ok(found)
}

/// The honest answer when the token cannot be found now.
fn unfindable(ctx: &Context<'_>, nonce: &str) -> String {
    format!(
        "if one exists it carries dn={} and meta nonce={}, and no record names its accessor; only a sweep whose token may list accessors can find it (it carries our mark, so such a sweep revokes it), else it expires unrenewed after one period ({}s)",
        escape(&ctx.our_name, 200),
        escape(nonce, 64),
        ctx.settings.period.as_secs()
    )
}
