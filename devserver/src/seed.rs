//! Seeded worlds: the demo (policies, root token, OIDC-style and kubernetes-style users) and the
//! benchmark population.

use crate::acl::Policy;
use crate::store::Store;
use crate::types::{TokenSpec, UserpassUser};

const ALL: &[&str] = &["create", "read", "update", "delete", "list", "sudo"];

pub(crate) fn demo(store: &mut Store, root_token: &str) {
    let policies: [(&str, Policy); 4] = [
        // What a heal and a sweep need: sudo on the whole token store (create-orphan included,
        // contract §3.2), and list+sudo on the root-protected accessor list (§4).
        (
            "vault-admin",
            Policy::from_rules(&[
                ("auth/token/*", ALL),
                ("auth/token/accessors", &["list", "sudo"]),
                ("sys/policies/acl/*", ALL),
            ])
            .expect("static"),
        ),
        (
            "sops-admin",
            Policy::from_rules(&[
                ("transit/encrypt/sops", &["update"]),
                ("transit/decrypt/sops", &["update"]),
            ])
            .expect("static"),
        ),
        (
            "ci",
            Policy::from_rules(&[("secret/data/ci/*", &["read", "list"])]).expect("static"),
        ),
        (
            // Weak: no token-store authority at all.
            "terraform-state",
            Policy::from_rules(&[(
                "secret/data/terraform/*",
                &["create", "read", "update", "delete", "list"],
            )])
            .expect("static"),
        ),
    ];
    for (name, p) in policies {
        store.policies.insert(name.into(), p);
    }
    root(store, root_token);
    // The OIDC-style admin login, as the NixOS VM test seeds it: admin only through identity policies.
    store.add_user(UserpassUser {
        mount: "oidc".into(),
        username: "alice".into(),
        password: "alice".into(),
        policies: vec!["default".into()],
        identity_policies: vec!["vault-admin".into(), "sops-admin".into()],
        ttl: Some(7 * 24 * 3600),
    });
    // The same admin through real OIDC (`vault-token-renew mint --oidc`): the fake provider signs
    // alice@example.com in; her authority is in identity policies only.
    store.add_oidc_role(crate::oidc::OidcRole {
        identity_policies: vec!["vault-admin".into(), "sops-admin".into()],
        ..Default::default()
    });
    // The kubernetes-style weak login: display name `kubernetes-woodpecker-default` (contract §8).
    store.add_user(UserpassUser {
        mount: "kubernetes".into(),
        username: "woodpecker-default".into(),
        password: "woodpecker".into(),
        policies: vec!["ci".into(), "terraform-state".into()],
        identity_policies: vec![],
        ttl: Some(3600),
    });
}

/// Like `vault server -dev -dev-root-token-id=<id>`: policy `root`, no expiry, not renewable.
pub(crate) fn root(store: &mut Store, id: &str) {
    if store.tokens.contains_key(id) {
        return;
    }
    store
        .seed_token(&TokenSpec {
            // As `bao server -dev -dev-root-token-id` makes it: through the token store's create.
            display_name: "token".into(),
            policies: vec!["root".into()],
            ttl: 0,
            renewable: false,
            path: "auth/token/create".into(),
            id: Some(id.into()),
            ..Default::default()
        })
        .expect("a fresh root id is free");
}

/// `n` unrelated login tokens plus three stale periodic copies named `token-<stale_name>`.
pub(crate) fn bench(store: &mut Store, n: usize, stale_name: &str) {
    store.tokens.reserve(n + 3);
    store.by_accessor.reserve(n + 3);
    store.order.reserve(n + 3);
    for i in 0..n {
        let spec = TokenSpec::login(&format!("kubernetes-ci-runner-{}", i % 97), &["ci"], &[]);
        store.seed_token(&spec).expect("generated ids are fresh");
    }
    for _ in 0..3 {
        let spec = TokenSpec::periodic(stale_name, &["vault-admin", "sops-admin"], 768 * 3600);
        store.seed_token(&spec).expect("generated ids are fresh");
    }
}
