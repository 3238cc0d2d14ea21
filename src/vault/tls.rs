//! TLS options, with the Vault CLI's meaning: a CA file or directory replaces the system roots.

use crate::settings::TlsSettings;
use std::path::Path;

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
        "tls_server_name (VAULT_TLS_SERVER_NAME) is not supported by this build; connect to the name on the certificate instead"
    )]
    ServerNameUnsupported,
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.display().to_string(),
        source,
    })
}

fn certificates(what: &'static str, path: &Path) -> Result<Vec<reqwest::Certificate>, TlsError> {
    let pem = read(what, path)?;
    let pem_error = |detail: String| TlsError::Pem {
        what,
        path: path.display().to_string(),
        detail,
    };
    let certs =
        reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| pem_error(e.to_string()))?;
    if certs.is_empty() {
        return Err(pem_error("no CERTIFICATE block".into()));
    }
    Ok(certs)
}

pub fn configure(
    mut builder: reqwest::ClientBuilder,
    tls: &TlsSettings,
) -> Result<reqwest::ClientBuilder, TlsError> {
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
        for file in files.iter().filter(|f| f.is_file()) {
            // A CA directory may hold other files (hash links to the same certs, READMEs): skip what is not PEM.
            if let Ok(certs) = certificates("CA certificate", file) {
                roots.extend(certs);
            }
        }
        if roots.is_empty() {
            return Err(TlsError::Pem {
                what: "CA directory",
                path: dir.display().to_string(),
                detail: "no PEM certificate in any file".into(),
            });
        }
    }
    if !roots.is_empty() {
        builder = builder.tls_certs_only(roots);
    }
    if let (Some(cert), Some(key)) = (&tls.client_cert, &tls.client_key) {
        let mut pem = read("client certificate", cert)?;
        pem.push(b'\n');
        pem.extend(read("client key", key)?);
        let identity = reqwest::Identity::from_pem(&pem).map_err(|e| TlsError::Pem {
            what: "client certificate/key",
            path: format!("{} + {}", cert.display(), key.display()),
            detail: e.to_string(),
        })?;
        zeroize::Zeroize::zeroize(&mut pem);
        builder = builder.identity(identity);
    }
    if tls.server_name.is_some() {
        return Err(TlsError::ServerNameUnsupported);
    }
    if tls.skip_verify {
        builder = builder.tls_danger_accept_invalid_certs(true);
    }
    Ok(builder)
}
