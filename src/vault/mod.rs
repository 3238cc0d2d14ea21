//! A small typed layer over the Vault/OpenBao endpoints in `docs/vault-api-contract.md` (at the repository root).

mod accessor_list;
mod client;
mod error;
mod settle;
mod tls;

pub use accessor_list::AccessorList;
pub use client::{Client, MintRequest, Minted, REVOKE_GRACE, Renewed, Revoked};
pub use error::{Failure, VaultError};
pub use settle::NEW_TOKEN_GRACE;
