//! The accessor list, read as a stream: `data.keys` is picked out of the body as it arrives, so
//! a server with a million tokens costs the sweep no more memory than one with ten (the body of
//! 100,000 accessors is 2.7 MB; held whole and parsed, it is several times that).
//!
//! [`Scanner`] is a resumable scanner for exactly the envelope shape of contract §4: it tracks
//! nesting and object keys, yields the strings of the top-level `data.keys` array one at a time,
//! and skips everything else. It does not validate the rest of the JSON beyond its structure: an
//! accessor it yields is only ever sent back to the server, which judges it.

use bytes::Bytes;
use std::time::Duration;

use super::error::VaultError;

/// Longer than any accessor a server issues (Vault 24 chars, namespaced ones a few more).
const MAX_ACCESSOR: usize = 256;
/// Deeper than the envelope ever nests; a hostile body cannot grow the stack without bound.
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Data,
    Keys,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    /// `key` is the key whose value is being read (valid once `after_colon`).
    Object {
        key: Key,
        after_colon: bool,
    },
    Array,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Text {
    /// Outside any string.
    #[default]
    Outside,
    /// Inside a string we do not keep.
    Skip { escaped: bool },
    /// Inside an object key; one with an escape, or longer than 8 bytes, is `unmatched`: it is
    /// neither `data` nor `keys` (Vault does not escape those).
    ObjectKey { escaped: bool, unmatched: bool },
    /// Inside a string of `data.keys`.
    Accessor,
}

#[derive(Debug, Default)]
pub struct Scanner {
    stack: Vec<Frame>,
    text: Text,
    capture: Vec<u8>,
    /// The top-level object has closed.
    done: bool,
}

impl Scanner {
    pub fn new() -> Scanner {
        Scanner::default()
    }

    fn in_keys(&self) -> bool {
        matches!(
            self.stack.as_slice(),
            [
                Frame::Object {
                    key: Key::Data,
                    after_colon: true
                },
                Frame::Object {
                    key: Key::Keys,
                    after_colon: true
                },
                Frame::Array
            ]
        )
    }

