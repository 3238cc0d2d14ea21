"""A real OpenBao dev server for the benchmark, with the same calls bench.py makes on the double.

Started the way the Rust tests start it (devserver/src/openbao.rs): `bao server -dev` on a
loopback port (its cluster listener takes the next one), in memory, no audit device (an audit
device would make every request slower and is not what is measured). Seeded through OpenBao's
own API with the root token.
"""

import http.client
import json
import os
import socket
import subprocess
import tempfile
import threading
import time

ROOT = "root"
ALL = ["create", "read", "update", "delete", "list", "sudo"]
# The double's demo policies (devserver/src/openbao.rs `seed_demo`), as HCL.
POLICIES = {
    "vault-admin": [("auth/token/*", ALL), ("auth/token/accessors", ["list", "sudo"]),
                    ("sys/policies/acl/*", ALL)],
    "sops-admin": [("transit/encrypt/sops", ["update"]), ("transit/decrypt/sops", ["update"])],
    "ci": [("secret/data/ci/*", ["read", "list"])],
}


def hcl(rules):
    return "".join(f'path "{p}" {{\n  capabilities = {json.dumps(caps)}\n}}\n' for p, caps in rules)


def free_port_pair():
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
        with socket.socket() as second:
            try:
                second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free pair of loopback ports")


