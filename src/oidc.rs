//! `mint --oidc`: the OIDC login the Vault CLI performs (contract §9), done in-process so the login
//! token never touches the token file — it lives in memory as a [`Token`] only, so this mint cannot
//! clobber anything.
//!
//! Flow: bind the loopback callback listener; `POST auth/<mount>/oidc/auth_url` with
//! `redirect_uri=http://localhost:<port>/oidc/callback` and a fresh `client_nonce`; open the
//! browser (or print the URL); wait, bounded, for the provider to redirect the browser to us;
//! exchange `state`/`code`/`client_nonce` at `GET auth/<mount>/oidc/callback` for the login token.

use crate::runlog::escape;
use crate::secret::Token;
use crate::vault::Client;
use crate::wire::{AuthBlock, Envelope, ErrorBody};
use serde::de::IgnoredAny;
use std::collections::HashMap;
use std::io::Read;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use zeroize::Zeroizing;

/// The Vault CLI gives up after two minutes too.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(120);
const BODY_LIMIT: usize = 1 << 20;
const REQUEST_HEAD_LIMIT: usize = 16 << 10;

#[derive(Debug, Clone)]
pub struct OidcOptions {
    pub mount: String,
    /// None: the mount's `default_role`.
    pub role: Option<String>,
    /// 0: any free port (the server matches loopback redirect URIs on any port).
    pub port: u16,
    pub open_browser: bool,
    pub wait: Duration,
}

/// A finished login: the token, held only in memory.
pub struct Login {
    pub token: Token,
    pub accessor: String,
}

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error(
        "cannot listen for the OIDC callback on localhost:{port} ({source}); free the port or pass --oidc-port (0 picks a free one, if the role allows any loopback port)"
    )]
    Listen { port: u16, source: std::io::Error },
    #[error("{path}: {detail}")]
    Server { path: String, detail: String },
    #[error(
        "the server will not start an OIDC login for role {role} with redirect_uri {redirect_uri}; add that URI to the role's allowed_redirect_uris, or pass --oidc-role/--oidc-port to match it"
    )]
    RedirectRefused { role: String, redirect_uri: String },
    #[error(
        "no OIDC callback within {}s; open the URL printed above in a browser and finish the login, or run again (--oidc-port if another program holds the port)",
        .0.as_secs()
    )]
    TimedOut(Duration),
    #[error("the identity provider refused the login: {0}")]
    Provider(String),
    #[error(
        "the provider posted its answer (response_mode=form_post), which mint --oidc does not support; use `VAULT_TOKEN=$(vault login -method=oidc -token-only) vault-token-renew mint`"
    )]
    FormPost,
    #[error("cannot read a random nonce: {0}")]
    Random(std::io::Error),
}

/// Performs the login. Progress and the URL go to stderr; the token never does.
pub async fn login(client: &Client, opts: &OidcOptions) -> Result<Login, OidcError> {
    let listener = bind(opts.port).await?;
    let port = listener
        .local_addr()
        .map_err(|source| OidcError::Listen {
            port: opts.port,
            source,
        })?
        .port();
    // Browsers may resolve localhost to ::1 first; serve that too when it is available.
    let listener6 = TcpListener::bind(SocketAddr::from((Ipv6Addr::LOCALHOST, port)))
        .await
        .ok();
    let redirect_uri = format!("http://localhost:{port}/oidc/callback");
    let client_nonce = random_nonce().map_err(OidcError::Random)?;
    let auth_url = auth_url(client, opts, &redirect_uri, &client_nonce).await?;

    eprintln!(
        "Complete the login with your OIDC provider in a browser:\n\n    {auth_url}\n\nWaiting up to {}s for the login to finish…",
        opts.wait.as_secs()
    );
    if opts.open_browser {
        open_browser(&auth_url);
    }
    let wait = async {
        loop {
            let accepted = match &listener6 {
                Some(l6) => tokio::select! {
                    r = listener.accept() => r,
                    r = l6.accept() => r,
                },
                None => listener.accept().await,
            };
            let Ok((stream, _)) = accepted else { continue };
            if let Some(result) = serve_one(client, opts, &client_nonce, stream).await {
                return result;
            }
        }
    };
    match tokio::time::timeout(opts.wait, wait).await {
        Ok(result) => result,
        Err(_) => Err(OidcError::TimedOut(opts.wait)),
    }
}

