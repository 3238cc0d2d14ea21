#!/usr/bin/env python3
"""Seeds the real OpenBao dev server with the demo world (devserver/src/openbao.rs `seed_demo`).

Policies vault-admin, sops-admin, ci and terraform-state; two userpass mounts that stand in for
the logins that clobber ~/.vault-token:
- `oidc`, user `alice`: token policies only `default`, her authority (vault-admin, sops-admin)
  comes from her identity entity, as an OIDC admin's usually comes from a group;
- `kubernetes`, user `woodpecker-default`: token policies ci, terraform-state (weak).
A userpass mount at `oidc` gives display name `oidc-alice`, as the genuine OIDC login does.

usage: SYSTEM_TEST_ROOT_TOKEN=… seed.py URL
"""
import json
import sys

from bao_api import must

ALL = ["create", "read", "update", "delete", "list", "sudo"]
POLICIES = {
    "vault-admin": [
        ("auth/token/*", ALL),
        ("auth/token/accessors", ["list", "sudo"]),
        ("sys/policies/acl/*", ALL),
    ],
    "sops-admin": [("transit/encrypt/sops", ["update"]), ("transit/decrypt/sops", ["update"])],
    "ci": [("secret/data/ci/*", ["read", "list"])],
    "terraform-state": [("secret/data/terraform/*", ["create", "read", "update", "delete", "list"])],
}
# Test-only passwords; inside.sh logs in with the same ones.
ADMIN = ("oidc", "alice", "alice-password", [], ["vault-admin", "sops-admin"])
WEAK = ("kubernetes", "woodpecker-default", "woodpecker-password", ["ci", "terraform-state"], [])


def hcl(rules):
    # A JSON list of strings is valid HCL.
    return "".join(f'path "{path}" {{\n  capabilities = {json.dumps(caps)}\n}}\n' for path, caps in rules)


def login_user(base, mount, user, password, token_policies, identity_policies):
    must(base, "POST", f"sys/auth/{mount}", {"type": "userpass"})
    must(base, "POST", f"auth/{mount}/users/{user}", {"password": password, "token_policies": token_policies})
    if identity_policies:
        # The entity and its alias exist before the first login, which then joins them.
        entity = must(base, "POST", "identity/entity", {"name": user, "policies": identity_policies})
        accessor = must(base, "GET", "sys/auth")["data"][f"{mount}/"]["accessor"]
        must(base, "POST", "identity/entity-alias",
             {"name": user, "canonical_id": entity["data"]["id"], "mount_accessor": accessor})


def main():
    base = sys.argv[1].rstrip("/")
    for name, rules in POLICIES.items():
        must(base, "PUT", f"sys/policies/acl/{name}", {"policy": hcl(rules)})
    login_user(base, *ADMIN)
    login_user(base, *WEAK)
    print(f"seeded {', '.join(POLICIES)}; userpass logins oidc/{ADMIN[1]} (admin by identity), kubernetes/{WEAK[1]}")


if __name__ == "__main__":
    main()