class OpenBao:
    """`bao server -dev`, killed by stop()."""

    def __init__(self, bao):
        self.home = tempfile.mkdtemp(prefix="vtr-bench-bao-")
        port = free_port_pair()
        self.host, self.port = "127.0.0.1", port
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [bao, "server", "-dev", f"-dev-root-token-id={ROOT}",
             f"-dev-listen-address=127.0.0.1:{port}", "-dev-no-store-token", "-log-level=error"],
            env={"HOME": self.home, "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.home, "bao.log"), "w"))
        self.conn = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if self.call("GET", "sys/health")[0] == 200:
                    break
            except OSError:
                self.conn = None
            time.sleep(0.05)
        else:
            self.stop()
            raise RuntimeError("bao server -dev did not become healthy in 30 s")
        if self.proc.poll() is not None:
            with open(os.path.join(self.home, "bao.log")) as f:
                raise RuntimeError(f"bao server -dev exited: {f.read()[-1000:]}")
        self.ssl = None
        for name, rules in POLICIES.items():
            self.root("PUT", f"sys/policies/acl/{name}", {"policy": hcl(rules)})
        # The OIDC-style login: userpass at mount `oidc`, token policies [default], admin through
        # its entity's identity policies (as an OIDC role with an admin group would be).
        self.root("POST", "sys/auth/oidc", {"type": "userpass"})
        self.root("POST", "auth/oidc/users/alice", {"password": "alice", "token_policies": ["default"]})
        entity = self.login_reply()["auth"]["entity_id"]
        self.root("POST", f"identity/entity/id/{entity}", {"policies": ["vault-admin", "sops-admin"]})

    def call(self, method, path, body=None, token=None):
        """One request over a kept-alive connection; (status, parsed body or None)."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        headers = {"Content-Type": "application/json"}
        if token:
            headers["X-Vault-Token"] = token
        data = None if body is None else json.dumps(body)
        try:
            self.conn.request(method, f"/v1/{path}", data, headers)
            r = self.conn.getresponse()
            raw = r.read()
        except (http.client.HTTPException, OSError):
            self.conn.close()
            self.conn = None
            raise
        return r.status, (json.loads(raw) if raw else None)

    def root(self, method, path, body=None):
        status, reply = self.call(method, path, body, ROOT)
        if not 200 <= status < 300:
            raise RuntimeError(f"OpenBao: {method} {path} -> {status} {reply}")
        return reply

    # The same surface bench.py uses on the double.
    def request(self, method, path, body=None, token=None):
        status, reply = self.call(method, path.removeprefix("/v1/"), body, token)
        if not 200 <= status < 300:
            raise RuntimeError(f"OpenBao: {method} {path} -> {status} {reply}")
        return reply

    def login_reply(self):
        return self.root("POST", "auth/oidc/login/alice", {"password": "alice"})

    def login(self):
        return self.login_reply()["auth"]["client_token"]

    def create(self, display_name, policies, meta=None, period=None, ttl="8h"):
        """A token-store token (no parent); returns its accessor."""
        body = {"display_name": display_name, "policies": policies, "no_parent": True,
                "no_default_policy": "default" not in policies}
        if period:
            body["period"] = period
        else:
            body["ttl"] = ttl
        if meta:
            body["meta"] = meta
        return self.root("POST", "auth/token/create", body)["auth"]["accessor"]

    def add_stale(self, name, policies, meta):
        return self.create(name, policies, meta=meta, period="768h")

    def lookup_target(self):
        """An unrelated token whose accessor the load generator looks up."""
        return self.create("kubernetes-ci-runner-x", ["ci", "default"])

    def seed(self, n, connections=8, max_secs=600):
        """n unrelated 8-hour tokens, created concurrently over kept-alive connections; stops at
        the deadline. Returns (tokens created, seconds)."""
        body = json.dumps({"display_name": "kubernetes-ci-runner", "policies": ["ci"],
                           "ttl": "8h", "no_parent": True}).encode()
        headers = {"X-Vault-Token": ROOT, "Content-Type": "application/json"}
        deadline = time.monotonic() + max_secs
        lock, made, errors = threading.Lock(), [0], []

        def worker(share):
            conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            for i in range(share):
                if i % 256 == 0 and time.monotonic() > deadline:
                    break
                conn.request("POST", "/v1/auth/token/create", body, headers)
                r = conn.getresponse()
                r.read()
                if r.status != 200:
                    errors.append(r.status)
                    break
                with lock:
                    made[0] += 1
            conn.close()

        t0 = time.perf_counter()
        shares = [n // connections + (1 if k < n % connections else 0) for k in range(connections)]
        threads = [threading.Thread(target=worker, args=(s,)) for s in shares]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise RuntimeError(f"seeding OpenBao failed with status {errors[0]}")
        return made[0], time.perf_counter() - t0

    def token_count(self):
        return len(self.root("GET", "auth/token/accessors?list=true")["data"]["keys"])

    def cpu_seconds(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def stop(self):
        if self.conn:
            self.conn.close()
        self.proc.kill()
        self.proc.wait()
        subprocess.run(["rm", "-rf", self.home], check=False)


class KeepAlive:
    """The floor's client: the same two requests as a renew, from a connection opened before the
    clock starts, with pre-rendered bytes and no HTTP library."""

    def __init__(self, host, port, token):
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        head = f"Host: {host}:{port}\r\nX-Vault-Token: {token}\r\nX-Vault-Request: true\r\n"
        self.lookup = f"GET /v1/auth/token/lookup-self HTTP/1.1\r\n{head}\r\n".encode()
        self.renew = (f"POST /v1/auth/token/renew-self HTTP/1.1\r\n{head}"
                      "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}").encode()
        self.buf = b""
        self.two_requests()  # warm up: the first answers on a new connection are slow

    def exchange(self, raw):
        self.sock.sendall(raw)
        while b"\r\n\r\n" not in self.buf:
            self.buf += self.sock.recv(65536)
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        length = None
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v)
        if length is None or not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"floor client: unexpected answer {head[:200]!r}")
        while len(self.buf) < length:
            self.buf += self.sock.recv(65536)
        body, self.buf = self.buf[:length], self.buf[length:]
        return json.loads(body)

    def two_requests(self):
        """Wall seconds for lookup-self + renew-self, answers parsed."""
        t0 = time.perf_counter()
        self.exchange(self.lookup)
        self.exchange(self.renew)
        return time.perf_counter() - t0

    def close(self):
        self.sock.close()
