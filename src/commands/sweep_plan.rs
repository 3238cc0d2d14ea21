//! What `sweep --dry-run` would do to each same-named token, and which rule decided it: the list
//! a person reads before letting a sweep revoke anything. Accessors only, never a token.

use crate::identity::Mark;
use crate::runlog::escape;

/// Why the sweep would revoke a token, or leave it alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Our display name and this configuration's mark, and not the file's accessor. `recorded`:
    /// found in this configuration's record of minted accessors, else in the accessor list.
    MarkedCopy { recorded: bool },
    /// Our display name without our mark: revoked only with `--include-unmarked`.
    Unmarked { mark: Mark, included: bool },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub accessor: String,
    pub rule: Rule,
}

impl Planned {
    pub fn revokes(&self) -> bool {
        !matches!(
            self.rule,
            Rule::Unmarked {
                included: false,
                ..
            }
        )
    }

    /// A short, stable name of the rule, for JSON.
    pub fn code(&self) -> String {
        match self.rule {
            Rule::MarkedCopy { recorded: true } => "marked-copy-recorded".into(),
            Rule::MarkedCopy { recorded: false } => "marked-copy-listed".into(),
            Rule::Unmarked { mark, .. } => format!("same-name-{}", mark.code()),
        }
    }

    /// The rule in words.
    pub fn why(&self) -> String {
        match self.rule {
            Rule::MarkedCopy { recorded } => format!(
                "our display name and this configuration's mark, and not the token in the file; {}",
                if recorded {
                    "recorded as minted here (a replaced mint, or one a crash stranded before it was installed)"
                } else {
                    "found in the accessor list (an older mint, or one whose answer was lost on the way)"
                }
            ),
            Rule::Unmarked {
                mark,
                included: true,
            } => format!(
                "our display name but {}; revoked only because of --include-unmarked",
                mark.describe()
            ),
            Rule::Unmarked {
                mark,
                included: false,
            } => format!(
                "our display name but {}; left alive (--include-unmarked would revoke it)",
                mark.describe()
            ),
        }
    }
}

/// One line per token: `would revoke <accessor>: <why>` or `would keep <accessor>: <why>`,
/// the revoked ones first.
pub fn text(plan: &[Planned]) -> String {
    let mut sorted: Vec<&Planned> = plan.iter().collect();
    sorted.sort_by(|a, b| (!a.revokes(), &a.accessor).cmp(&(!b.revokes(), &b.accessor)));
    sorted
        .iter()
        .map(|p| {
            let verb = if p.revokes() { "revoke" } else { "keep" };
            format!("would {verb} {}: {}\n", escape(&p.accessor, 100), p.why())
        })
        .collect()
}

/// The plan as JSON: `[{"accessor", "action": "revoke"|"keep", "rule", "why"}]`.
pub fn json(plan: &[Planned]) -> serde_json::Value {
    plan.iter()
        .map(|p| {
            serde_json::json!({
                "accessor": escape(&p.accessor, 100),
                "action": if p.revokes() { "revoke" } else { "keep" },
                "rule": p.code(),
                "why": p.why(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Field;

    fn planned(accessor: &str, rule: Rule) -> Planned {
        Planned {
            accessor: accessor.into(),
            rule,
        }
    }

    #[test]
    fn each_rule_says_why_and_revokes_come_first() {
        let plan = [
            planned(
                "a-kept",
                Rule::Unmarked {
                    mark: Mark::Other(Field::Machine),
                    included: false,
                },
            ),
            planned("b-listed", Rule::MarkedCopy { recorded: false }),
            planned(
                "c-unmarked",
                Rule::Unmarked {
                    mark: Mark::Missing,
                    included: true,
                },
            ),
            planned("d-recorded", Rule::MarkedCopy { recorded: true }),
        ];
        let text = text(&plan);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].starts_with("would revoke b-listed: our display name and this configuration's mark, and not the token in the file; found in the accessor list"), "{text}");
        assert!(lines[1].starts_with("would revoke c-unmarked: our display name but no identity mark (an older mint, or made by hand); revoked only because of --include-unmarked"), "{text}");
        assert!(
            lines[2].starts_with("would revoke d-recorded: ")
                && lines[2].contains("recorded as minted here"),
            "{text}"
        );
        assert_eq!(
            lines[3],
            "would keep a-kept: our display name but another machine's; left alive (--include-unmarked would revoke it)"
        );
        let json = json(&plan);
        assert_eq!(json[0]["action"], "keep");
        assert_eq!(json[0]["rule"], "same-name-other-machine");
        assert_eq!(json[1]["rule"], "marked-copy-listed");
        assert_eq!(json[3]["rule"], "marked-copy-recorded");
    }
}
