//! The man pages' own sections, beyond what clap knows: the config keys, ENVIRONMENT, FILES,
//! EXIT STATUS and EXAMPLES. The config keys are listed from `ConfigFile` itself and described
//! by the flag of the same name, and the exit codes are the help's own text, so neither can
//! drift from the code.

use crate::cli::EXIT_CODES;
use crate::config::ConfigFile;
use clap::{Arg, ArgAction, Command};
use serde::de::{self, Visitor};

/// Every key `ConfigFile` accepts, in its declaration order: serde's derive hands the field
/// names to `deserialize_struct`, and this deserializer only takes them.
pub fn config_keys() -> &'static [&'static str] {
    let mut keys: &'static [&'static str] = &[];
    let _ = <ConfigFile as serde::Deserialize>::deserialize(FieldNames(&mut keys));
    keys
}

struct FieldNames<'a>(&'a mut &'static [&'static str]);

impl<'de> de::Deserializer<'de> for FieldNames<'_> {
    type Error = de::value::Error;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(de::Error::custom("only the field names were wanted"))
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// Keys with no flag of the same name, described here instead (`on_failure` is
/// `install --on-failure`).
const KEYS_WITHOUT_A_FLAG: &[(&str, &str)] = &[(
    "profiles",
    "Named profiles: a [profiles.NAME] table of the keys above for each further token (another server or token file), selected with --profile NAME. A key the table does not set comes from the top level, except token_file (required), state_dir (default: the top level's, under profiles/NAME) and metrics_file (default: the top level's with -NAME before its extension). The top-level keys are the profile named default.",
)];

/// The flag that sets `key` (its clap id is the key): a global one, or one of a subcommand's.
fn flag_for<'a>(cmd: &'a Command, key: &str) -> Option<&'a Arg> {
    cmd.get_arguments()
        .find(|a| a.get_id() == key)
        .or_else(|| cmd.get_subcommands().find_map(|s| flag_for(s, key)))
}

/// How a key's value is written in TOML, from its flag: a list, a boolean, a number or a string.
fn toml_shape(arg: &Arg) -> String {
    let name = arg
        .get_value_names()
        .and_then(|n| n.first())
        .map_or("VALUE".to_owned(), |n| n.to_string());
    match arg.get_action() {
        ArgAction::Append => format!("[\"{name}\", …]"),
        ArgAction::SetTrue => "true | false".into(),
        _ if name == "N" => name,
        _ => format!("\"{name}\""),
    }
}

/// One `(key, value shape, meaning)` per config key; `None` in place of the meaning for a key
/// nobody described (a test forbids it).
pub fn config_key_docs(cmd: &Command) -> Vec<(&'static str, String, Option<String>)> {
    config_keys()
        .iter()
        .map(|&key| match flag_for(cmd, key) {
            Some(arg) => {
                let help = arg.get_help().map(|h| h.to_string());
                let flag = arg
                    .get_long()
                    .map(|l| format!(" (--{l})"))
                    .unwrap_or_default();
                (key, toml_shape(arg), help.map(|h| h + &flag))
            }
            None => {
                let doc = KEYS_WITHOUT_A_FLAG.iter().find(|(k, _)| *k == key);
                (key, "VALUE".into(), doc.map(|(_, d)| d.to_string()))
            }
        })
        .collect()
}

