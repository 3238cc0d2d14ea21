//! The differential comparison itself: what it reports and what it lets pass.

mod common;

use common::Resp;
use common::differential::{allowed_divergences, compare, unwrap_errors};
use serde_json::{Value, json};

fn resp(status: u16, body: Value) -> Resp {
    Resp {
        status,
        headers: String::new(),
        body: if body.is_null() {
            vec![]
        } else {
            body.to_string().into_bytes()
        },
    }
}

fn aspects(d: &Resp, b: &Resp) -> Vec<String> {
    compare(d, b)
        .into_iter()
        .map(|(aspect, _)| aspect)
        .collect()
}

#[test]
fn multierror_wrapping_is_taken_off_and_compared_on_its_own() {
    let wrapped = json!(["1 error occurred:\n\t* permission denied\n\n"]);
    assert_eq!(
        unwrap_errors(&wrapped),
        (vec!["permission denied".to_string()], true)
    );
    let two = json!(["2 errors occurred:\n\t* a\n\t* b\n\n"]);
    assert_eq!(unwrap_errors(&two), (vec!["a".into(), "b".into()], true));
    let d = resp(403, json!({"errors": ["permission denied"]}));
    let b = resp(403, json!({"errors": wrapped}));
    assert_eq!(aspects(&d, &b), ["errors wrapping"]);
}

#[test]
fn ids_and_times_differ_freely_but_types_presence_and_stable_values_do_not() {
    let d = resp(
        200,
        json!({"data": {"id": "s.a", "ttl": 5, "meta": {"a": "1"}, "policies": ["default"]}}),
    );
    let same = resp(
        200,
        json!({"data": {"id": "s.b", "ttl": 7, "meta": {"a": "1"}, "policies": ["default"]}}),
    );
    assert!(compare(&d, &same).is_empty());
    let b = resp(
        200,
        json!({"data": {"id": "", "meta": {"a": 1}, "policies": ["root"]}}),
    );
    assert_eq!(
        aspects(&d, &b),
        ["data.id", "data.meta.a", "data.policies", "data.ttl"]
    );
    assert_eq!(
        aspects(&resp(204, Value::Null), &resp(200, Value::Null)),
        ["status"]
    );
}

#[test]
fn the_readme_allow_list_parses_and_every_entry_has_a_reason() {
    for a in allowed_divergences() {
        assert!(a.rule.contains('/'), "rule is <file>/<rule>: {a:?}");
        assert!(!a.aspect.is_empty() && !a.why.is_empty(), "{a:?}");
    }
}
