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
}
