"""hvac (a Vault client others wrote) against vault-devserver: answers parse, and errors raise
the exception classes hvac raises against a real Vault (contract sections cited per test)."""

import uuid

import hvac
import hvac.exceptions as exc
import pytest

ADMIN_MINT = {"policies": ["vault-admin", "sops-admin"], "period": "768h"}


def unique_name():
    return f"devvm-{uuid.uuid4().hex[:8]}"


# §1 lookup-self
def test_lookup_self_parses_and_reports_identity_policies(oidc_admin):
    data = oidc_admin.auth.token.lookup_self()["data"]
    assert data["display_name"] == "oidc-alice"
    assert data["policies"] == ["default"]
    assert data["identity_policies"] == ["sops-admin", "vault-admin"]
    assert "period" not in data
    assert isinstance(data["ttl"], int) and data["ttl"] > 0
    assert data["explicit_max_ttl"] == 0
    assert oidc_admin.is_authenticated()


def test_unknown_token_is_forbidden_and_not_authenticated(client_for):
    client = client_for("s.notarealtoken000000000000")
    with pytest.raises(exc.Forbidden):
        client.auth.token.lookup_self()
    assert not client.is_authenticated()


def test_lookup_self_post_is_forbidden_for_default_only_token(controls, client_for):
    seeded = controls.token(display_name="token-plain", policies=["default"])
    client = client_for(seeded["token"])
    assert client.auth.token.lookup_self()["data"]["display_name"] == "token-plain"
    with pytest.raises(exc.Forbidden):
        client.adapter.post("/v1/auth/token/lookup-self")


# §3 create / create-orphan
def test_create_orphan_periodic_with_identity_admin(oidc_admin, client_for):
    name = unique_name()
    auth = oidc_admin.auth.token.create_orphan(display_name=name, **ADMIN_MINT)["auth"]
    assert auth["policies"] == ["default", "sops-admin", "vault-admin"]
    assert auth["lease_duration"] == 2764800
    assert auth["orphan"] is True and auth["renewable"] is True and auth["entity_id"] == ""
    minted = client_for(auth["client_token"])
    data = minted.auth.token.lookup_self()["data"]
    assert data["display_name"] == f"token-{name}"
    assert data["period"] == 2764800
    assert data["path"] == "auth/token/create-orphan"
    assert "identity_policies" not in data


def test_create_no_parent_via_create_endpoint(oidc_admin):
    auth = oidc_admin.auth.token.create(no_parent=True, display_name="devvm_wizard@host", **ADMIN_MINT)["auth"]
    assert auth["orphan"] is True


def test_weak_clobber_cannot_mint(k8s_weak):
    assert k8s_weak.auth.token.lookup_self()["data"]["display_name"] == "kubernetes-woodpecker-default"
    with pytest.raises(exc.Forbidden):
        k8s_weak.auth.token.create_orphan(display_name="x", **ADMIN_MINT)


def test_period_without_sudo_is_invalid_request(controls, addr):
    controls._post("policies", {"name": "minter", "rules": {"auth/token/create-orphan": ["update"]}})
    seeded = controls.token(display_name="oidc-minter", policies=["default", "minter"])
    client = hvac.Client(url=addr, token=seeded["token"])
    with pytest.raises(exc.InvalidRequest) as e:
        client.auth.token.create_orphan(period="768h", policies=["minter"])
    assert e.value.errors == ["root or sudo privileges required to create periodic token"]
    with pytest.raises(exc.InvalidRequest) as e:
        client.auth.token.create_orphan(policies=["vault-admin"])
    assert e.value.errors == ["child policies must be subset of parent"]


# §2 renew-self
def test_renew_self_periodic_ignores_increment(oidc_admin, client_for):
    auth = oidc_admin.auth.token.create_orphan(display_name=unique_name(), **ADMIN_MINT)["auth"]
    minted = client_for(auth["client_token"])
    renewed = minted.auth.token.renew_self(increment="1h")
    assert renewed["auth"]["lease_duration"] == 2764800
    assert renewed["data"] is None and renewed["warnings"] is None


def test_renew_non_renewable_is_invalid_request(controls, client_for):
    seeded = controls.token(display_name="token-fixed", renewable=False)
    with pytest.raises(exc.InvalidRequest) as e:
        client_for(seeded["token"]).auth.token.renew_self()
    assert e.value.errors == ["lease is not renewable"]


