//! The server's JSON: response shapes of the few endpoints we use (contract §1–§7). Only the
//! fields the tool reads are declared; `data.id` (the token itself, echoed by lookup-self) is
//! never deserialised. Its own room, below both the client and the decisions that read it.

use crate::secret::Token;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;

/// `data` of lookup-self and lookup-accessor (contract §1 table). The fields a decision rests on
/// are required and may not be null: every server sends them, so a missing one means the answer
/// is not a token lookup, and a default (an empty display name, no max TTL) would decide wrongly.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct TokenInfo {
    pub accessor: String,
    pub display_name: String,
    /// Token policies only (contract §1: identity policies are not included).
    pub policies: Vec<String>,
    /// Present only when the token has an entity with policies; null and absent both mean none.
    #[serde(default, deserialize_with = "null_as_default")]
    pub identity_policies: Vec<String>,
    pub ttl: i64,
    /// Absent for non-periodic tokens (contract §1), and for tokens of a role, whose period the
    /// role holds (OpenBao 2.7.2).
    #[serde(default)]
    pub period: Option<i64>,
    pub explicit_max_ttl: i64,
    /// Absent when the token has no lease record (the init root token).
    #[serde(default)]
    pub renewable: Option<bool>,
    pub orphan: bool,
    pub path: String,
    /// The token role it was made through; absent otherwise.
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub expire_time: Option<String>,
    /// RFC 3339 time of the last issue (creation, or the last renewal's lease start).
    #[serde(default)]
    pub issue_time: Option<String>,
    /// Unix time the token was created.
    #[serde(default)]
    pub creation_time: Option<i64>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub meta: BTreeMap<String, String>,
    #[serde(rename = "type", default, deserialize_with = "null_as_default")]
    pub token_type: String,
}

/// The `auth` block of create and renew responses (contract §2, §3).
#[derive(Debug, Deserialize)]
pub struct AuthBlock {
    pub client_token: Token,
    #[serde(default, deserialize_with = "null_as_default")]
    pub accessor: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub policies: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub lease_duration: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub renewable: bool,
}

/// The renew-self `auth` block without the token echo, which we already hold.
#[derive(Debug, Deserialize)]
pub struct RenewAuth {
    #[serde(default, deserialize_with = "null_as_default")]
    pub lease_duration: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub renewable: bool,
}

#[derive(Debug, Deserialize)]
pub struct Envelope<D, A> {
    #[serde(default = "none")]
    pub data: Option<D>,
    #[serde(default = "none")]
    pub auth: Option<A>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub warnings: Vec<String>,
}

fn none<T>() -> Option<T> {
    None
}

#[derive(Debug, Deserialize)]
pub struct Keys {
    #[serde(default, deserialize_with = "null_as_default")]
    pub keys: Vec<String>,
}

/// Vault's error body (contract §7): `{"errors":["…"]}`, possibly empty.
#[derive(Debug, Default, Deserialize)]
pub struct ErrorBody {
    #[serde(default, deserialize_with = "null_as_default")]
    pub errors: Vec<String>,
}

impl<'de> Deserialize<'de> for Token {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = String::deserialize(d)?;
        if value.is_empty() {
            return Err(serde::de::Error::custom("empty client_token"));
        }
        Ok(Token::new(value))
    }
}

