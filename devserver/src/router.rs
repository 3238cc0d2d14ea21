//! Maps one `/v1/…` request onto the store: route lookup, token check, ACL gate, verb check,
//! use counting (contract §7 for statuses; §3.0 for the gate).

use axum::http::{HeaderMap, Method};
use serde_json::Value;

use crate::acl::{DELETE, LIST, PATCH, READ, UPDATE};
use crate::fields::{self, Schema};
use crate::reply::Reply;
use crate::store::Store;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    LookupSelf,
    Lookup,
    RenewSelf,
    RevokeSelf,
    Create,
    CreateOrphan,
    LookupAccessor,
    RevokeAccessor,
    Accessors,
    CapabilitiesSelf,
}

impl Endpoint {
    fn parse(path: &str) -> Option<Self> {
        Some(match path {
            "auth/token/lookup-self" => Endpoint::LookupSelf,
            "auth/token/lookup" => Endpoint::Lookup,
            "auth/token/renew-self" => Endpoint::RenewSelf,
            "auth/token/revoke-self" => Endpoint::RevokeSelf,
            "auth/token/create" => Endpoint::Create,
            "auth/token/create-orphan" => Endpoint::CreateOrphan,
            "auth/token/lookup-accessor" => Endpoint::LookupAccessor,
            "auth/token/revoke-accessor" => Endpoint::RevokeAccessor,
            // §4: the trailing slash is optional.
            "auth/token/accessors" | "auth/token/accessors/" => Endpoint::Accessors,
            "sys/capabilities-self" => Endpoint::CapabilitiesSelf,
            _ => return None,
        })
    }

    /// The operations the handler supports (§1: lookup-self registers read and update).
    fn supports(self, op: u8) -> bool {
        match self {
            // §1: lookup-self registers read and update; so does lookup (openbao token_store.go paths).
            Endpoint::LookupSelf | Endpoint::Lookup => op == READ || op == UPDATE,
            Endpoint::Accessors => op == LIST,
            _ => op == UPDATE,
        }
    }

    /// The field schema of the path (see `fields.rs`); body keys outside it draw a warning.
    fn schema(self) -> Schema {
        match self {
            Endpoint::LookupSelf | Endpoint::Lookup => fields::LOOKUP,
            Endpoint::RenewSelf => fields::RENEW_SELF,
            Endpoint::Create | Endpoint::CreateOrphan => fields::CREATE,
            Endpoint::LookupAccessor | Endpoint::RevokeAccessor => fields::ACCESSOR,
            Endpoint::CapabilitiesSelf => fields::CAPABILITIES,
            Endpoint::RevokeSelf | Endpoint::Accessors => fields::NONE,
        }
    }

    /// Root-protected paths need sudo at the gate: `accessors*` (contract §4).
    fn needs_sudo(self) -> bool {
        self == Endpoint::Accessors
    }
}

/// HTTP verb → logical operation (contract §2: POST and PUT are both update; §4: LIST or `GET ?list=true`).
fn operation(method: &Method, query: &str) -> Result<Option<u8>, Reply> {
    let list_param = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("list="))
        .map(|v| match v {
            "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
            "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
            // OpenBao answers 400 with an empty error list (measured).
            _ => Err(Reply::without_errors(400)),
        })
        .transpose()?;
    Ok(match method.as_str() {
        "GET" if list_param == Some(true) => Some(LIST),
        "GET" => Some(READ),
        "POST" | "PUT" => Some(UPDATE),
        "DELETE" => Some(DELETE),
        "LIST" => Some(LIST),
        "PATCH" => Some(PATCH),
        _ => None,
    })
}

/// X-Vault-Token wins over `Authorization: Bearer` (contract §7 "Headers"); an empty X-Vault-Token
/// counts as absent (openbao `internal/http/handler.go` getTokenFromReq checks `token != ""`).
fn request_token(headers: &HeaderMap) -> Option<&str> {
    if let Some(t) = headers
        .get("x-vault-token")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        return Some(t);
    }
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// Bodies are JSON; an empty body is accepted (contract §2 "Body").
fn parse_body(body: &[u8]) -> Result<Value, Reply> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_slice(body).map_err(|_| Reply::bad_request("error parsing JSON"))
}

/// `auth/<mount>/login/<username>` for a mount that has userpass users.
fn login_route<'a>(store: &Store, path: &'a str) -> Option<(&'a str, &'a str)> {
    let rest = path.strip_prefix("auth/")?;
    let (mount, user) = rest.rsplit_once("/login/")?;
    (!user.is_empty() && !user.contains('/') && store.has_mount(mount)).then_some((mount, user))
}