async fn bind(port: u16) -> Result<TcpListener, OidcError> {
    TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .await
        .map_err(|source| OidcError::Listen { port, source })
}

async fn auth_url(
    client: &Client,
    opts: &OidcOptions,
    redirect_uri: &str,
    client_nonce: &str,
) -> Result<String, OidcError> {
    let path = format!("auth/{}/oidc/auth_url", opts.mount);
    let body = serde_json::json!({
        "role": opts.role.clone().unwrap_or_default(),
        "redirect_uri": redirect_uri,
        "client_nonce": client_nonce,
    });
    let request = client.http().post(url(client, &path)?).json(&body);
    let bytes = send(request, &path).await?;
    #[derive(serde::Deserialize)]
    struct AuthUrl {
        #[serde(default)]
        auth_url: String,
    }
    let env: Envelope<AuthUrl, IgnoredAny> =
        serde_json::from_slice(&bytes).map_err(|_| OidcError::Server {
            path: path.clone(),
            detail: "the answer is not Vault's JSON; check VAULT_ADDR and --oidc-mount".into(),
        })?;
    match env.data.map(|d| d.auth_url).filter(|u| !u.is_empty()) {
        Some(u) if u.starts_with("https://") || u.starts_with("http://") => Ok(u),
        Some(_) => Err(OidcError::Server {
            path,
            detail: "the auth URL is not an http(s) URL".into(),
        }),
        None => Err(OidcError::RedirectRefused {
            role: opts
                .role
                .clone()
                .unwrap_or_else(|| "(the mount's default)".into()),
            redirect_uri: redirect_uri.to_owned(),
        }),
    }
}

/// Handles one browser request. `None`: not the callback (a favicon, say); keep waiting.
async fn serve_one(
    client: &Client,
    opts: &OidcOptions,
    client_nonce: &str,
    mut stream: TcpStream,
) -> Option<Result<Login, OidcError>> {
    let head = match tokio::time::timeout(Duration::from_secs(10), read_head(&mut stream)).await {
        Ok(Ok(head)) => head,
        _ => return None,
    };
    let mut words = head.split(' ');
    let method = words.next().unwrap_or("");
    let target = words.next().unwrap_or("");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path != "/oidc/callback" {
        let _ = respond(&mut stream, "404 Not Found", "Not the OIDC callback.").await;
        return None;
    }
    let params = parse_query(query);
    let get = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
    let result = if method != "GET" {
        // A provider configured for response_mode=form_post POSTs here; only the query mode is supported.
        Err(OidcError::FormPost)
    } else if !get("error").is_empty() {
        Err(OidcError::Provider(escape(
            &format!("{}: {}", get("error"), get("error_description")),
            300,
        )))
    } else {
        callback(client, opts, get("state"), get("code"), client_nonce).await
    };
    let page = match &result {
        Ok(_) => "Login complete: vault-token-renew is minting your periodic token. You can close this window.".to_owned(),
        Err(e) => format!("Login failed: {}", html_escape(&e.to_string())),
    };
    let _ = respond(&mut stream, "200 OK", &page).await;
    Some(result)
}

async fn callback(
    client: &Client,
    opts: &OidcOptions,
    state: &str,
    code: &str,
    client_nonce: &str,
) -> Result<Login, OidcError> {
    let path = format!("auth/{}/oidc/callback", opts.mount);
    let mut u = url(client, &path)?;
    u.query_pairs_mut()
        .append_pair("state", state)
        .append_pair("code", code)
        .append_pair("client_nonce", client_nonce);
    let bytes = send(client.http().get(u), &path).await?;
    let env: Envelope<IgnoredAny, AuthBlock> =
        serde_json::from_slice(&bytes).map_err(|_| OidcError::Server {
            path: path.clone(),
            detail: "the answer holds no usable auth block".into(),
        })?;
    let auth = env.auth.ok_or_else(|| OidcError::Server {
        path,
        detail: "the answer holds no auth block".into(),
    })?;
    Ok(Login {
        token: auth.client_token,
        accessor: auth.accessor,
    })
}

