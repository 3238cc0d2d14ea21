//! Read-after-write on HA clusters: a brand-new token may answer 403 or 412 (`required index
//! state not present`) for a moment on a standby. The check of a freshly minted token and the
//! first renew after an install ride that out for a few seconds; a lasting refusal still fails,
//! and the minted token is revoked.

mod common;

use common::*;
use reqwest::Method;

const LOOKUP: &str = "auth/token/lookup-self";
const RENEW: &str = "auth/token/renew-self";

/// A world whose file holds an OIDC admin login, so `renew` heals.
fn clobbered(kind: Kind) -> (World, Seeded) {
    let w = World::on(kind);
    let login = w.seed_oidc_login();
    w.write_token(&login.token);
    (w, login)
}

/// Refuses the heal's second lookup-self (the new token's check) `times` times with `code`.
fn refuse_verification(w: &World, code: u16, times: u32) {
    w.server.inject_fault_after(
        Fault::new(Some(Method::GET), LOOKUP, FaultKind::status(code), times),
        1,
    );
}

fn assert_healed_through(kind: Kind, code: u16, times: u32) {
    let (w, _) = clobbered(kind);
    refuse_verification(&w, code, times);
    let run = w.run(&["renew"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        w.last_log_line().contains(" HEALED: "),
        "{}",
        w.last_log_line()
    );
    // The file's lookup, the refused checks, the check that passed.
    assert_eq!(
        w.server.request_count(Method::GET, LOOKUP),
        1 + times as usize + 1
    );
    assert_eq!(w.file_token_view().display_name, OUR_NAME);
    assert_eq!(w.file_mode(), 0o600);
}

scenarios! {
    fn a_heal_rides_out_a_new_token_a_standby_has_not_seen_yet_403(kind k) {
        assert_healed_through(k, 403, 2);
    }
}

scenarios! {
    fn a_heal_rides_out_a_standby_that_has_not_caught_up_412(kind k) {
        // More 412s than the client's own retries (the harness sets retries = 1).
        assert_healed_through(k, 412, 3);
    }
}

scenarios! {
    fn a_lasting_refusal_of_the_new_token_fails_and_revokes_it(kind k) {
        for code in [403, 412] {
            let (w, login) = clobbered(k);
            refuse_verification(&w, code, 1000);
            let run = w.run(&["renew"]);
            assert_eq!(run.code, 4, "{run:?}");
            let line = w.last_log_line();
            assert!(
                line.contains("looking up the minted token failed"),
                "{line}"
            );
            assert!(line.contains(&format!("HTTP {code}")), "{line}");
            assert!(line.contains("the minted token was revoked"), "{line}");
            assert_eq!(
                w.file_content().unwrap(),
                login.token,
                "the file is unchanged"
            );
            assert!(
                w.our_alive_accessors().is_empty(),
                "no minted token left alive"
            );
            assert_eq!(
                w.server
                    .request_count(Method::POST, "auth/token/create-orphan"),
                1
            );
        }
    }
}

scenarios! {
    fn the_first_renew_after_a_heal_rides_out_a_standby_that_has_not_seen_the_token(kind k) {
        let (w, _) = clobbered(k);
        assert_eq!(w.run(&["renew"]).code, 0);
        w.server.reset_requests();
        w.server.inject_fault(Fault::new(
            Some(Method::GET),
            LOOKUP,
            FaultKind::status(403),
            2,
        ));
        w.server.inject_fault(Fault::new(
            Some(Method::POST),
            RENEW,
            FaultKind::status(403),
            2,
        ));
        let run = w.run(&["renew"]);
        assert_eq!(run.code, 0, "{run:?}");
        assert!(
            w.last_log_line().contains(" OK renewed "),
            "{}",
            w.last_log_line()
        );
        assert_eq!(w.server.request_count(Method::GET, LOOKUP), 3);
        assert_eq!(w.server.request_count(Method::POST, RENEW), 3);
    }
}

scenarios! {
    fn a_403_for_a_token_file_written_long_ago_is_not_retried(w) {
        let ours = w.seed_ours();
        w.write_token(&ours.token);
        w.backdate_token_file(std::time::Duration::from_secs(86_400));
        w.server.inject_fault(Fault::new(
            Some(Method::POST),
            RENEW,
            FaultKind::status(403),
            1,
        ));
        let run = w.run(&["renew"]);
        assert_eq!(run.code, 4, "{run:?}");
        assert_eq!(w.server.request_count(Method::POST, RENEW), 1);
    }
}
