//! The dev server's raw file audit log, read incrementally: who created which token, and every
//! token value the server issued or was sent. Re-reading the whole log per question made bulk
//! scenarios quadratic; this keeps an index and reads only what was appended since.

use std::collections::{BTreeSet, HashMap};
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Mutex;

use serde_json::Value;

use crate::lock;

/// A token some request created: where, and what the response said of it.
#[derive(Clone, Debug)]
pub struct Created {
    pub path: String,
    pub accessor: String,
    pub display_name: String,
    pub token_policies: Value,
    /// The accessor of the token that sent the request (empty for logins).
    pub creator: String,
}

#[derive(Default)]
struct Index {
    offset: u64,
    tokens: BTreeSet<String>,
    created: Vec<Created>,
    by_accessor: HashMap<String, usize>,
}

pub struct Audit {
    path: PathBuf,
    index: Mutex<Index>,
}

impl Audit {
    pub fn new(path: PathBuf) -> Audit {
        Audit {
            path,
            index: Mutex::new(Index::default()),
        }
    }

    /// Every token value seen in a request or a response.
    pub fn tokens(&self) -> Vec<String> {
        self.refreshed(|i| i.tokens.iter().cloned().collect())
    }

    pub fn creator_of(&self, accessor: &str) -> Option<String> {
        self.refreshed(|i| {
            let c = &i.created[*i.by_accessor.get(accessor)?];
            (!c.creator.is_empty()).then(|| c.creator.clone())
        })
    }

    /// Every token a request to `path` created, in order.
    pub fn created_at(&self, path: &str) -> Vec<Created> {
        self.refreshed(|i| {
            i.created
                .iter()
                .filter(|c| c.path == path)
                .cloned()
                .collect()
        })
    }

    fn refreshed<T>(&self, answer: impl FnOnce(&Index) -> T) -> T {
        let mut index = lock(&self.index);
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.path)
            && f.seek(SeekFrom::Start(index.offset)).is_ok()
        {
            let _ = f.read_to_string(&mut text);
        }
        // Only whole lines: the server may be writing the last one right now.
        let whole = text.rfind('\n').map_or(0, |i| i + 1);
        for line in text[..whole].lines() {
            if let Ok(entry) = serde_json::from_str::<Value>(line) {
                index.add(&entry);
            }
        }
        index.offset += whole as u64;
        answer(&index)
    }
}

impl Index {
    fn add(&mut self, e: &Value) {
        for pointer in ["/response/auth/client_token", "/request/client_token"] {
            if let Some(t) = e.pointer(pointer).and_then(Value::as_str)
                && !t.is_empty()
            {
                self.tokens.insert(t.to_owned());
            }
        }
        let auth = &e["response"]["auth"];
        if e["type"] != "response" {
            return;
        }
        let Some(accessor) = auth["accessor"].as_str() else {
            return;
        };
        let created = Created {
            path: e["request"]["path"].as_str().unwrap_or_default().to_owned(),
            accessor: accessor.to_owned(),
            display_name: auth["display_name"].as_str().unwrap_or_default().to_owned(),
            token_policies: auth["token_policies"].clone(),
            creator: e["auth"]["accessor"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        };
        // A renewal answers with the same accessor: the first answer is the creation.
        if !self.by_accessor.contains_key(accessor) {
            self.by_accessor
                .insert(accessor.to_owned(), self.created.len());
            self.created.push(created);
        }
    }
}