/// Every environment variable the tool reads, with what it does.
pub const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "BAO_*, VAULT_*",
        "The CLI's variables are read as the bao CLI reads them: for each name, BAO_<name> when it is set (even empty), else VAULT_<name>; an empty value counts as unset. A flag overrides both, and both override the config file.",
    ),
    ("VAULT_ADDR, BAO_ADDR", "Server address (--vault-addr)."),
    (
        "VAULT_TOKEN, BAO_TOKEN",
        "The authority `mint` uses when set (instead of the file's token); never written anywhere. `doctor` warns when it shadows the token file for the vault CLI.",
    ),
    (
        "VAULT_TOKEN_PATH, BAO_TOKEN_PATH",
        "Token file, when VAULT_TOKEN_RENEW_TOKEN_FILE is not set.",
    ),
    (
        "VAULT_CACERT, BAO_CACERT",
        "PEM CA certificate (--ca-cert).",
    ),
    (
        "VAULT_CAPATH, BAO_CAPATH",
        "Directory of PEM CA certificates (--ca-path).",
    ),
    (
        "VAULT_CLIENT_CERT, BAO_CLIENT_CERT",
        "TLS client certificate (--client-cert).",
    ),
    (
        "VAULT_CLIENT_KEY, BAO_CLIENT_KEY",
        "TLS client key (--client-key).",
    ),
    (
        "VAULT_TLS_SERVER_NAME, BAO_TLS_SERVER_NAME",
        "Name to verify the server certificate against (--tls-server-name).",
    ),
    (
        "VAULT_SKIP_VERIFY, BAO_SKIP_VERIFY",
        "Do not verify the server certificate (--tls-skip-verify; insecure).",
    ),
    ("VAULT_NAMESPACE, BAO_NAMESPACE", "Namespace (--namespace)."),
    (
        "VAULT_TOKEN_RENEW_PROFILE",
        "Profile of the config file to use (--profile); default: the top level. A named profile's own keys outrank the variables below, and the token-file, state-dir and metrics-file variables apply to the default profile only.",
    ),
    ("VAULT_TOKEN_RENEW_TOKEN_FILE", "Token file (--token-file)."),
    (
        "VAULT_TOKEN_RENEW_DISPLAY_NAME",
        "Display name to mint (--display-name).",
    ),
    (
        "VAULT_TOKEN_RENEW_POLICIES",
        "Policies to mint with, comma-separated (--policy).",
    ),
    (
        "VAULT_TOKEN_RENEW_REQUIRE_POLICIES",
        "Policies a token must carry to count as ours, comma-separated (--require-policy).",
    ),
    (
        "VAULT_TOKEN_RENEW_TOKEN_ROLE",
        "Token role to mint through (--token-role).",
    ),
    (
        "VAULT_TOKEN_RENEW_PERIOD",
        "Period of the minted token (--period).",
    ),
    ("VAULT_TOKEN_RENEW_LOG_FILE", "Log file (--log-file)."),
    (
        "VAULT_TOKEN_RENEW_STATE_DIR",
        "State directory (--state-dir).",
    ),
    (
        "VAULT_TOKEN_RENEW_TIMEOUT",
        "Timeout of one request (--timeout).",
    ),
    (
        "VAULT_TOKEN_RENEW_RETRIES",
        "Retries of a transient failure (--retries).",
    ),
    (
        "VAULT_TOKEN_RENEW_SWEEP_CONCURRENCY",
        "Accessor look-ups in flight during a sweep (--sweep-concurrency).",
    ),
    (
        "VAULT_TOKEN_RENEW_METRICS_FILE",
        "Prometheus textfile (--metrics-file).",
    ),
    (
        "HOME",
        "Where the token file, config, state and units live by default.",
    ),
    (
        "XDG_CONFIG_HOME, XDG_STATE_HOME, XDG_DATA_HOME",
        "Base directories of the config file and units, the log and state, and the man pages and completions (used only when absolute).",
    ),
    (
        "XDG_RUNTIME_DIR",
        "How `install` and `doctor` reach the user's systemd manager.",
    ),
    (
        "USER, LOGNAME",
        "The user in the default display name, the identity mark and the metrics.",
    ),
    (
        "JOURNAL_STREAM",
        "Set by systemd: the log line then goes to the journal with its priority instead of plain stderr.",
    ),
    (
        "NO_COLOR, TERM, COLUMNS",
        "`status` uses no colour with NO_COLOR or TERM=dumb, and cuts lines to COLUMNS (or the terminal's width) unless --full.",
    ),
    (
        "DISPLAY, WAYLAND_DISPLAY",
        "`mint --oidc` opens a browser only when one of them is set; otherwise it prints the login URL.",
    ),
];

/// The files the tool reads and writes, with their defaults.
pub const FILES: &[(&str, &str)] = &[
    (
        "~/.vault-token",
        "The token file (--token-file): the token the vault and bao CLIs use. Holds either the old token or a verified new one, mode 0600, replaced atomically.",
    ),
    (
        "$XDG_CONFIG_HOME/vault-token-renew/config.toml",
        "The config file (--config); see CONFIGURATION FILE. Refused whole when another user could write it.",
    ),
    (
        "$XDG_STATE_HOME/vault-token-renew.log",
        "The log file (--log-file): one line per renew, mint and sweep, never a token.",
    ),
    (
        "$XDG_STATE_HOME/vault-token-renew/",
        "The state directory (--state-dir), mode 0700.",
    ),
    (
        "$XDG_STATE_HOME/vault-token-renew/lock",
        "The run lock: one renew, mint or sweep at a time.",
    ),
    (
        "$XDG_STATE_HOME/vault-token-renew/minted-accessors-<configuration id>",
        "The accessors this configuration minted, one a line (never a token), so a sweep finds stale copies without listing every accessor; `minted-accessors` is an older version's shared record, still read.",
    ),
    (
        "--metrics-file PATH",
        "Prometheus textfile metrics written after every run, only when configured (e.g. for node_exporter's textfile collector).",
    ),
    (
        "$XDG_CONFIG_HOME/systemd/user/vault-token-renew.{service,timer,path}, vault-token-renew-failure@.service",
        "The units `install` writes: the service, its timer, the path unit (--watch) that heals a `vault login` within seconds, and the failure hook.",
    ),
    (
        "$XDG_DATA_HOME/man/man1/, $XDG_DATA_HOME/bash-completion/completions/, $XDG_DATA_HOME/zsh/site-functions/, $XDG_DATA_HOME/fish/vendor_completions.d/",
        "The man pages and completions `install` writes.",
    ),
];

