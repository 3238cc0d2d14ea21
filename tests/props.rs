//! Property tests for the code that reads untrusted bytes: the response parsers (server bodies),
//! the token-file reader (whatever is at the path), and the log-line escaper (server text into
//! the log). Case count: PROPTEST_CASES (proptest's default, 256, in CI).

use proptest::prelude::*;
use serde::de::IgnoredAny;
use std::time::{Duration, UNIX_EPOCH};
use vault_token_renew::runlog::{MAX_LINE, Outcome, Report, escape};
use vault_token_renew::tokenfile::{ParseError, TokenFile, parse_token};
use vault_token_renew::wire::{AuthBlock, Envelope, ErrorBody, Keys, RenewAuth, TokenInfo};

/// Arbitrary JSON, shaped like (and often unlike) Vault's envelopes.
fn json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
    ];
    let key = prop_oneof![
        Just("data".to_string()),
        Just("auth".to_string()),
        Just("warnings".to_string()),
        Just("errors".to_string()),
        Just("keys".to_string()),
        Just("policies".to_string()),
        Just("display_name".to_string()),
        Just("period".to_string()),
        Just("ttl".to_string()),
        Just("client_token".to_string()),
        Just("accessor".to_string()),
        Just("meta".to_string()),
        "[a-z_]{1,12}",
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// One character of hostile text: C0 and C1 controls, ESC, CR, LF, DEL, backslash, Unicode
/// line separators, BOM, the replacement character, or anything at all. (`any::<String>()`
/// never yields a control character, so it cannot catch a newline slipping through.)
fn hostile_char() -> impl Strategy<Value = char> {
    prop_oneof![
        (0u32..0x20).prop_map(|c| char::from_u32(c).unwrap()),
        prop::sample::select(vec![
            '\x1b', '\r', '\n', '\x7f', '\\', '\u{2028}', '\u{2029}', '\u{feff}', '\u{fffd}'
        ]),
        (0x80u32..0xa0).prop_map(|c| char::from_u32(c).unwrap()),
        (0x20u8..0x7f).prop_map(char::from),
        any::<char>(),
    ]
}

/// Hostile text: mixed hostile characters, invalid UTF-8 as a lossy decoder turns it into text,
/// terminal escape sequences, and very long runs.
fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(hostile_char(), 0..80).prop_map(String::from_iter),
        2 => prop::collection::vec(any::<u8>(), 0..80)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        1 => "[a-z]{0,8}".prop_map(|s| format!("\x1b[31m{s}\x1b[2J\r\n\x1b]0;{s}\x07")),
        1 => (hostile_char(), 1_000usize..20_000).prop_map(|(c, n)| c.to_string().repeat(n)),
    ]
}

fn parse_all(bytes: &[u8]) {
    let _ = serde_json::from_slice::<Envelope<TokenInfo, IgnoredAny>>(bytes);
    let _ = serde_json::from_slice::<Envelope<IgnoredAny, AuthBlock>>(bytes);
    let _ = serde_json::from_slice::<Envelope<IgnoredAny, RenewAuth>>(bytes);
    let _ = serde_json::from_slice::<Envelope<Keys, IgnoredAny>>(bytes);
    let _ = serde_json::from_slice::<ErrorBody>(bytes);
}

