//! Typed client errors. Messages carry the endpoint and the server's own words (escaped later,
//! at the log line); a token value can never be part of one, since tokens travel only in headers.

use crate::decide::{Denial, ServerErrorKind, classify_denial, classify_status};

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("cannot reach the server for {endpoint}: {detail}")]
    Transport {
        endpoint: &'static str,
        failure: Failure,
        detail: String,
    },
    #[error("{endpoint} answered HTTP {status}{}", server_words(.errors))]
    Status {
        endpoint: &'static str,
        status: u16,
        errors: Vec<String>,
    },
    #[error("{endpoint} answered with a body we cannot use ({detail})")]
    Decode {
        endpoint: &'static str,
        detail: String,
    },
}

/// How a request failed before an HTTP status came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Connection refused, DNS: the request never reached the server.
    Connect,
    /// The TLS handshake failed (certificate not trusted, wrong name): the request never reached
    /// the server, and repeating it cannot help until the settings change.
    Tls,
    /// The request timed out; the server may or may not have acted on it.
    Timeout,
    /// The connection broke after the request was sent.
    Other,
}

fn server_words(errors: &[String]) -> String {
    match errors
        .iter()
        .flat_map(|e| unwrap_multierror(e))
        .collect::<Vec<_>>()
    {
        e if e.is_empty() => String::new(),
        e => format!(": {}", e.join("; ")),
    }
}

