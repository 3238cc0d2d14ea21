//! `vault-devserver`: run the Vault/OpenBao double, or log in against it the way the Vault CLI does.

mod cli_login;

use std::net::SocketAddr;
use std::process::ExitCode;

use vault_devserver::{DevServer, Seed};

const USAGE: &str = "\
usage:
  vault-devserver [--listen 127.0.0.1:8200] [--seed demo|empty] [--root-token ID] [--test-controls]
                  [--tokens N] [--seed-display-name NAME] [--rng-seed N]
                  [--tls-cert CHAIN.pem --tls-key KEY.pem]
  vault-devserver login --addr URL --mount MOUNT --username USER --password PASS --token-file PATH

serve: prints `listening on http://ADDR` once ready, then serves until killed.
  --seed demo       policies vault-admin, sops-admin, ci, terraform-state; a root token;
                    userpass users oidc/alice (password alice) and kubernetes/woodpecker-default (woodpecker)
  --root-token ID   the demo root token's value (default: root)
  --test-controls   enable the /_test/... control API
  --tokens N        seed N unrelated login tokens plus 3 stale periodic `token-<NAME>` copies
  --seed-display-name NAME   the NAME of those copies (default: <short hostname>-<user>)
  --tls-cert, --tls-key      serve https with this PEM certificate chain and key (both or neither)
login: userpass login, then store the token as the Vault CLI's token helper does
  (<file>.tmp, mode 0600, no newline, renamed over <file>). Never prints the token.
exit codes: 0 ok, 2 usage error, 1 runtime failure";

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("vault-devserver: {msg}\n\n{USAGE}");
    ExitCode::from(2)
}

/// `<short hostname>-<user>`, the renewer's default display name.
fn default_display_name() -> String {
    let host =
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_else(|_| "localhost".into());
    let host = host
        .trim()
        .split('.')
        .next()
        .unwrap_or("localhost")
        .to_string();
    let user = std::env::var("USER").unwrap_or_else(|_| "user".into());
    format!("{host}-{user}")
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("login") {
        return cli_login::run(&args[1..]);
    }
    let mut builder = DevServer::builder()
        .addr(SocketAddr::from(([127, 0, 0, 1], 8200)))
        .test_controls(false);
    let mut tokens = 0usize;
    let mut stale_name = None;
    let mut tls_cert = None;
    let mut tls_key = None;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let r: Result<(), String> = (|| {
            match flag.as_str() {
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                "--listen" => {
                    let v = value(flag)?;
                    let addr = v.parse().map_err(|_| {
                        format!("--listen {v:?} is not HOST:PORT, e.g. 127.0.0.1:8200")
                    })?;
                    builder = std::mem::take(&mut builder).addr(addr);
                }
                "--seed" => {
                    let seed = match value(flag)?.as_str() {
                        "demo" => Seed::Demo,
                        "empty" => Seed::Empty,
                        other => return Err(format!("--seed {other:?}: use demo or empty")),
                    };
                    builder = std::mem::take(&mut builder).seed(seed);
                }
                "--root-token" => builder = std::mem::take(&mut builder).root_token(&value(flag)?),
                "--test-controls" => builder = std::mem::take(&mut builder).test_controls(true),
                "--tokens" => {
                    let v = value(flag)?;
                    tokens = v
                        .parse()
                        .map_err(|_| format!("--tokens {v:?} is not a count"))?;
                }
                "--seed-display-name" => stale_name = Some(value(flag)?),
                "--tls-cert" => tls_cert = Some(value(flag)?),
                "--tls-key" => tls_key = Some(value(flag)?),
                "--rng-seed" => {
                    let v = value(flag)?;
                    let n = v
                        .parse()
                        .map_err(|_| format!("--rng-seed {v:?} is not a number"))?;
                    builder = std::mem::take(&mut builder).rng_seed(n);
                }
                other => return Err(format!("unknown argument {other:?}")),
            }
            Ok(())
        })();
        if let Err(e) = r {
            return usage_error(&e);
        }
    }
    match (tls_cert, tls_key) {
        (None, None) => {}
        (Some(cert), Some(key)) => {
            let read = |p: &str| {
                std::fs::read(p).map_err(|e| format!("cannot read {p}: {e}; check the path"))
            };
            match read(&cert).and_then(|c| read(&key).map(|k| (c, k))) {
                Ok((c, k)) => builder = builder.tls_pem(&c, &k),
                Err(e) => return usage_error(&e),
            }
        }
        _ => return usage_error("--tls-cert and --tls-key go together; give both"),
    }
    if tokens > 0 {
        let name = stale_name.unwrap_or_else(default_display_name);
        builder = builder.bench_tokens(tokens, &name);
    }
    let server = match builder.start() {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "vault-devserver: cannot start: {e}; is the address already in use? Pick another with --listen."
            );
            return ExitCode::from(1);
        }
    };
    println!("listening on {}", server.url());
    loop {
        std::thread::park();
    }
}