# §4 / §5 accessors
def test_list_lookup_and_revoke_accessor(oidc_admin, controls):
    seeded = controls.token(display_name="token-stale", policies=["default", "vault-admin"], period=2764800, ttl=2764800)
    keys = oidc_admin.auth.token.list_accessors()["data"]["keys"]
    assert seeded["accessor"] in keys
    data = oidc_admin.auth.token.lookup_accessor(seeded["accessor"])["data"]
    assert data["id"] == "" and data["display_name"] == "token-stale" and data["period"] == 2764800
    response = oidc_admin.auth.token.revoke_accessor(seeded["accessor"])
    assert response.status_code == 204
    with pytest.raises(exc.InvalidRequest) as e:
        oidc_admin.auth.token.lookup_accessor(seeded["accessor"])
    # Multierror-wrapped, as OpenBao 2.7.2 sends it (the double's differential tests measure it).
    assert e.value.errors == ["1 error occurred:\n\t* invalid accessor\n\n"]
    again = oidc_admin.auth.token.revoke_accessor(seeded["accessor"])
    assert again["warnings"] == ["No token found with this accessor"]


def test_list_accessors_without_sudo_is_forbidden(k8s_weak):
    with pytest.raises(exc.Forbidden):
        k8s_weak.auth.token.list_accessors()


def test_revoke_self(controls, client_for):
    seeded = controls.token(display_name="token-bye")
    client = client_for(seeded["token"])
    assert client.auth.token.revoke_self().status_code == 204
    with pytest.raises(exc.Forbidden):
        client.auth.token.lookup_self()


# §6 capabilities-self
def test_capabilities_self(oidc_admin, k8s_weak, root):
    caps = oidc_admin.sys.get_capabilities(paths=["auth/token/create-orphan", "auth/token/accessors"])
    assert caps["auth/token/create-orphan"] == ["create", "delete", "list", "read", "sudo", "update"]
    assert caps["data"]["auth/token/accessors"] == ["list", "sudo"]
    one = k8s_weak.sys.get_capabilities(paths=["auth/token/create-orphan"])
    assert one["capabilities"] == ["deny"]
    assert root.sys.get_capabilities(paths=["auth/token/create-orphan"])["capabilities"] == ["root"]


# §8 userpass login
def test_userpass_login_sets_client_token(addr):
    client = hvac.Client(url=addr)
    response = client.auth.userpass.login(username="alice", password="alice", mount_point="oidc")
    assert client.token == response["auth"]["client_token"]
    assert response["auth"]["token_policies"] == ["default"]
    with pytest.raises(exc.InvalidRequest):
        hvac.Client(url=addr).auth.userpass.login(username="alice", password="nope", mount_point="oidc")


# §7 status mapping, through faults
@pytest.mark.parametrize(
    "kind, exception",
    [
        ({"kind": "sealed"}, exc.VaultDown),
        ({"kind": "status", "code": 429}, exc.RateLimitExceeded),
        ({"kind": "status", "code": 500}, exc.InternalServerError),
        ({"kind": "status", "code": 502}, exc.BadGateway),
    ],
)
def test_faults_raise_hvacs_exceptions(controls, oidc_admin, kind, exception):
    controls.fault("auth/token/lookup-self", kind, method="GET")
    with pytest.raises(exception):
        oidc_admin.auth.token.lookup_self()
    assert oidc_admin.auth.token.lookup_self()["data"]["display_name"] == "oidc-alice"


def test_malformed_body_is_not_parsed_as_json(controls, oidc_admin):
    controls.fault("auth/token/lookup-self", {"kind": "malformed"}, method="GET")
    response = oidc_admin.auth.token.lookup_self()
    assert not isinstance(response, dict), "hvac hands back the raw response when the body is not JSON"


# sys/health: no token needed; hvac probes with HEAD by default and parses the GET body.
def test_read_health_status_without_a_token(client_for):
    client = client_for(None)
    assert client.sys.read_health_status().status_code == 200
    health = client.sys.read_health_status(method="GET")
    assert health["initialized"] is True and health["sealed"] is False and health["standby"] is False
    assert isinstance(health["server_time_utc"], int) and health["version"]


def test_unknown_path_is_invalid_path(root):
    with pytest.raises(exc.InvalidPath):
        root.adapter.get("/v1/secret/does-not-exist")


# What hvac itself sends: its request shapes differ from the renewer's, so they exercise other rules.

# §3: hvac's create_orphan posts to create-orphan (not create + no_parent) and defaults
# display_name to "token", which the token store prefixes to "token-token".
def test_hvac_create_orphan_hits_create_orphan_and_its_default_name_becomes_token_token(oidc_admin, controls, client_for):
    controls.reset_requests()
    auth = oidc_admin.auth.token.create_orphan(**ADMIN_MINT)["auth"]
    assert ("POST", "auth/token/create-orphan", 200) in controls.requests()
    data = client_for(auth["client_token"]).auth.token.lookup_self()["data"]
    assert data["display_name"] == "token-token"
    assert data["path"] == "auth/token/create-orphan" and data["orphan"] is True


