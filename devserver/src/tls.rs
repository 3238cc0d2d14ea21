//! Optional TLS for the listener (`--tls-cert`/`--tls-key`), so clients can be exercised and
//! benchmarked over https as they talk to a real Vault. rustls with ring, like the renewer.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

pub use tokio_rustls::TlsAcceptor;

fn invalid(what: &str, path: &Path, e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("{what} {}: {e}; give a PEM file", path.display()),
    )
}

/// A server config from a PEM certificate chain and a PEM private key.
pub fn acceptor(cert: &Path, key: &Path) -> std::io::Result<TlsAcceptor> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| invalid("TLS certificate", cert, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| invalid("TLS certificate", cert, e))?;
    if chain.is_empty() {
        return Err(invalid("TLS certificate", cert, "no CERTIFICATE block"));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| invalid("TLS key", key, e))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
    .map_err(|e| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("TLS setup: {e}"))
    })?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