    /// Scans `buf` from `*pos`; returns the next accessor (with `*pos` just past it), or `None`
    /// once `buf` is used up. Call again with the next chunk and `*pos = 0`.
    pub fn next(&mut self, buf: &[u8], pos: &mut usize) -> Result<Option<String>, &'static str> {
        let mut text = self.text;
        while *pos < buf.len() {
            let b = buf[*pos];
            *pos += 1;
            match text {
                Text::Skip { escaped } => {
                    text = match (escaped, b) {
                        (true, _) => Text::Skip { escaped: false },
                        (false, b'\\') => Text::Skip { escaped: true },
                        (false, b'"') => Text::Outside,
                        _ => text,
                    }
                }
                Text::ObjectKey { escaped, unmatched } => match (escaped, b) {
                    (true, _) => {
                        text = Text::ObjectKey {
                            escaped: false,
                            unmatched: true,
                        }
                    }
                    (false, b'\\') => {
                        text = Text::ObjectKey {
                            escaped: true,
                            unmatched: true,
                        }
                    }
                    (false, b'"') => {
                        let key = match (unmatched, self.capture.as_slice()) {
                            (false, b"data") => Key::Data,
                            (false, b"keys") => Key::Keys,
                            _ => Key::Other,
                        };
                        self.capture.clear();
                        if let Some(Frame::Object { key: k, .. }) = self.stack.last_mut() {
                            *k = key;
                        }
                        text = Text::Outside;
                    }
                    _ => {
                        // Only short keys can match; longer ones need not be kept.
                        if self.capture.len() < 8 {
                            self.capture.push(b);
                        } else {
                            text = Text::ObjectKey {
                                escaped: false,
                                unmatched: true,
                            };
                        }
                    }
                },
                Text::Accessor => match b {
                    b'"' => {
                        self.text = Text::Outside;
                        let accessor = String::from_utf8(std::mem::take(&mut self.capture))
                            .map_err(|_| "an accessor that is not UTF-8")?;
                        return Ok(Some(accessor));
                    }
                    b'\\' => return Err("an escaped character in an accessor"),
                    _ if self.capture.len() >= MAX_ACCESSOR => return Err("an over-long accessor"),
                    _ => self.capture.push(b),
                },
                Text::Outside => text = self.structural(b)?,
            }
        }
        self.text = text;
        Ok(None)
    }

    fn structural(&mut self, b: u8) -> Result<Text, &'static str> {
        if self.done {
            return if b.is_ascii_whitespace() {
                Ok(Text::Outside)
            } else {
                Err("data after the JSON object")
            };
        }
        if self.stack.is_empty() && !matches!(b, b'{' | b' ' | b'\t' | b'\r' | b'\n') {
            return Err("not a JSON object");
        }
        match b {
            b'{' | b'[' => {
                if self.stack.len() >= MAX_DEPTH {
                    return Err("nesting too deep");
                }
                self.stack.push(if b == b'{' {
                    Frame::Object {
                        key: Key::Other,
                        after_colon: false,
                    }
                } else {
                    Frame::Array
                });
            }
            b'}' | b']' => {
                let want_object = b == b'}';
                match self.stack.pop() {
                    Some(Frame::Object { .. }) if want_object => {}
                    Some(Frame::Array) if !want_object => {}
                    _ => return Err("mismatched brackets"),
                }
                self.done = self.stack.is_empty();
            }
            b':' => {
                if let Some(Frame::Object { after_colon, .. }) = self.stack.last_mut() {
                    *after_colon = true;
                }
            }
            b',' => {
                if let Some(Frame::Object { key, after_colon }) = self.stack.last_mut() {
                    *key = Key::Other;
                    *after_colon = false;
                }
            }
            b'"' => {
                return Ok(match self.stack.last() {
                    Some(Frame::Object {
                        after_colon: false, ..
                    }) => Text::ObjectKey {
                        escaped: false,
                        unmatched: false,
                    },
                    _ if self.in_keys() => {
                        self.capture.clear();
                        Text::Accessor
                    }
                    _ => Text::Skip { escaped: false },
                });
            }
            // Whitespace, and the characters of numbers, true, false and null.
            _ => {}
        }
        Ok(Text::Outside)
    }

    /// At the end of the body: was it one complete JSON object?
    pub fn finish(&self) -> Result<(), &'static str> {
        if self.done {
            Ok(())
        } else {
            Err("the body ended before the JSON did")
        }
    }
}

/// The accessors of a list answer, read from the response as the sweep asks for them.
pub struct AccessorList {
    response: Option<reqwest::Response>,
    scanner: Scanner,
    chunk: Bytes,
    pos: usize,
    read: usize,
    limit: usize,
    /// Each read must make progress within this; the whole list may take longer.
    read_timeout: Duration,
    endpoint: &'static str,
}

impl AccessorList {
    pub(super) fn empty(endpoint: &'static str) -> AccessorList {
        AccessorList {
            response: None,
            scanner: Scanner::new(),
            chunk: Bytes::new(),
            pos: 0,
            read: 0,
            limit: 0,
            read_timeout: Duration::ZERO,
            endpoint,
        }
    }

    pub(super) fn new(
        response: reqwest::Response,
        endpoint: &'static str,
        limit: usize,
        read_timeout: Duration,
    ) -> AccessorList {
        AccessorList {
            response: Some(response),
            limit,
            read_timeout,
            ..AccessorList::empty(endpoint)
        }
    }