/// The server's words without Go's multierror wrapping: Vault sends an ACL denial as
/// `1 error occurred:\n\t* permission denied\n\n`; a person needs `permission denied`, on one line.
pub fn unwrap_multierror(text: &str) -> Vec<String> {
    let text = text.trim();
    let mut lines = text.lines();
    let wrapped = lines
        .next()
        .is_some_and(|l| l.ends_with("error occurred:") || l.ends_with("errors occurred:"));
    if !wrapped {
        // Not Vault's wrapping: the text as the server sent it. A newline in it is shown escaped
        // by the log line's escaper, where a forged "OK renewed" stays visibly not a line of ours.
        return (!text.is_empty())
            .then(|| text.to_owned())
            .into_iter()
            .collect();
    }
    lines
        .map(|l| l.trim().trim_start_matches('*').trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

impl VaultError {
    /// A request that ran out of time before an answer (or the rest of one) came back.
    pub fn timed_out(endpoint: &'static str, detail: String) -> VaultError {
        VaultError::Transport {
            endpoint,
            failure: Failure::Timeout,
            detail,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            VaultError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn kind(&self) -> Option<ServerErrorKind> {
        self.status().map(classify_status)
    }

    /// Could trying again help? Connection problems, 429, 5xx, and 412 from a standby that has
    /// not caught up yet (contract §7; the Vault client retries 412 too).
    pub fn is_transient(&self) -> bool {
        match self {
            VaultError::Transport { failure, .. } => *failure != Failure::Tls,
            VaultError::Status { status, .. } => matches!(
                classify_status(*status),
                ServerErrorKind::Transient | ServerErrorKind::NotCaughtUp
            ),
            VaultError::Decode { .. } => false,
        }
    }

    /// True only when the request certainly never reached the server, so repeating a
    /// non-idempotent request (a mint) cannot create a second token.
    pub fn never_reached_server(&self) -> bool {
        matches!(
            self,
            VaultError::Transport {
                failure: Failure::Connect | Failure::Tls,
                ..
            }
        )
    }

    pub fn is_permission_denied(&self) -> bool {
        self.kind() == Some(ServerErrorKind::PermissionDenied)
    }

    /// The server's invalid-token answer: the token expired, was revoked or never existed
    /// (contract §7). Any other 403 is an ACL denial of a live token.
    pub fn is_invalid_token(&self) -> bool {
        matches!(self, VaultError::Status { status: 403, errors, .. } if classify_denial(errors) == Denial::InvalidToken)
    }

    /// The server's own reason, for log lines ("permission denied", "child policies must be …").
    pub fn server_reason(&self) -> String {
        match self {
            VaultError::Status { status, errors, .. } => {
                let words = server_words(errors);
                match words.strip_prefix(": ") {
                    Some(w) => format!("HTTP {status}: {w}"),
                    None => format!("HTTP {status}"),
                }
            }
            other => other.to_string(),
        }
    }
}

impl VaultError {
    /// A request that got no usable answer: what kind of failure, and its root cause.
    pub(super) fn transport(endpoint: &'static str, e: &reqwest::Error) -> VaultError {
        let failure = if e.is_connect() {
            Failure::Connect
        } else if e.is_timeout() {
            Failure::Timeout
        } else {
            Failure::Other
        };
        VaultError::Transport {
            endpoint,
            failure,
            detail: describe_reqwest(e),
        }
    }
}

/// A reqwest error as one line: the kind of failure and its innermost cause (reqwest's Display
/// names only the outermost layer; the cause chain says what went wrong).
pub(super) fn describe_reqwest(e: &reqwest::Error) -> String {
    let mut parts = vec![];
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "the answer broke off"
    } else {
        "request failed"
    };
    match parts.last() {
        Some(root) => format!("{kind}: {root}"),
        None => kind.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16) -> VaultError {
        VaultError::Status {
            endpoint: "auth/token/lookup-self",
            status,
            errors: vec![],
        }
    }

    #[test]
    fn server_texts_are_unwrapped_to_one_clean_line() {
        let denied = VaultError::Status {
            endpoint: "auth/token/create-orphan",
            status: 403,
            errors: vec!["1 error occurred:\n\t* permission denied\n\n".into()],
        };
        assert_eq!(denied.server_reason(), "HTTP 403: permission denied");
        assert_eq!(
            denied.to_string(),
            "auth/token/create-orphan answered HTTP 403: permission denied"
        );
        assert_eq!(
            unwrap_multierror("2 errors occurred:\n\t* a\n\t* b\n\n"),
            ["a", "b"]
        );
        assert_eq!(
            unwrap_multierror("bad\n request"),
            ["bad\n request"],
            "a newline outside the wrapping is kept, for the escaper to show"
        );
        assert!(unwrap_multierror("  ").is_empty());
    }

    fn transport(failure: Failure) -> VaultError {
        VaultError::Transport {
            endpoint: "auth/token/create-orphan",
            failure,
            detail: "x".into(),
        }
    }

    #[test]
    fn a_reasonless_status_reads_without_a_dangling_colon() {
        assert_eq!(
            status(403).to_string(),
            "auth/token/lookup-self answered HTTP 403"
        );
        assert_eq!(status(403).server_reason(), "HTTP 403");
    }

    #[test]
    fn only_an_answered_request_has_a_status_and_a_kind() {
        assert_eq!(status(403).status(), Some(403));
        assert_eq!(status(404).status(), Some(404));
        assert_eq!(status(403).kind(), Some(ServerErrorKind::PermissionDenied));
        assert_eq!(status(400).kind(), Some(ServerErrorKind::Refused));
        assert_eq!(transport(Failure::Other).status(), None);
        assert_eq!(transport(Failure::Other).kind(), None);
    }

    /// A mint is repeated only when this is true, so it must hold for a refused connection or
    /// handshake and for nothing that may have reached the server.
    #[test]
    fn only_a_refused_connection_or_handshake_never_reached_the_server() {
        assert!(transport(Failure::Connect).never_reached_server());
        assert!(transport(Failure::Tls).never_reached_server());
        assert!(!transport(Failure::Timeout).never_reached_server());
        assert!(!transport(Failure::Other).never_reached_server());
        assert!(!status(503).never_reached_server());
    }

    #[test]
    fn a_tls_failure_is_not_worth_repeating_other_transport_failures_are() {
        assert!(!transport(Failure::Tls).is_transient());
        assert!(transport(Failure::Connect).is_transient());
        assert!(transport(Failure::Timeout).is_transient());
        assert!(transport(Failure::Other).is_transient());
    }

    #[test]
    fn an_acl_denial_is_a_permission_denial_of_a_live_token() {
        let denied = VaultError::Status {
            endpoint: "sys/capabilities-self",
            status: 403,
            errors: vec!["1 error occurred:\n\t* permission denied\n\n".into()],
        };
        assert!(denied.is_permission_denied() && !denied.is_invalid_token());
        let unknown = VaultError::Status {
            endpoint: "auth/token/lookup-self",
            status: 403,
            errors: vec!["permission denied".into()],
        };
        assert!(unknown.is_invalid_token(), "a bare denial: no such token");
        assert!(!status(400).is_invalid_token());
        assert!(!status(400).is_permission_denied());
        assert!(!transport(Failure::Connect).is_permission_denied());
    }

    /// reqwest's error for a request to a one-shot local server that sends `reply` and hangs up,
    /// or, without a reply, to a port nothing listens on.
    fn reqwest_error(reply: Option<&'static [u8]>) -> reqwest::Error {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1/sys/health", listener.local_addr().unwrap());
        match reply {
            None => drop(listener),
            Some(reply) => {
                std::thread::spawn(move || {
                    let (mut conn, _) = listener.accept().unwrap();
                    let _ = conn.read(&mut [0; 4096]);
                    conn.write_all(reply).unwrap();
                });
            }
        }
        let _ = rustls::crypto::ring::default_provider().install_default();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            match reqwest::Client::new().get(&url).send().await {
                Err(e) => e,
                Ok(answer) => answer.bytes().await.unwrap_err(),
            }
        })
    }

    #[test]
    fn a_refused_connection_says_so_with_its_cause() {
        let e = reqwest_error(None);
        let detail = describe_reqwest(&e);
        let cause = detail.strip_prefix("connection failed: ").unwrap();
        assert!(!cause.is_empty(), "{detail}");
        let error = VaultError::transport("sys/health", &e);
        assert!(error.never_reached_server(), "{error:?}");
    }

    #[test]
    fn an_answer_that_breaks_off_says_so() {
        let e = reqwest_error(Some(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"da"));
        let detail = describe_reqwest(&e);
        assert!(detail.starts_with("the answer broke off: "), "{detail}");
        let error = VaultError::transport("sys/health", &e);
        assert!(!error.never_reached_server(), "{error:?}");
    }

    #[test]
    fn a_standby_that_has_not_caught_up_is_worth_asking_again() {
        assert!(status(412).is_transient(), "412 index state not present");
        assert!(status(503).is_transient() && status(429).is_transient());
        assert!(!status(403).is_transient() && !status(400).is_transient());
    }
}
