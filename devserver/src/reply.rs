//! Vault's response envelope and error bodies (contract §1 "Envelope", §7).

use serde_json::{Value, json};

/// A finished answer: a status and a JSON body (None = 204 No Content).
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Option<Value>,
}

impl Reply {
    /// `{"errors":[msg]}` with the given status (contract §7 "Error body").
    pub(crate) fn error(status: u16, msg: &str) -> Self {
        Reply {
            status,
            body: Some(json!({ "errors": [msg] })),
        }
    }

    /// 400 for a handler's error response (contract §7: nil-error responses and ErrInvalidRequest map to 400).
    pub(crate) fn bad_request(msg: &str) -> Self {
        Self::error(400, msg)
    }

    /// Missing, unknown, expired or revoked token: OpenBao's plain text (contract §7 "Exact 403 strings").
    pub(crate) fn bad_token() -> Self {
        Self::error(403, "permission denied")
    }

    /// An error Vault's request handler wraps in a go-multierror (`1 error occurred:\n\t* …\n\n`):
    /// ACL denials and routing errors; a handler's own error response stays plain. Measured
    /// against OpenBao 2.7.2 by the differential tests.
    pub(crate) fn wrapped(status: u16, msg: &str) -> Self {
        Self::error(status, &format!("1 error occurred:\n\t* {msg}\n\n"))
    }

    /// ACL denial (contract §7, §3 Scenario B).
    pub(crate) fn acl_denied() -> Self {
        Self::wrapped(403, "permission denied")
    }

    /// A path no backend serves.
    pub(crate) fn unsupported_path() -> Self {
        Self::wrapped(404, "unsupported path")
    }

    /// A verb the path's backend does not register.
    pub(crate) fn unsupported_operation() -> Self {
        Self::wrapped(405, "unsupported operation")
    }

    /// Empty LIST (contract §4), and anything outside `/v1/`: 404 with an empty error list.
    pub(crate) fn not_found() -> Self {
        Self::without_errors(404)
    }

    /// `{"errors":[]}`: what Vault sends for an error response without a message.
    pub(crate) fn without_errors(status: u16) -> Self {
        Reply {
            status,
            body: Some(json!({ "errors": [] })),
        }
    }

    /// Append a warning to a 200 envelope (`warnings` null → a one-element list).
    pub(crate) fn add_warning(&mut self, warning: String) {
        if let Some(Value::Object(body)) = self.body.as_mut() {
            match body.get_mut("warnings") {
                Some(Value::Array(list)) => list.push(Value::String(warning)),
                _ => {
                    body.insert("warnings".into(), json!([warning]));
                }
            }
        }
    }

    pub(crate) fn no_content() -> Self {
        Reply {
            status: 204,
            body: None,
        }
    }

    /// 200 with the standard logical envelope (contract §1): the top-level `renewable` and
    /// `lease_duration` describe a secret lease and are always false/0 for the token store;
    /// `warnings` is null, not `[]`, when there are none.
    pub(crate) fn ok(request_id: String, data: Value, warnings: Vec<String>, auth: Value) -> Self {
        Reply {
            status: 200,
            body: Some(json!({
                "request_id": request_id,
                "lease_id": "",
                "renewable": false,
                "lease_duration": 0,
                "data": data,
                "wrap_info": null,
                "warnings": if warnings.is_empty() { Value::Null } else { json!(warnings) },
                "auth": auth,
            })),
        }
    }
}
