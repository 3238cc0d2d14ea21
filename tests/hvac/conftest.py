"""Fixtures: the running vault-devserver (started by run.sh with --seed demo --test-controls)."""

import os

import hvac
import pytest
import requests


class Controls:
    """The double's /_test/... control API."""

    def __init__(self, addr):
        self.addr = addr

    def _post(self, path, body):
        r = requests.post(f"{self.addr}/_test/{path}", json=body, timeout=10)
        assert r.status_code in (200, 204), r.text
        return r.json() if r.status_code == 200 else None

    def token(self, **spec):
        """Seed a token; returns {"token", "accessor"}."""
        return self._post("tokens", spec)

    def fault(self, path, kind, method=None, times=1):
        self._post("faults", {"method": method, "path": path, "kind": kind, "times": times})

    def state(self):
        return requests.get(f"{self.addr}/_test/state", timeout=10).json()["tokens"]

    def reset_requests(self):
        self._post("reset-requests", {})

    def requests(self):
        """[(method, path, status)] the double answered since the last reset."""
        records = requests.get(f"{self.addr}/_test/requests", timeout=10).json()["requests"]
        return [(r["method"], r["path"], r["status"]) for r in records]


@pytest.fixture(scope="session")
def addr():
    value = os.environ.get("VAULT_DEVSERVER_ADDR")
    if not value:
        pytest.exit("VAULT_DEVSERVER_ADDR is not set: run these tests through tests/hvac/run.sh", 2)
    return value


@pytest.fixture
def controls(addr):
    return Controls(addr)


@pytest.fixture
def root(addr):
    return hvac.Client(url=addr, token="root")


@pytest.fixture
def client_for(addr):
    def make(token):
        return hvac.Client(url=addr, token=token)

    return make


@pytest.fixture
def oidc_admin(addr):
    """An OIDC-style login: token policies [default], admin through identity policies."""
    client = hvac.Client(url=addr)
    client.auth.userpass.login(username="alice", password="alice", mount_point="oidc")
    return client


@pytest.fixture
def k8s_weak(addr):
    client = hvac.Client(url=addr)
    client.auth.userpass.login(username="woodpecker-default", password="woodpecker", mount_point="kubernetes")
    return client
