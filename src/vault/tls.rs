//! TLS options, with the Vault CLI's meaning: a CA file or directory replaces the system roots,
//! and `tls_server_name` is the name the server's certificate must carry (instead of the host in
//! the address). Handshake failures are explained with the setting that fixes them.

use crate::settings::TlsSettings;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} {path}: {source}; check the path and its permissions")]
    Read {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("{what} {path} holds no usable PEM data ({detail}); give a PEM file")]
    Pem {
        what: &'static str,
        path: String,
        detail: String,
    },
    #[error(
        "tls_server_name {0:?} is not a DNS name or IP address; set it (VAULT_TLS_SERVER_NAME) to a name on the server's certificate"
    )]
    ServerName(String),
    #[error("cannot set up TLS: {0}")]
    Setup(String),
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.display().to_string(),
        source,
    })
}

fn pem_error(what: &'static str, path: &Path, detail: impl ToString) -> TlsError {
    TlsError::Pem {
        what,
        path: path.display().to_string(),
        detail: detail.to_string(),
    }
}

fn certificates(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(what, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(what, path, e))?;
    if certs.is_empty() {
        return Err(pem_error(what, path, "no CERTIFICATE block"));
    }
    Ok(certs)
}

/// The CA certificates from `ca_cert` and `ca_path`; empty means "use the system's trust".
fn roots(tls: &TlsSettings) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let mut roots = Vec::new();
    if let Some(file) = &tls.ca_cert {
        roots.extend(certificates("CA certificate", file)?);
    }
    if let Some(dir) = &tls.ca_path {
        let entries = std::fs::read_dir(dir).map_err(|source| TlsError::Read {
            what: "CA directory",
            path: dir.display().to_string(),
            source,
        })?;
        let mut files: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        files.sort();
        let before = roots.len();
        for file in files.iter().filter(|f| f.is_file()) {
            // A CA directory may hold other files (hash links to the same certs, READMEs): skip what is not PEM.
            if let Ok(certs) = certificates("CA certificate", file) {
                roots.extend(certs);
            }
        }
        if roots.len() == before {
            return Err(pem_error(
                "CA directory",
                dir,
                "no PEM certificate in any file",
            ));
        }
    }
    Ok(roots)
}

/// The client certificate chain and key, when both are configured.
fn client_identity(
    tls: &TlsSettings,
) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, TlsError> {
    let (Some(cert), Some(key)) = (&tls.client_cert, &tls.client_key) else {
        return Ok(None);
    };
    let chain = certificates("client certificate", cert)?;
    let pem = zeroize::Zeroizing::new(read("client key", key)?);
    let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| pem_error("client key", key, e))?;
    Ok(Some((chain, key)))
}

pub fn configure(
    builder: reqwest::ClientBuilder,
    tls: &TlsSettings,
) -> Result<reqwest::ClientBuilder, TlsError> {
    match &tls.server_name {
        Some(name) => preconfigured(builder, tls, name),
        None => plain(builder, tls),
    }
}

/// reqwest's own rustls set-up, with our roots and identity.
fn plain(
    mut builder: reqwest::ClientBuilder,
    tls: &TlsSettings,
) -> Result<reqwest::ClientBuilder, TlsError> {
    let roots = roots(tls)?;
    if !roots.is_empty() {
        let certs = roots
            .iter()
            .map(|der| reqwest::Certificate::from_der(der))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::Setup(e.to_string()))?;
        builder = builder.tls_certs_only(certs);
    }
    if let (Some(cert), Some(key)) = (&tls.client_cert, &tls.client_key) {
        let mut pem = zeroize::Zeroizing::new(read("client certificate", cert)?);
        pem.push(b'\n');
        pem.extend(read("client key", key)?);
        let identity = reqwest::Identity::from_pem(&pem).map_err(|e| TlsError::Pem {
            what: "client certificate/key",
            path: format!("{} + {}", cert.display(), key.display()),
            detail: e.to_string(),
        })?;
        builder = builder.identity(identity);
    }
    if tls.skip_verify {
        builder = builder.tls_danger_accept_invalid_certs(true);
    }
    Ok(builder)
}