    /// The next accessor, `None` at the end of the list.
    pub async fn next(&mut self) -> Result<Option<String>, VaultError> {
        let decode = |endpoint, detail: &str| VaultError::Decode {
            endpoint,
            detail: detail.to_owned(),
        };
        loop {
            if let Some(accessor) = self
                .scanner
                .next(&self.chunk, &mut self.pos)
                .map_err(|e| decode(self.endpoint, e))?
            {
                return Ok(Some(accessor));
            }
            let Some(response) = self.response.as_mut() else {
                return Ok(None);
            };
            let chunk = match tokio::time::timeout(self.read_timeout, response.chunk()).await {
                Err(_) => {
                    return Err(VaultError::timed_out(
                        self.endpoint,
                        format!(
                            "timed out: no data for {:?} while reading the list",
                            self.read_timeout
                        ),
                    ));
                }
                Ok(result) => result.map_err(|e| VaultError::transport(self.endpoint, &e))?,
            };
            match chunk {
                Some(chunk) => {
                    self.read += chunk.len();
                    if self.read > self.limit {
                        return Err(decode(
                            self.endpoint,
                            &format!("the body is larger than {} bytes", self.limit),
                        ));
                    }
                    self.chunk = chunk;
                    self.pos = 0;
                }
                None => {
                    self.response = None;
                    self.scanner
                        .finish()
                        .map_err(|e| decode(self.endpoint, e))?;
                    return Ok(None);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every accessor the scanner yields for `body` fed in pieces of `size` bytes.
    fn scan(body: &[u8], size: usize) -> Result<Vec<String>, &'static str> {
        let mut scanner = Scanner::new();
        let mut out = vec![];
        for piece in body.chunks(size.max(1)) {
            let mut pos = 0;
            while let Some(a) = scanner.next(piece, &mut pos)? {
                out.push(a);
            }
        }
        scanner.finish()?;
        Ok(out)
    }

    /// Vault's answer, as contract §4 shows it.
    const VAULT: &str = r#"{"request_id":"5d3c","lease_id":"","renewable":false,"lease_duration":0,"data":{"keys":["AbC123","ZZZ999"]},"wrap_info":null,"warnings":null,"auth":null}"#;

    #[test]
    fn yields_data_keys_split_at_every_byte() {
        let body = VAULT;
        for size in 1..=body.len() {
            assert_eq!(
                scan(body.as_bytes(), size).unwrap(),
                ["AbC123", "ZZZ999"],
                "{size}"
            );
        }
    }

    #[test]
    fn ignores_strings_and_keys_elsewhere() {
        let body = r#"{"keys":["top-level"],"warnings":["data","keys"],"data":{"other":["no"],"k\"eys":["esc"],"keys":["yes"],"nested":{"keys":["deeper"]}},"auth":{"data":{"keys":["no"]}}}"#;
        for size in [1, 2, 3, 7, body.len()] {
            assert_eq!(scan(body.as_bytes(), size).unwrap(), ["yes"], "{size}");
        }
    }

    #[test]
    fn key_order_and_whitespace_do_not_matter() {
        let body = "{ \"auth\" : null ,\n \"data\" :\t{ \"keys\" : [ \"a1\" , \"b2\" ] } }\n";
        assert_eq!(scan(body.as_bytes(), 5).unwrap(), ["a1", "b2"]);
    }

    #[test]
    fn empty_or_missing_lists_yield_nothing() {
        for body in [
            r#"{"errors":[]}"#,
            r#"{"data":null}"#,
            r#"{"data":{"keys":[]}}"#,
            "{}",
        ] {
            assert_eq!(
                scan(body.as_bytes(), 3).unwrap(),
                Vec::<String>::new(),
                "{body}"
            );
        }
    }

    #[test]
    fn broken_bodies_are_errors() {
        for body in [
            "",
            "<html>oops</html>",
            r#"{"data":{"keys":["a","b""#,
            r#"{"data":{"keys":["a"]}"#,
            r#"{"data":{"keys":["a"]}}]"#,
            r#"{"data":{"keys":["a"]}} {"#,
            r#"{"data":{"keys":["a\"b"]}}"#,
        ] {
            assert!(scan(body.as_bytes(), 4).is_err(), "{body}");
        }
        let long = format!(
            r#"{{"data":{{"keys":["{}"]}}}}"#,
            "a".repeat(MAX_ACCESSOR + 1)
        );
        assert!(scan(long.as_bytes(), 100).is_err());
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(scan(format!("{{\"x\":{deep}}}").as_bytes(), 10).is_err());
    }

    #[test]
    fn memory_stays_bounded_for_a_large_list() {
        let keys: Vec<String> = (0..100_000).map(|i| format!("acc{i:021}")).collect();
        let body = serde_json::json!({"data": {"keys": keys}, "warnings": null}).to_string();
        let mut scanner = Scanner::new();
        let mut n = 0;
        for piece in body.as_bytes().chunks(16 * 1024) {
            let mut pos = 0;
            while let Some(a) = scanner.next(piece, &mut pos).unwrap() {
                assert_eq!(a, keys[n]);
                n += 1;
                assert!(scanner.capture.capacity() <= MAX_ACCESSOR && scanner.stack.len() <= 3);
            }
        }
        scanner.finish().unwrap();
        assert_eq!(n, keys.len());
    }
}
