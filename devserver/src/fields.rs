//! Request-body fields the way OpenBao's framework decodes them: each endpoint has a field schema,
//! every present field is weakly decoded and validated *before* the handler runs (a failure is 400
//! `Field validation failed: …`), and fields outside the schema are ignored with a warning on any
//! non-empty answer. Source: openbao `sdk/framework/backend.go` HandleRequest (@1b561ffe) and
//! `sdk/framework/field_data.go` Validate/getPrimitive (@02e2c736); the create schema is
//! `commonFieldsForCreate` in `internal/vault/token_store.go` (@2edd34dd).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::clock::parse_duration_secs;
use crate::reply::Reply;

#[derive(Clone, Copy)]
pub(crate) enum FieldType {
    Str,
    Int,
    Bool,
    /// Seconds; negative values are refused (`TypeDurationSecond`).
    DurationSecond,
    /// JSON array, or one string kept whole (`"a,b"` is one element); `""` is empty.
    StringSlice,
    /// JSON array, or a comma-separated string.
    CommaStringSlice,
    /// An object of string values, or a list of `k=v` strings.
    KvPairs,
}

pub(crate) type Schema = &'static [(&'static str, FieldType)];

use FieldType::*;

/// `commonFieldsForCreate`: every create/create-orphan field is a string except these few; `period`,
/// `ttl` and `explicit_max_ttl` are strings parsed by the handler (contract §3 params).
pub(crate) const CREATE: Schema = &[
    ("display_name", Str),
    ("explicit_max_ttl", Str),
    ("entity_alias", Str),
    ("num_uses", Int),
    ("period", Str),
    ("renewable", Bool),
    ("ttl", Str),
    ("lease", Str),
    ("type", Str),
    ("no_default_policy", Bool),
    ("id", Str),
    ("meta", KvPairs),
    ("no_parent", Bool),
    ("policies", StringSlice),
];
pub(crate) const RENEW_SELF: Schema = &[("token", Str), ("increment", DurationSecond)];
pub(crate) const LOOKUP: Schema = &[("token", Str)];
pub(crate) const ACCESSOR: Schema = &[("accessor", Str)];
pub(crate) const NONE: Schema = &[];
/// `sys/capabilities-self`: `paths` (and the deprecated `path`) are comma-string slices (contract §6).
pub(crate) const CAPABILITIES: Schema = &[
    ("token", Str),
    ("path", CommaStringSlice),
    ("paths", CommaStringSlice),
];

/// A decoded value of one field.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Field {
    Str(String),
    Int(i64),
    Bool(bool),
    Secs(i64),
    List(Vec<String>),
    /// None for a JSON `null` (Go's nil map): `meta:null` reads back as null, `meta:{}` as `{}`.
    Kv(Option<BTreeMap<String, String>>),
}

/// The validated body of one request.
pub(crate) struct Fields {
    values: BTreeMap<&'static str, Field>,
}

/// mapstructure's weak decode to a string: numbers and bools are printed, `null` is empty.
fn weak_string(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Null => Ok(String::new()),
        Value::Bool(b) => Ok(if *b { "1" } else { "0" }.into()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Array(_) => {
            Err("expected type 'string', got unconvertible type '[]interface {}'".into())
        }
        Value::Object(_) => {
            Err("expected type 'string', got unconvertible type 'map[string]interface {}'".into())
        }
    }
}

/// mapstructure's wording as OpenBao 2.7.2 sends it (measured): the value is not quoted.
const NOT_AN_INT: &str = "'' cannot parse value as 'int': strconv.ParseInt: invalid syntax";

/// Go's `strconv.ParseBool`, which the weak decode uses for strings (JSON numbers are json.Number strings).
fn parse_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        // mapstructure's wording as OpenBao 2.7.2 sends it (measured): the value is not quoted.
        _ => Err("'' cannot parse value as 'bool': strconv.ParseBool: invalid syntax".into()),
    }
}