# §1 "the CLI's -orphan flag does not call create-orphan": hvac has no orphan flag at all; an orphan
# comes from create_orphan (→ create-orphan) or create(no_parent=True) (→ create, needs sudo).
def test_hvac_create_has_no_orphan_flag(oidc_admin, controls):
    with pytest.raises(TypeError):
        oidc_admin.auth.token.create(orphan=True, **ADMIN_MINT)
    controls.reset_requests()
    auth = oidc_admin.auth.token.create(no_parent=True, **ADMIN_MINT)["auth"]
    assert auth["orphan"] is True
    assert controls.requests() == [("POST", "auth/token/create", 200)]


# §3.4: hvac's create always sends no_parent=false; false needs no sudo, so an update-only caller
# still gets a (non-orphan) child inside its own policies.
def test_hvac_create_sends_no_parent_false_which_needs_no_sudo(controls, client_for):
    controls._post("policies", {"name": "child-minter", "rules": {"auth/token/create": ["update"]}})
    seeded = controls.token(display_name="token-parent", policies=["default", "child-minter"])
    auth = client_for(seeded["token"]).auth.token.create(policies=["child-minter"], display_name="kid")["auth"]
    assert auth["orphan"] is False
    assert auth["policies"] == ["child-minter", "default"]
    with pytest.raises(exc.InvalidRequest) as e:
        client_for(seeded["token"]).auth.token.create(no_parent=True, policies=["child-minter"])
    assert e.value.errors == ["root or sudo privileges required to create orphan token"]


# §3 / framework: hvac puts role_name in the create-orphan body, a field that path does not have;
# OpenBao ignores it and says so in a warning (sdk/framework/backend.go HandleRequest).
def test_hvac_role_name_on_create_orphan_is_ignored_with_the_framework_warning(oidc_admin):
    response = oidc_admin.auth.token.create_orphan(role_name="ci", display_name=unique_name(), **ADMIN_MINT)
    assert response["warnings"] == ["Endpoint ignored these unrecognized parameters: [role_name]"]
    assert response["auth"]["orphan"] is True


# §2 / framework: increment is a duration-in-seconds field; a negative one fails validation (400).
def test_hvac_negative_renew_increment_is_invalid_request(controls, client_for):
    seeded = controls.token(display_name="token-neg")
    with pytest.raises(exc.InvalidRequest) as e:
        client_for(seeded["token"]).auth.token.renew_self(increment=-60)
    assert e.value.errors[0].startswith('Field validation failed: error converting input for field "increment"')


# §1, §4: hvac reads lookup-self with GET (so a default-only token may) and lists with the LIST verb.
def test_hvac_verbs_lookup_self_get_and_list_accessors_list(oidc_admin, controls):
    controls.reset_requests()
    oidc_admin.auth.token.lookup_self()
    oidc_admin.auth.token.list_accessors()
    assert controls.requests() == [
        ("GET", "auth/token/lookup-self", 200),
        ("LIST", "auth/token/accessors", 200),
    ]


# §7: a bad token in the body of auth/token/lookup is 403 "bad token", which hvac raises as Forbidden.
def test_hvac_lookup_of_an_unknown_token_is_forbidden_bad_token(root):
    with pytest.raises(exc.Forbidden) as e:
        root.auth.token.lookup("s.notarealtoken000000000000")
    assert e.value.errors == ["bad token"]


# §3 params: meta round-trips through hvac as a dict; an empty dict stays {} (not null).
def test_hvac_meta_round_trips(oidc_admin, client_for):
    auth = oidc_admin.auth.token.create_orphan(meta={"tool": "vault-token-renew"}, **ADMIN_MINT)["auth"]
    assert auth["metadata"] == {"tool": "vault-token-renew"}
    assert client_for(auth["client_token"]).auth.token.lookup_self()["data"]["meta"] == {"tool": "vault-token-renew"}
    empty = oidc_admin.auth.token.create_orphan(meta={}, **ADMIN_MINT)["auth"]
    assert empty["metadata"] == {}


# §2.4: a capped period warns with humanDuration text, which hvac passes through untouched.
def test_hvac_capped_period_warning_text(oidc_admin):
    response = oidc_admin.auth.token.create_orphan(policies=["vault-admin"], period="800h")
    assert response["auth"]["lease_duration"] == 2764800
    assert response["warnings"] == [
        'period of "800h" exceeded the effective max_ttl of "768h"; period value is capped accordingly'
    ]