proptest! {
    #[test]
    fn parsers_never_panic_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        parse_all(&bytes);
    }

    #[test]
    fn parsers_never_panic_on_json(value in json()) {
        let bytes = serde_json::to_vec(&value).unwrap();
        parse_all(&bytes);
        // And on every prefix of it: a truncated body.
        for cut in (0..bytes.len()).step_by(bytes.len() / 8 + 1) {
            parse_all(&bytes[..cut]);
        }
    }

    #[test]
    fn a_parsed_token_info_keeps_what_the_server_said(
        name in ".{0,60}",
        policies in prop::collection::vec("[a-z-]{1,12}", 0..5),
        period in prop::option::of(0i64..100_000_000),
        ttl in any::<i64>(),
    ) {
        let mut data = serde_json::json!({
            "display_name": name, "policies": policies, "ttl": ttl, "id": "s.NEVERREAD",
            "accessor": "a", "explicit_max_ttl": 0, "orphan": true, "path": "auth/token/create",
        });
        if let Some(p) = period {
            data["period"] = p.into();
        }
        let body = serde_json::json!({ "data": data, "warnings": null }).to_string();
        let env: Envelope<TokenInfo, IgnoredAny> = serde_json::from_str(&body).unwrap();
        let info = env.data.unwrap();
        prop_assert_eq!(&info.display_name, &name);
        prop_assert_eq!(&info.policies, &policies);
        prop_assert_eq!(info.period, period);
        prop_assert_eq!(info.ttl, ttl);
        let debug = format!("{info:?}");
        prop_assert!(!debug.contains("NEVERREAD"));
    }

    #[test]
    fn a_minted_token_never_shows_in_debug_output(secret in "[A-Za-z0-9.]{8,40}") {
        let body = serde_json::json!({ "auth": { "client_token": secret, "accessor": "a" } }).to_string();
        let env: Envelope<IgnoredAny, AuthBlock> = serde_json::from_str(&body).unwrap();
        let auth = env.auth.unwrap();
        prop_assert_eq!(auth.client_token.expose(), secret.as_str());
        let debug = format!("{auth:?}");
        prop_assert!(!debug.contains(&secret));
    }

    #[test]
    fn token_parsing_accepts_exactly_printable_ascii(bytes in prop::collection::vec(any::<u8>(), 0..80)) {
        match parse_token(&bytes) {
            Ok(token) => {
                prop_assert!(!bytes.is_empty() && bytes.iter().all(u8::is_ascii_graphic));
                prop_assert_eq!(token.expose().as_bytes(), &bytes[..]);
            }
            Err(ParseError::Empty) => prop_assert!(bytes.is_empty()),
            Err(ParseError::NotPrintable(at)) => {
                prop_assert!(!bytes[at].is_ascii_graphic());
                prop_assert!(bytes[..at].iter().all(u8::is_ascii_graphic));
            }
        }
    }

    #[test]
    fn the_token_file_reader_trims_and_never_quotes_content(
        lead in "[ \t\r\n]{0,3}",
        body in prop::collection::vec(any::<u8>(), 0..64),
        trail in "[ \t\r\n]{0,3}",
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".vault-token");
        let mut content = lead.into_bytes();
        content.extend(&body);
        content.extend(trail.into_bytes());
        std::fs::write(&path, &content).unwrap();
        let trimmed = body.trim_ascii();
        match TokenFile::new(path).read() {
            Ok(snapshot) => prop_assert_eq!(snapshot.token.expose().as_bytes(), trimmed),
            Err(e) => {
                prop_assert!(trimmed.is_empty() || trimmed.iter().any(|b| !b.is_ascii_graphic()));
                let message = e.to_string();
                // Whatever printable run the file held, the message does not repeat it.
                for run in trimmed.split(|b| !b.is_ascii_graphic()).filter(|r| r.len() >= 8) {
                    prop_assert!(!message.contains(std::str::from_utf8(run).unwrap()));
                }
            }
        }
    }

    #[test]
    fn escaped_text_is_one_bounded_printable_line(text in hostile_text(), max in 1usize..300) {
        let out = escape(&text, max);
        prop_assert!(out.len() <= max + '…'.len_utf8(), "{} > {}", out.len(), max);
        prop_assert!(out.chars().all(|c| (c.is_ascii() && !c.is_ascii_control()) || c == '…'));
    }

    #[test]
    fn a_password_in_an_address_is_never_shown(
        user in "[a-z]{0,8}",
        password in "PW[A-Z0-9%!]{4,16}",
        host in "[a-z]{1,12}(\\.[a-z]{2,5})?(:[0-9]{1,5})?",
        rest in "(/[a-z@]{0,10})?",
    ) {
        let text = format!("https://{user}:{password}@{host}{rest}");
        let shown = vault_token_renew::address::redacted(&text);
        prop_assert!(!shown.contains(&password), "{}", shown);
        prop_assert!(shown.ends_with(&format!("@{host}{rest}")), "{}", shown);
    }

    #[test]
    fn plain_text_is_left_alone(text in "[ -\\[\\]-~]{0,100}") {
        prop_assert_eq!(escape(&text, 200), text);
    }

    #[test]
    fn escaping_is_unambiguous(a in hostile_text(), b in hostile_text()) {
        // Different server text never produces the same log text (unbounded here).
        prop_assume!(a != b);
        prop_assert_ne!(escape(&a, usize::MAX), escape(&b, usize::MAX));
    }

    #[test]
    fn a_report_is_always_exactly_one_bounded_line(message in hostile_text(), outcome in 0..4u8) {
        let outcome = [Outcome::Ok, Outcome::Healed, Outcome::Drift, Outcome::Fail][outcome as usize];
        let line = Report::new(outcome, message).line(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        prop_assert!(!line.contains('\n') && !line.contains('\r'));
        let clean = line.chars().all(|c| !c.is_control() && !matches!(c, '\u{2028}' | '\u{2029}'));
        prop_assert!(clean, "control or separator characters in {:?}", line);
        prop_assert!(line.len() <= MAX_LINE + '…'.len_utf8());
        prop_assert!(line.starts_with("2023-11-14T22:13:20Z "));
    }
}