/// Examples for the main page: the commands a person runs, in the order they meet them.
pub const EXAMPLES: &[(&str, &str)] = &[
    (
        "vault-token-renew mint --oidc --policy vault-admin --policy sops-admin",
        "Log in in the browser, mint our periodic token with that authority, install it and revoke the login.",
    ),
    (
        "vault-token-renew install --watch --vault-addr https://vault.example.com:8200 --policy vault-admin",
        "Write the config and the units, enable the daily timer and linger.",
    ),
    (
        "vault-token-renew",
        "What the timer runs: renew, heal or refuse.",
    ),
    (
        "vault-token-renew status",
        "How the token file stands, and what to do next.",
    ),
    (
        "vault-token-renew status --warn 7d --crit 2d",
        "The same as a monitoring-plugin check.",
    ),
    (
        "vault-token-renew config",
        "Every effective setting and where it came from.",
    ),
    (
        "vault-token-renew doctor",
        "Check everything that keeps the token alive.",
    ),
    (
        "vault-token-renew sweep --dry-run",
        "List the stale copies a sweep would revoke, and why; revoke nothing.",
    ),
];

/// Escapes text for a roff line: backslashes, dashes (so they are not hyphens), characters
/// beyond ASCII (as `\[uXXXX]`, which groff reads everywhere) and a leading control character.
pub fn roff(text: &str) -> String {
    let mut escaped = String::new();
    for c in text.chars() {
        match c {
            '\\' => escaped.push_str("\\e"),
            '-' => escaped.push_str("\\-"),
            c if c.is_ascii() => escaped.push(c),
            c => escaped.push_str(&format!("\\[u{:04X}]", u32::from(c))),
        }
    }
    match escaped.chars().next() {
        Some('.' | '\'') => format!("\\&{escaped}"),
        _ => escaped,
    }
}

/// A tagged paragraph: `.TP`, the tag in bold, the text.
fn tagged(out: &mut String, tag: &str, text: &str) {
    out.push_str(&format!(".TP\n\\fB{}\\fR\n{}\n", roff(tag), roff(text)));
}

/// Lines kept as they are (examples), in a no-fill block.
fn verbatim(out: &mut String, lines: &str) {
    out.push_str(".PP\n.nf\n");
    for line in lines.lines() {
        out.push_str(&roff(line));
        out.push('\n');
    }
    out.push_str(".fi\n");
}

/// The main page's sections after SUBCOMMANDS.
pub fn main_sections(cmd: &Command) -> String {
    let mut out = String::from(".SH \"CONFIGURATION FILE\"\n");
    out.push_str(&roff(
        "A TOML file of the keys below; unknown keys are refused, so a typo never passes silently. Each key is overridden by its environment variable and its flag.",
    ));
    out.push('\n');
    for (key, shape, doc) in config_key_docs(cmd) {
        let doc = doc.unwrap_or_else(|| "(undocumented)".into());
        tagged(&mut out, &format!("{key} = {shape}"), &doc);
    }
    out.push_str(".SH ENVIRONMENT\n");
    for (name, text) in ENVIRONMENT {
        tagged(&mut out, name, text);
    }
    out.push_str(".SH FILES\n");
    for (name, text) in FILES {
        tagged(&mut out, name, text);
    }
    out.push_str(&exit_status(EXIT_CODES));
    out.push_str(".SH EXAMPLES\n");
    for (command, text) in EXAMPLES {
        tagged(&mut out, command, text);
    }
    out
}

/// EXIT STATUS from a help's exit-code text: `  N  meaning` lines become tagged paragraphs,
/// anything else is kept as it is.
fn exit_status(help: &str) -> String {
    let mut out = String::from(".SH \"EXIT STATUS\"\n");
    let body = help
        .trim_start_matches("Exit codes:")
        .trim_start_matches('\n');
    let mut rest = String::new();
    for line in body.lines() {
        let code = line.trim_start().split_once("  ");
        match code {
            Some((n, text)) if n.parse::<u8>().is_ok() => tagged(&mut out, n, text.trim()),
            _ => {
                rest.push_str(line);
                rest.push('\n');
            }
        }
    }
    if !rest.trim().is_empty() {
        verbatim(&mut out, rest.trim());
    }
    out
}

/// A subcommand page's sections from its help's tail (`Examples:` …, then `Exit codes:` …).
pub fn subcommand_sections(after_help: &str) -> String {
    let (examples, codes) = match after_help.split_once("\nExit codes:") {
        Some((examples, codes)) => (examples, format!("Exit codes:{codes}")),
        None => (after_help, String::new()),
    };
    let mut out = String::new();
    let examples = examples
        .trim()
        .trim_start_matches("Examples:")
        .trim_matches('\n');
    if !examples.is_empty() {
        out.push_str(".SH EXAMPLES\n");
        verbatim(&mut out, examples);
    }
    if !codes.is_empty() {
        out.push_str(".SH \"EXIT STATUS\"\n");
        verbatim(&mut out, codes.trim_start_matches("Exit codes:").trim());
    }
    out
}
