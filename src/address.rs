//! A server address as it may be shown. `https://user:password@host` is a valid address, and
//! the password must not reach stderr, a log line, `status` or an error: the userinfo is replaced
//! by `…` wherever an address is printed.

/// `text` with anything between `scheme://` and the last `@` of the authority replaced by `…`.
/// Works on text that is not a valid URL too, since it is also used to quote a rejected one.
pub fn redacted(text: &str) -> String {
    let (scheme, rest) = match text.find("://") {
        Some(i) => text.split_at(i + 3),
        None => ("", text),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}…{}", &rest[at..]),
        None => text.to_owned(),
    }
}

/// A parsed address as it may be shown.
pub fn shown(url: &url::Url) -> String {
    redacted(url.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_replaced_and_the_rest_kept() {
        assert_eq!(
            redacted("https://user:pa%40ss@vault.example:8200/v1/x?a=b@c"),
            "https://…@vault.example:8200/v1/x?a=b@c"
        );
        assert_eq!(redacted("ftp://u:p@h"), "ftp://…@h");
        assert_eq!(redacted("u:p@h:8200"), "…@h:8200");
        assert_eq!(
            redacted("https://vault.example/a@b"),
            "https://vault.example/a@b"
        );
        let url = url::Url::parse("https://alice:s3cret@vault.example/").unwrap();
        assert_eq!(shown(&url), "https://…@vault.example/");
    }
}