/// Our own rustls config, for `tls_server_name`: the usual verification (configured CA, else the
/// system's trust), but against the configured name rather than the address's host.
fn preconfigured(
    builder: reqwest::ClientBuilder,
    tls: &TlsSettings,
    name: &str,
) -> Result<reqwest::ClientBuilder, TlsError> {
    let expected =
        ServerName::try_from(name.to_owned()).map_err(|_| TlsError::ServerName(name.into()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = roots(tls)?;
    let inner: Arc<dyn ServerCertVerifier> = if tls.skip_verify {
        Arc::new(AcceptAny(provider.clone()))
    } else if roots.is_empty() {
        Arc::new(
            rustls_platform_verifier::Verifier::new(provider.clone())
                .map_err(|e| TlsError::Setup(e.to_string()))?,
        )
    } else {
        let mut store = rustls::RootCertStore::empty();
        for der in roots {
            store
                .add(der)
                .map_err(|e| TlsError::Setup(format!("a CA certificate is unusable: {e}")))?;
        }
        rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(store),
            provider.clone(),
        )
        .build()
        .map_err(|e| TlsError::Setup(e.to_string()))?
    };
    let verifier = Arc::new(NamedVerifier { inner, expected });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match client_identity(tls)? {
        Some((chain, key)) => config
            .with_client_auth_cert(chain, key)
            .map_err(|e| TlsError::Setup(format!("client certificate/key: {e}")))?,
        None => config.with_no_client_auth(),
    };
    // This client speaks HTTP/1.1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(builder.tls_backend_preconfigured(config))
}

/// Verifies the chain as `inner` does, but for `expected` instead of the address's host.
#[derive(Debug)]
struct NamedVerifier {
    inner: Arc<dyn ServerCertVerifier>,
    expected: ServerName<'static>,
}

impl ServerCertVerifier for NamedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _host_in_address: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner.verify_server_cert(
            end_entity,
            intermediates,
            &self.expected,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `tls_skip_verify`: any certificate, but the handshake signatures are still checked.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// If a request failed in the TLS handshake, what went wrong and the setting that fixes it.
pub fn explain_handshake(error: &(dyn std::error::Error + 'static), host: &str) -> Option<String> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(tls) = rustls_error(e) {
            return Some(explain(tls, host));
        }
        next = e.source();
    }
    None
}

/// The rustls error in `e`, also when wrapped in (possibly nested) io::Errors, whose `source()`
/// skips the wrapped error.
fn rustls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(tls) = e.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    let inner = e.downcast_ref::<std::io::Error>()?.get_ref()?;
    rustls_error(inner)
}

fn explain(error: &rustls::Error, host: &str) -> String {
    match error {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer => format!(
                "TLS: the certificate of {host} is not signed by a CA we trust; pass the CA that signed it with --ca-cert (VAULT_CACERT) or --ca-path (VAULT_CAPATH)"
            ),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                let names = match cert {
                    CertificateError::NotValidForNameContext { presented, .. } => format!(
                        " (it names {})",
                        crate::runlog::escape(&presented.join(", "), 200)
                    ),
                    _ => String::new(),
                };
                format!(
                    "TLS: the certificate of {host} is not valid for the name we checked{names}; put a name the certificate carries in VAULT_ADDR, or set --tls-server-name (VAULT_TLS_SERVER_NAME) to it"
                )
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => format!(
                "TLS: the certificate of {host} is expired or not yet valid; renew the server's certificate, or check this machine's clock"
            ),
            other => format!(
                "TLS: the certificate of {host} was rejected ({other:?}); check --ca-cert (VAULT_CACERT) and the server's certificate"
            ),
        },
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => format!(
            "TLS: {host} did not answer with TLS; if it serves plain http, use an http:// address in VAULT_ADDR"
        ),
        other => format!(
            "TLS: the handshake with {host} failed ({}); check the TLS settings (--ca-cert, --client-cert, --client-key)",
            crate::runlog::escape(&other.to_string(), 200)
        ),
    }
}