/// A path without a handler: under a mount the double serves, the backend's wrapped
/// `unsupported path`; elsewhere core finds no mount and answers plainly (OpenBao 2.7.2, measured).
fn no_handler(store: &Store, path: &str) -> Reply {
    let login_mount = path
        .strip_prefix("auth/")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(mount, _)| store.has_mount(mount));
    if path.starts_with("auth/token/") || path.starts_with("sys/") || login_mount {
        Reply::unsupported_path()
    } else {
        Reply::error(
            404,
            &format!("no handler for route {path:?}. route entry not found."),
        )
    }
}

pub(crate) fn dispatch(
    store: &mut Store,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Reply {
    // Unauthenticated: a token, even a bad one, is not checked; hvac probes it with HEAD.
    if path == "sys/health" && matches!(method.as_str(), "GET" | "HEAD") {
        return store.health();
    }
    let op = match operation(method, query) {
        Ok(op) => op,
        Err(reply) => return reply,
    };
    // Unauthenticated like a login: the OIDC flow's two Vault paths (contract §9).
    if let Some((mount, action)) = crate::oidc::route(store, path) {
        return match (action, op) {
            ("auth_url", Some(UPDATE)) => match parse_body(body) {
                Ok(b) => {
                    let host = headers
                        .get("host")
                        .and_then(|h| h.to_str().ok())
                        .unwrap_or("127.0.0.1:8200");
                    store.oidc_auth_url(mount, &b, host)
                }
                Err(r) => r,
            },
            ("callback", Some(READ)) => store.oidc_callback(mount, query),
            _ => Reply::unsupported_operation(),
        };
    }
    if let Some((mount, user)) = login_route(store, path) {
        return match op {
            Some(UPDATE) => match parse_body(body) {
                Ok(b) => store.login(mount, user, &b),
                Err(r) => r,
            },
            _ => Reply::unsupported_operation(),
        };
    }
    let Some(op) = op else {
        return Reply::unsupported_operation();
    };
    // §7: missing, unknown, expired or revoked token → 403 before anything else, unknown paths
    // included: Vault's CheckToken runs before routing and an unsupported path fails only after it
    // (openbao internal/vault/request_handling.go CheckToken, "fail later via bad path").
    let Some(caller) = request_token(headers).and_then(|t| store.live(t)) else {
        return Reply::bad_token();
    };
    let caller_id = caller.id.clone();
    // §3.0 ACL gate, over token + identity policies; a LIST path carries a trailing slash (§4).
    let acl_path = if op == LIST && !path.ends_with('/') {
        format!("{path}/")
    } else {
        path.to_string()
    };
    let endpoint = Endpoint::parse(path);
    let acl = store.acl(caller);
    if !acl.allows(&acl_path, op)
        || (endpoint.is_some_and(Endpoint::needs_sudo) && !acl.has_sudo(&acl_path))
    {
        return Reply::acl_denied();
    }
    let Some(endpoint) = endpoint else {
        return no_handler(store, path);
    };
    // §7: 405 only once the ACL allowed the operation.
    if !endpoint.supports(op) {
        return Reply::unsupported_operation();
    }
    let body = match parse_body(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    // §3.1: a limited-use parent cannot create children; checked before this request spends a use.
    if matches!(endpoint, Endpoint::Create | Endpoint::CreateOrphan)
        && store.tokens[&caller_id].num_uses > 0
    {
        return Reply::bad_request("restricted use token cannot generate child tokens");
    }
    // A limited-use token is spent by this request and revoked after it.
    let mut exhausted = false;
    if let Some(e) = store.tokens.get_mut(&caller_id)
        && e.num_uses > 0
    {
        e.num_uses -= 1;
        exhausted = e.num_uses == 0;
    }
    let mut reply = match endpoint {
        Endpoint::LookupSelf => store.lookup_self(&caller_id),
        Endpoint::Lookup => store.lookup_other(&caller_id, &body),
        Endpoint::RenewSelf => store.renew_self(&caller_id, &body),
        Endpoint::RevokeSelf => store.revoke_self(&caller_id),
        Endpoint::Create => store.create_token(&caller_id, "auth/token/create", &body),
        Endpoint::CreateOrphan => store.create_token(&caller_id, "auth/token/create-orphan", &body),
        Endpoint::LookupAccessor => store.lookup_accessor(&body),
        Endpoint::RevokeAccessor => store.revoke_accessor(&body),
        Endpoint::Accessors => store.list_accessors(),
        Endpoint::CapabilitiesSelf => store.capabilities_self(&caller_id, &body),
    };
    if exhausted {
        store.revoke_tree(&caller_id);
    }
    // The framework warns about body fields outside the schema on every answer that has a body.
    if reply.status == 200
        && let Some(w) = fields::ignored_warning(&body, endpoint.schema())
    {
        reply.add_warning(w);
    }
    reply
}
