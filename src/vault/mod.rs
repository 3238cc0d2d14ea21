//! A small typed layer over the Vault/OpenBao endpoints in `../shared/docs/vault-api-contract.md`.

mod client;
mod error;
mod tls;
pub mod types;

pub use client::{Client, MintRequest, Minted, Renewed};
pub use error::{Failure, VaultError};
