//! The subcommands. Each returns a [`Report`] (the run's one log line); none of them panics or
//! returns early without one.

mod doctor;
mod heal;
mod lost_mint;
mod mint;
mod renew;
pub mod show_config;
mod status;
mod sweep;
pub mod sweep_plan;

pub use doctor::doctor;
pub use mint::mint;
pub use renew::renew;
pub use status::{status, status_of_profiles};
pub use sweep::{SweepOptions, sweep_command};

use crate::decide::stored_display_name;
use crate::identity::Identity;
use crate::runlog::{MAX_FIELD, Outcome, Report, escape};
use crate::settings::Settings;
use crate::state::MintedAccessors;
use crate::tokenfile::TokenFile;
use crate::vault::{Client, VaultError};
use std::time::Duration;

/// How long a run waits for another run's lock before giving up.
pub const LOCK_WAIT: Duration = Duration::from_secs(60);

/// The command a person runs for `profile`: `vault-token-renew [--profile NAME] <args>`.
pub fn command_for(profile: &str, args: &str) -> String {
    match profile {
        crate::profile::DEFAULT => format!("vault-token-renew {args}"),
        name => format!("vault-token-renew --profile {name} {args}"),
    }
    .trim_end()
    .to_owned()
}

/// What a failed read of the token file says, with the command that puts our token there when
/// the file is missing or empty.
pub fn read_failure(e: &crate::tokenfile::TokenFileError, profile: &str) -> String {
    use crate::tokenfile::TokenFileError::{Empty, Missing};
    match e {
        Missing(_) | Empty(_) => format!("{e}: {}", manual_mint(profile)),
        _ => e.to_string(),
    }
}

/// The command a person runs to put our token back by hand: our own OIDC login, which clobbers
/// nothing and leaves no login token behind (for a named profile, into that profile's file).
pub fn manual_mint(profile: &str) -> String {
    command_for(profile, "mint --oidc")
}

pub struct Context<'a> {
    pub settings: &'a Settings,
    pub client: Client,
    pub file: TokenFile,
    pub minted: MintedAccessors,
    /// Our display name as the server stores it (`token-<sanitised>`).
    pub our_name: String,
    /// The mark our mints carry, and the sweep requires before it revokes.
    pub identity: Identity,
}

impl<'a> Context<'a> {
    pub fn new(settings: &'a Settings) -> Result<Context<'a>, Report> {
        let client = Client::new(settings).map_err(|e| {
            Report::new(Outcome::Fail, format!("{e} — the token file is unchanged"))
        })?;
        let identity = Identity::current(&settings.token_file, &settings.display_name);
        Ok(Context {
            settings,
            client,
            file: TokenFile::new(settings.token_file.clone()),
            minted: MintedAccessors::new(&settings.state_dir, &identity.config),
            our_name: stored_display_name(&settings.display_name),
            identity,
        })
    }
}

/// Takes the run lock, then starts the run's deadline: time spent waiting for another run is
/// not taken from this one's requests.
pub fn take_run_lock(ctx: &Context<'_>) -> Result<crate::lock::RunLock, Report> {
    let lock = crate::lock::acquire(&ctx.settings.state_dir, LOCK_WAIT)
        .map_err(|e| Report::new(Outcome::Fail, e.to_string()))?;
    ctx.client.start_run_clock();
    Ok(lock)
}

/// A display name from the server, made safe for a log line.
pub fn dn(name: &str) -> String {
    escape(name, MAX_FIELD)
}

/// A FAIL line for a request that went wrong, with what to do next.
pub fn fail_line(settings: &Settings, what: &str, error: &VaultError) -> Report {
    let hint = match error {
        VaultError::Transport {
            failure: crate::vault::Failure::Tls,
            ..
        } => "fix the TLS setting named above; nothing was sent to the server".into(),
        VaultError::Transport { .. } => format!(
            "check that {} is the right address (VAULT_ADDR) and the server is up",
            crate::address::shown(&settings.vault_addr)
        ),
        VaultError::Status { status: 503, .. } => "the server is sealed or has no active node; retry once it is unsealed".into(),
        VaultError::Status { status: 429, .. } => "the server is rate-limiting; the next run retries".into(),
        VaultError::Status { status: 307 | 308, .. } => {
            "the server redirected (a standby?); point VAULT_ADDR at the active node or its load balancer".into()
        }
        VaultError::Status { .. } => "the server refused it; see its reason above".into(),
        VaultError::Decode { .. } => "the server's answer is not what Vault sends; check VAULT_ADDR points at Vault or OpenBao".into(),
    };
    Report::new(
        Outcome::Fail,
        format!(
            "{what}: {} — {hint}; the token file is unchanged",
            escape(&error.to_string(), 600)
        ),
    )
}
