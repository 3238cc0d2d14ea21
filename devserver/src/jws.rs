//! RS256 JSON Web Signatures made with the committed TEST-ONLY key (`test_only_keys/`), for the
//! fake OpenID provider's id_tokens and the fake Kubernetes service-account JWTs. `ring` signs
//! but cannot generate RSA keys, hence the committed key.

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair, RsaPublicKeyComponents};
use rustls::pki_types::PrivatePkcs8KeyDer;
use rustls::pki_types::pem::PemObject;
use serde_json::{Value, json};

/// TEST-ONLY: anyone can read this key; a signature made with it proves nothing outside tests.
pub(crate) const TEST_ONLY_KEY_PEM: &[u8] = include_bytes!("test_only_keys/signing-key.pem");
/// The self-signed certificate of that key, for 127.0.0.1 and localhost.
pub(crate) const TEST_ONLY_CERT_PEM: &str = include_str!("test_only_keys/tokenreview-cert.pem");
/// The key id in every JWS header and in the JWKS.
const KID: &str = "vault-devserver-test-only";

pub(crate) struct Signer {
    key: RsaKeyPair,
    rng: SystemRandom,
}

/// The one signer, parsed once.
pub(crate) fn signer() -> &'static Signer {
    static SIGNER: OnceLock<Signer> = OnceLock::new();
    SIGNER.get_or_init(|| {
        let der = PrivatePkcs8KeyDer::from_pem_slice(TEST_ONLY_KEY_PEM)
            .expect("the committed test key is PKCS#8 PEM");
        Signer {
            key: RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
                .expect("the committed test key is an RSA key ring accepts"),
            rng: SystemRandom::new(),
        }
    })
}

impl Signer {
    /// A compact JWS (`header.claims.signature`) over these claims.
    pub(crate) fn sign(&self, claims: &Value) -> String {
        let header = json!({ "alg": "RS256", "typ": "JWT", "kid": KID });
        let input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &self.rng,
                input.as_bytes(),
                &mut signature,
            )
            .expect("RS256 signing with a valid key");
        format!("{input}.{}", b64url(&signature))
    }

    /// The public key as a JWK Set (RFC 7517), what `jwks_uri` serves.
    pub(crate) fn jwks(&self) -> Value {
        let public = RsaPublicKeyComponents::<Vec<u8>>::from(self.key.public());
        json!({ "keys": [{
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": KID,
            "n": b64url(&public.n),
            "e": b64url(&public.e),
        }]})
    }
}

pub(crate) fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// 32 random bytes as 64 hex characters: authorization codes, access tokens.
pub(crate) fn random_id() -> String {
    let mut bytes = [0u8; 32];
    signer()
        .rng
        .fill(&mut bytes)
        .expect("the system random source works");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Seconds since the Unix epoch (JWT `iat`/`exp` are wall-clock).
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::RSA_PKCS1_2048_8192_SHA256;

    #[test]
    fn a_signature_verifies_with_the_published_key() {
        let jws = signer().sign(&json!({ "sub": "alice" }));
        let (input, sig) = jws.rsplit_once('.').unwrap();
        let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
        let jwk = &signer().jwks()["keys"][0];
        let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
        let e = URL_SAFE_NO_PAD.decode(jwk["e"].as_str().unwrap()).unwrap();
        let key = RsaPublicKeyComponents { n: &n, e: &e };
        key.verify(&RSA_PKCS1_2048_8192_SHA256, input.as_bytes(), &sig)
            .expect("verifies");
        assert!(
            key.verify(&RSA_PKCS1_2048_8192_SHA256, b"tampered", &sig)
                .is_err()
        );
    }
}
