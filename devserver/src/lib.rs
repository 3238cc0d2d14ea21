//! placeholder: the Vault test double lands here.
