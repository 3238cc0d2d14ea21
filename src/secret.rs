//! Token values live only inside [`Token`]: Debug and Display redact, memory is zeroized on drop.

use std::fmt;
use zeroize::Zeroizing;

/// A Vault/OpenBao token. The value is reachable only through [`Token::expose`], which
/// is called where the token goes onto the wire or into the token file.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(Zeroizing<String>);

impl Token {
    pub fn new(value: String) -> Self {
        Token(Zeroizing::new(value))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let token = Token::new("s.SECRETSECRETSECRET".into());
        assert!(!format!("{token:?}").contains("SECRET"));
        assert!(!format!("{token}").contains("SECRET"));
        assert!(!format!("{:?}", Some(&token)).contains("SECRET"));
        assert_eq!(token.expose(), "s.SECRETSECRETSECRET");
    }

    #[test]
    fn the_value_lives_in_memory_that_is_zeroized_on_drop() {
        // Reading freed memory to prove it is undefined behaviour; instead, pin the type that
        // does the zeroizing, so a refactor to a plain String fails here.
        fn zeroized_on_drop<T: zeroize::ZeroizeOnDrop>(_: &T) {}
        let token = Token::new("s.x".into());
        zeroized_on_drop(&token.0);
    }
}