fn url(client: &Client, path: &str) -> Result<reqwest::Url, OidcError> {
    client.v1_url(path).map_err(|e| OidcError::Server {
        path: path.to_owned(),
        detail: format!("not a valid path ({e}); check --oidc-mount"),
    })
}

/// Sends one unauthenticated request (no X-Vault-Token: these paths need none, and no token of
/// ours should reach them) and returns its body, bounded; errors carry the server's words.
async fn send(
    request: reqwest::RequestBuilder,
    path: &str,
) -> Result<Zeroizing<Vec<u8>>, OidcError> {
    let fail = |detail: String| OidcError::Server {
        path: path.to_owned(),
        detail,
    };
    let mut response = request
        .send()
        .await
        .map_err(|e| fail(format!("cannot reach the server: {}", root_cause(&e))))?;
    let status = response.status();
    let mut bytes = Zeroizing::new(Vec::new());
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| fail(format!("the answer broke off: {}", root_cause(&e))))?
    {
        if bytes.len() + chunk.len() > BODY_LIMIT {
            return Err(fail(format!(
                "the answer is larger than {BODY_LIMIT} bytes"
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    if status.is_success() {
        return Ok(bytes);
    }
    let words = serde_json::from_slice::<ErrorBody>(&bytes)
        .map(|b| b.errors.join("; "))
        .unwrap_or_default();
    let hint = match status.as_u16() {
        404 | 405 => "; is OIDC enabled at that mount? (--oidc-mount)",
        _ => "",
    };
    Err(fail(format!(
        "HTTP {}{}{hint}",
        status.as_u16(),
        if words.is_empty() {
            String::new()
        } else {
            format!(": {}", escape(&words, 400))
        }
    )))
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

async fn read_head(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 2048];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < REQUEST_HEAD_LIMIT {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let line_end = buf.iter().position(|&b| b == b'\r' || b == b'\n');
    Ok(String::from_utf8_lossy(&buf[..line_end.unwrap_or(buf.len())]).into_owned())
}

async fn respond(stream: &mut TcpStream, status: &str, text: &str) -> std::io::Result<()> {
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>vault-token-renew</title></head><body><p>{text}</p></body></html>\n"
    );
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// Opens the URL with the desktop's handler, only when there is a desktop to open it on.
fn open_browser(url: &str) {
    let has_display = ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
    if !has_display {
        return;
    }
    let spawned = std::process::Command::new("xdg-open")
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Err(e) = spawned {
        eprintln!("(could not start a browser with xdg-open: {e}; open the URL above by hand)");
    }
}

/// 20 base62 characters from the kernel's CSPRNG, like the Vault CLI's `base62.Random(20)`.
fn random_nonce() -> std::io::Result<String> {
    const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = String::with_capacity(20);
    let mut urandom = std::fs::File::open("/dev/urandom")?;
    while out.len() < 20 {
        let mut b = [0u8; 32];
        urandom.read_exact(&mut b)?;
        // Rejection sampling keeps every character equally likely.
        for x in b.iter().filter(|&&x| x < 248) {
            if out.len() < 20 {
                out.push(BASE62[(*x % 62) as usize] as char);
            }
        }
    }
    Ok(out)
}

fn parse_query(query: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_base62_and_fresh() {
        let a = random_nonce().unwrap();
        assert_eq!(a.len(), 20);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, random_nonce().unwrap());
    }

    #[test]
    fn provider_text_cannot_inject_markup() {
        assert_eq!(html_escape("<script>&\""), "&lt;script&gt;&amp;&quot;");
    }

    #[test]
    fn callback_query_is_form_decoded() {
        let p = parse_query("state=a%2Bb&code=c+d&error_description=x%20y");
        assert_eq!(p["state"], "a+b");
        assert_eq!(p["code"], "c d");
    }
}