/// Vault sends `null` for several list/object fields (e.g. `meta`, `warnings`); treat it as empty.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    type Lookup = Envelope<TokenInfo, serde::de::IgnoredAny>;

    #[test]
    fn periodic_lookup_parses_without_reading_the_id() {
        let body = r#"{"request_id":"r","lease_id":"","renewable":false,"lease_duration":0,"data":{
            "accessor":"8Kx2tQ0b3YcWcV1m9RzJ5aLp","creation_time":1717430400,"creation_ttl":2764800,
            "display_name":"token-devvm-wizard","entity_id":"","expire_time":"2024-07-05T16:00:00.123456789Z",
            "explicit_max_ttl":0,"id":"s.SECRET","issue_time":"2024-06-03T16:00:00Z","meta":null,"num_uses":0,
            "orphan":true,"path":"auth/token/create-orphan","period":2764800,
            "policies":["default","sops-admin","vault-admin"],"renewable":true,"ttl":2764791,"type":"service"},
            "wrap_info":null,"warnings":null,"auth":null}"#;
        let env: Lookup = serde_json::from_str(body).unwrap();
        let info = env.data.unwrap();
        assert_eq!(info.period, Some(2764800));
        assert_eq!(info.display_name, "token-devvm-wizard");
        assert!(info.identity_policies.is_empty());
        assert!(info.meta.is_empty());
        assert!(!format!("{info:?}").contains("SECRET"));
    }

    /// The fields every lookup carries, with `extra` merged in (or removed when null).
    fn lookup_with(extra: serde_json::Value) -> Result<TokenInfo, serde_json::Error> {
        let mut data = serde_json::json!({
            "accessor": "a", "display_name": "token-x", "policies": ["default"], "ttl": 60,
            "explicit_max_ttl": 0, "orphan": true, "path": "auth/token/create-orphan"
        });
        for (k, v) in extra.as_object().unwrap() {
            data[k] = v.clone();
        }
        serde_json::from_value(data)
    }

    #[test]
    fn identity_policies_null_absent_and_present() {
        for (extra, want) in [
            (serde_json::json!({"identity_policies": null}), vec![]),
            (serde_json::json!({}), vec![]),
            (
                serde_json::json!({"identity_policies": ["vault-admin"]}),
                vec!["vault-admin".to_string()],
            ),
        ] {
            let info = lookup_with(extra.clone()).unwrap();
            assert_eq!(info.identity_policies, want, "{extra}");
            assert_eq!(info.period, None, "period absent means not periodic");
        }
    }

    #[test]
    fn a_missing_or_null_required_field_is_an_error_never_a_default() {
        for field in [
            "accessor",
            "display_name",
            "policies",
            "ttl",
            "explicit_max_ttl",
            "orphan",
            "path",
        ] {
            let mut data = serde_json::json!({
                "accessor": "a", "display_name": "token-x", "policies": ["default"], "ttl": 60,
                "explicit_max_ttl": 0, "orphan": true, "path": "auth/token/create-orphan"
            });
            data.as_object_mut().unwrap().remove(field);
            assert!(
                serde_json::from_value::<TokenInfo>(data.clone()).is_err(),
                "{field} missing"
            );
            data[field] = serde_json::Value::Null;
            assert!(
                serde_json::from_value::<TokenInfo>(data).is_err(),
                "{field} null"
            );
        }
        let info = lookup_with(serde_json::json!({"period": 60, "role": "devvm"})).unwrap();
        assert_eq!(
            (info.period, info.role.as_deref()),
            (Some(60), Some("devvm"))
        );
    }

    #[test]
    fn accessor_list_parses() {
        let env: Envelope<Keys, serde::de::IgnoredAny> =
            serde_json::from_str(r#"{"data":{"keys":["a","b"]},"warnings":null}"#).unwrap();
        assert_eq!(env.data.unwrap().keys, ["a", "b"]);
    }

    #[test]
    fn create_response_parses_and_redacts() {
        let body = r#"{"data":null,"warnings":["Policy \"sops-admin\" does not exist"],"auth":{
            "client_token":"s.NEWSECRET","accessor":"Zt9","policies":["default","vault-admin"],
            "token_policies":["default","vault-admin"],"metadata":null,"lease_duration":2764800,
            "renewable":true,"entity_id":"","token_type":"service","orphan":true,"mfa_requirement":null,"num_uses":0}}"#;
        let env: Envelope<serde::de::IgnoredAny, AuthBlock> = serde_json::from_str(body).unwrap();
        let auth = env.auth.unwrap();
        assert_eq!(auth.client_token.expose(), "s.NEWSECRET");
        assert_eq!(env.warnings.len(), 1);
        assert!(!format!("{auth:?}").contains("NEWSECRET"));
    }
}
