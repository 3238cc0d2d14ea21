//! Fault injection: queued per method and path, each hitting `times` requests.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How a matched request is answered.
///
/// `Delay`, `DropMidBody` and `Truncated` let the request reach the store (its effect happens, e.g. a
/// token is minted) and then damage the answer; every other kind answers *instead of* the store, so
/// nothing happens server-side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// This status with this raw body; `None` = Vault's error body for the status.
    Status { code: u16, body: Option<String> },
    /// Wait, then serve normally. A long delay parks the request (crash tests).
    Delay(Duration),
    /// Close the connection without any response.
    DropConnection,
    /// Serve normally but send the headers and half of the body, then abort the connection.
    DropMidBody,
    /// 200 with a body that is not JSON.
    Malformed,
    /// Serve normally, but cut the JSON body in half (a complete HTTP message).
    Truncated,
    /// 200 with an empty body.
    EmptyBody,
    /// 200 with valid JSON whose fields have the wrong types.
    WrongTypes,
    /// 200 with a valid JSON body of this many bytes.
    Huge(usize),
    /// 503 `{"errors":["Vault is sealed"]}` (contract §7).
    Sealed,
}

impl FaultKind {
    /// A status with the body Vault sends for it (contract §7 status table).
    pub fn status(code: u16) -> Self {
        FaultKind::Status { code, body: None }
    }
}

/// A queued fault. `path` is without `/v1/`; a trailing `*` makes it a prefix; `method: None` matches any verb.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    #[serde(default, with = "opt_method")]
    pub method: Option<axum::http::Method>,
    pub path: String,
    pub kind: FaultKind,
    #[serde(default = "one")]
    pub times: u32,
}

fn one() -> u32 {
    1
}

impl Fault {
    pub fn new(
        method: Option<axum::http::Method>,
        path: &str,
        kind: FaultKind,
        times: u32,
    ) -> Self {
        Fault {
            method,
            path: path.into(),
            kind,
            times,
        }
    }

    pub(crate) fn matches(&self, method: &axum::http::Method, path: &str) -> bool {
        if self.times == 0 || self.method.as_ref().is_some_and(|m| m != method) {
            return false;
        }
        let want = self.path.trim_start_matches('/');
        match want.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => want.trim_end_matches('/') == path.trim_end_matches('/'),
        }
    }
}

/// The body Vault sends for an error status (contract §7).
pub(crate) fn default_error_body(code: u16) -> String {
    let msg = match code {
        400 => "invalid request",
        403 => "1 error occurred:\n\t* permission denied\n\n",
        404 => return r#"{"errors":[]}"#.into(),
        405 => "1 error occurred:\n\t* unsupported operation\n\n",
        412 => "required index state not present",
        429 => "request path \"auth/token\": rate limit quota exceeded",
        500 => "internal error",
        502 => "upstream rate limited",
        503 => "Vault is sealed",
        _ => "error",
    };
    serde_json::json!({ "errors": [msg] }).to_string()
}

/// Valid JSON shaped like Vault's envelope, but every field has the wrong type.
pub(crate) const WRONG_TYPES_BODY: &str = r#"{"request_id":42,"lease_id":false,"renewable":"yes","lease_duration":"long","data":{"id":7,"accessor":["x"],"display_name":12,"policies":"default,vault-admin","identity_policies":{"a":1},"ttl":"2764800","period":"768h","expire_time":99,"explicit_max_ttl":null,"renewable":"true","orphan":"yes","keys":"a,b","meta":[1,2]},"wrap_info":"none","warnings":"none","auth":{"client_token":1234,"accessor":false,"policies":"default","lease_duration":"2764800","renewable":"yes"}}"#;

