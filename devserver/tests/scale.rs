//! The double is also the benchmark target: 100,000 seeded tokens must stay fast.

mod common;

use std::time::{Duration, Instant};

use common::*;
use vault_devserver::{DevServer, Seed};

#[test]
fn hundred_thousand_tokens_list_and_lookup_quickly() {
    let start = Instant::now();
    let s = DevServer::builder()
        .seed(Seed::Demo)
        .bench_tokens(100_000, "devvm-wizard")
        .start()
        .unwrap();
    let seeded_in = start.elapsed();
    let state = s.state();
    assert_eq!(state.tokens.len(), 100_004);
    assert_eq!(state.by_display_name("token-devvm-wizard").count(), 3);

    let t = Instant::now();
    let r = list(&s.url(), "auth/token/accessors", "root");
    let listed_in = t.elapsed();
    assert_eq!(r.json()["data"]["keys"].as_array().unwrap().len(), 100_004);

    let stale = state
        .by_display_name("token-devvm-wizard")
        .next()
        .unwrap()
        .accessor
        .clone();
    let t = Instant::now();
    for _ in 0..200 {
        let r = post(
            &s.url(),
            "auth/token/lookup-accessor",
            "root",
            serde_json::json!({"accessor": stale}),
        );
        assert_eq!(r.status, 200);
    }
    let lookups_in = t.elapsed();
    // Generous bounds for an unoptimised build on a shared 2-core machine.
    assert!(
        seeded_in < Duration::from_secs(20),
        "seeding took {seeded_in:?}"
    );
    assert!(
        listed_in < Duration::from_secs(5),
        "listing took {listed_in:?}"
    );
    assert!(
        lookups_in < Duration::from_secs(5),
        "200 lookups took {lookups_in:?}"
    );
    eprintln!("seed {seeded_in:?}, list {listed_in:?}, 200 lookups {lookups_in:?}");
}