fn decode(ty: FieldType, v: &Value) -> Result<Field, String> {
    Ok(match ty {
        Str => Field::Str(weak_string(v)?),
        Int => Field::Int(match v {
            Value::Null => 0,
            Value::Bool(b) => i64::from(*b),
            Value::Number(n) => n.as_i64().ok_or_else(|| NOT_AN_INT.to_string())?,
            Value::String(s) if s.is_empty() => 0,
            Value::String(s) => s.parse().map_err(|_| NOT_AN_INT.to_string())?,
            _ => return Err("expected type 'int', got unconvertible type".into()),
        }),
        Bool => Field::Bool(match v {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::String(s) if s.is_empty() => false,
            Value::String(s) => parse_bool(s)?,
            Value::Number(n) => parse_bool(&n.to_string())?,
            _ => return Err("expected type 'bool', got unconvertible type".into()),
        }),
        DurationSecond => {
            let secs = parse_duration_secs(v)?;
            if secs < 0 {
                return Err(format!("cannot provide negative value '{secs}'"));
            }
            Field::Secs(secs)
        }
        StringSlice => Field::List(match v {
            Value::Null => Vec::new(),
            Value::String(s) if s.is_empty() => Vec::new(),
            Value::Array(a) => a
                .iter()
                .map(|x| weak_string(x).map(|s| s.trim().to_string()))
                .collect::<Result<_, _>>()?,
            other => vec![weak_string(other)?.trim().to_string()],
        }),
        // parseutil.ParseCommaStringSlice: "" is empty, otherwise split and trimmed, empties kept.
        CommaStringSlice => Field::List(match v {
            Value::Null => Vec::new(),
            Value::String(s) if s.is_empty() => Vec::new(),
            Value::String(s) => s.split(',').map(|p| p.trim().to_string()).collect(),
            Value::Array(a) => a
                .iter()
                .map(|x| weak_string(x).map(|s| s.trim().to_string()))
                .collect::<Result<_, _>>()?,
            other => vec![weak_string(other)?],
        }),
        KvPairs => Field::Kv(match v {
            Value::Null => None,
            Value::Object(m) => Some(
                m.iter()
                    .map(|(k, v)| weak_string(v).map(|s| (k.clone(), s)))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Array(a) => {
                let mut out = BTreeMap::new();
                for pair in a {
                    let pair = weak_string(pair)?;
                    match pair.split_once('=') {
                        Some((k, v)) if !k.is_empty() => out.insert(k.to_string(), v.to_string()),
                        _ => return Err(format!("invalid key pair {pair:?}")),
                    };
                }
                Some(out)
            }
            other => return Err(format!("invalid key pair {:?}", weak_string(other)?)),
        }),
    })
}

impl Fields {
    /// `FieldData.Validate`: decode every schema field present in `body`, or the 400 the framework
    /// returns before the handler runs.
    pub(crate) fn validate(body: &Value, schema: Schema) -> Result<Fields, Reply> {
        let empty = Map::new();
        let map = body.as_object().unwrap_or(&empty);
        let mut values = BTreeMap::new();
        for (name, ty) in schema {
            let Some(raw) = map.get(*name) else { continue };
            let field = decode(*ty, raw).map_err(|e| {
                Reply::bad_request(&format!(
                    "Field validation failed: error converting input for field {name:?}: {e}"
                ))
            })?;
            values.insert(*name, field);
        }
        Ok(Fields { values })
    }

    #[cfg(test)]
    pub(crate) fn present(&self, k: &str) -> bool {
        self.values.contains_key(k)
    }

    pub(crate) fn str(&self, k: &str) -> String {
        match self.values.get(k) {
            Some(Field::Str(s)) => s.clone(),
            _ => String::new(),
        }
    }

    pub(crate) fn int(&self, k: &str) -> i64 {
        match self.values.get(k) {
            Some(Field::Int(n)) => *n,
            _ => 0,
        }
    }

    pub(crate) fn bool_or(&self, k: &str, default: bool) -> bool {
        match self.values.get(k) {
            Some(Field::Bool(b)) => *b,
            _ => default,
        }
    }

    pub(crate) fn secs(&self, k: &str) -> u64 {
        match self.values.get(k) {
            Some(Field::Secs(n)) => *n as u64,
            _ => 0,
        }
    }

    pub(crate) fn list(&self, k: &str) -> Vec<String> {
        match self.values.get(k) {
            Some(Field::List(l)) => l.clone(),
            _ => Vec::new(),
        }
    }

    pub(crate) fn kv(&self, k: &str) -> Option<BTreeMap<String, String>> {
        match self.values.get(k) {
            Some(Field::Kv(m)) => m.clone(),
            _ => None,
        }
    }
}

/// The warning the framework adds to any non-nil answer when the body carried fields outside the
/// schema: `Endpoint ignored these unrecognized parameters: [a b]` (sorted, Go's `%v` of a slice).
pub(crate) fn ignored_warning(body: &Value, schema: Schema) -> Option<String> {
    let mut ignored: Vec<&str> = body
        .as_object()?
        .keys()
        .map(String::as_str)
        .filter(|k| !schema.iter().any(|(n, _)| n == k))
        .collect();
    if ignored.is_empty() {
        return None;
    }
    ignored.sort_unstable();
    Some(format!(
        "Endpoint ignored these unrecognized parameters: [{}]",
        ignored.join(" ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn weak_decoding_follows_the_framework() {
        let f = Fields::validate(
            &json!({"policies": "a,b", "num_uses": "3", "renewable": "t", "meta": ["k=v"], "ttl": 60}),
            CREATE,
        )
        .unwrap();
        assert_eq!(f.list("policies"), ["a,b"], "a comma string is one name");
        assert_eq!(f.int("num_uses"), 3);
        assert!(f.bool_or("renewable", false));
        assert_eq!(f.kv("meta").unwrap()["k"], "v");
        assert_eq!(f.str("ttl"), "60", "a number is weakly a string");
        let f = Fields::validate(&json!({"meta": null, "policies": ""}), CREATE).unwrap();
        assert!(f.present("meta") && f.kv("meta").is_none());
        assert!(f.list("policies").is_empty());
        let caps = Fields::validate(&json!({"paths": "a, b"}), CAPABILITIES).unwrap();
        assert_eq!(caps.list("paths"), ["a", "b"]);
    }

    #[test]
    fn bad_types_fail_validation_with_the_framework_prefix() {
        for body in [
            json!({"num_uses": "many"}),
            json!({"renewable": "maybe"}),
            json!({"policies": [{"x": 1}]}),
            json!({"meta": ["novalue"]}),
        ] {
            let r = Fields::validate(&body, CREATE).err().expect("invalid");
            assert_eq!(r.status, 400);
            let msg = r.body.unwrap()["errors"][0].as_str().unwrap().to_string();
            assert!(
                msg.starts_with("Field validation failed: error converting input for field "),
                "{msg}"
            );
        }
        let r = Fields::validate(&json!({"increment": -5}), RENEW_SELF)
            .err()
            .unwrap();
        assert_eq!(
            r.body.unwrap()["errors"][0],
            "Field validation failed: error converting input for field \"increment\": cannot provide negative value '-5'"
        );
    }

    #[test]
    fn ignored_parameters_are_listed_sorted() {
        assert_eq!(
            ignored_warning(&json!({"zeta": 1, "policies": [], "alpha": 2}), CREATE).as_deref(),
            Some("Endpoint ignored these unrecognized parameters: [alpha zeta]")
        );
        assert_eq!(
            ignored_warning(&json!({"increment": "1h"}), RENEW_SELF),
            None
        );
    }
}