/// Wire shape of `FaultKind` for the `/_test/faults` API: `{"kind":"status","code":500}`,
/// `{"kind":"delay","ms":60000}`, `{"kind":"huge","bytes":10000000}`, `{"kind":"drop_connection"}`, …
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum KindWire {
    Status {
        code: u16,
        #[serde(default)]
        body: Option<String>,
    },
    Delay {
        ms: u64,
    },
    DropConnection,
    DropMidBody,
    Malformed,
    Truncated,
    EmptyBody,
    WrongTypes,
    Huge {
        bytes: usize,
    },
    Sealed,
}

impl Serialize for FaultKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let w = match self.clone() {
            FaultKind::Status { code, body } => KindWire::Status { code, body },
            FaultKind::Delay(d) => KindWire::Delay {
                ms: d.as_millis() as u64,
            },
            FaultKind::DropConnection => KindWire::DropConnection,
            FaultKind::DropMidBody => KindWire::DropMidBody,
            FaultKind::Malformed => KindWire::Malformed,
            FaultKind::Truncated => KindWire::Truncated,
            FaultKind::EmptyBody => KindWire::EmptyBody,
            FaultKind::WrongTypes => KindWire::WrongTypes,
            FaultKind::Huge(bytes) => KindWire::Huge { bytes },
            FaultKind::Sealed => KindWire::Sealed,
        };
        w.serialize(s)
    }
}

impl<'de> Deserialize<'de> for FaultKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match KindWire::deserialize(d)? {
            KindWire::Status { code, body } => FaultKind::Status { code, body },
            KindWire::Delay { ms } => FaultKind::Delay(Duration::from_millis(ms)),
            KindWire::DropConnection => FaultKind::DropConnection,
            KindWire::DropMidBody => FaultKind::DropMidBody,
            KindWire::Malformed => FaultKind::Malformed,
            KindWire::Truncated => FaultKind::Truncated,
            KindWire::EmptyBody => FaultKind::EmptyBody,
            KindWire::WrongTypes => FaultKind::WrongTypes,
            KindWire::Huge { bytes } => FaultKind::Huge(bytes),
            KindWire::Sealed => FaultKind::Sealed,
        })
    }
}

mod opt_method {
    use axum::http::Method;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(m: &Option<Method>, s: S) -> Result<S::Ok, S::Error> {
        match m {
            Some(m) => s.serialize_some(m.as_str()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Method>, D::Error> {
        let raw: Option<String> = Option::deserialize(d)?;
        raw.map(|m| {
            Method::from_bytes(m.to_ascii_uppercase().as_bytes()).map_err(serde::de::Error::custom)
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;

    #[test]
    fn matching_by_verb_and_path_or_prefix() {
        let f = Fault::new(
            Some(Method::POST),
            "auth/token/create-orphan",
            FaultKind::Sealed,
            1,
        );
        assert!(f.matches(&Method::POST, "auth/token/create-orphan"));
        assert!(!f.matches(&Method::GET, "auth/token/create-orphan"));
        assert!(!f.matches(&Method::POST, "auth/token/create"));
        let any = Fault::new(None, "auth/token/*", FaultKind::Malformed, 1);
        assert!(any.matches(&Method::GET, "auth/token/lookup-self"));
        let list = Fault::new(None, "auth/token/accessors", FaultKind::Malformed, 1);
        assert!(list.matches(
            &Method::from_bytes(b"LIST").unwrap(),
            "auth/token/accessors/"
        ));
    }

    #[test]
    fn wire_shape_round_trips() {
        let f: Fault = serde_json::from_str(
            r#"{"method":"post","path":"auth/token/renew-self","kind":{"kind":"delay","ms":1500},"times":2}"#,
        )
        .unwrap();
        assert_eq!(f.kind, FaultKind::Delay(Duration::from_millis(1500)));
        assert_eq!(f.method, Some(Method::POST));
        let back: Fault = serde_json::from_str(&serde_json::to_string(&f).unwrap()).unwrap();
        assert_eq!(back, f);
        assert!(serde_json::from_str::<Fault>(r#"{"path":"x","kind":{"kind":"nope"}}"#).is_err());
        serde_json::from_str::<serde_json::Value>(WRONG_TYPES_BODY).unwrap();
    }
}
