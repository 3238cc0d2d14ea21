#!/usr/bin/env python3
"""Benchmark vault-token-renew against the vault-devserver double and a real OpenBao dev server;
prints one table.

Run through bench/run, which builds the release binaries first. Every number in the table is
measured in this run, side by side, so ratios survive a noisy shared machine: medians and
ratios are meaningful, absolute times less so. Nothing here asserts a time.
"""

import argparse
import collections
import json
import os
import platform
import re
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import openbao

HERE = os.path.dirname(os.path.abspath(__file__))
NAME = "bench"  # our display_name; the server stores it as token-bench
STORED_NAME = "token-" + NAME
POLICIES = "vault-admin,sops-admin"
STALE_POLICIES = ["vault-admin", "sops-admin", "default"]


def die(msg):
    sys.exit(f"bench: {msg}")


class Result:
    def __init__(self, walls, rss_kib, codes):
        self.walls = walls
        self.rss_kib = rss_kib
        self.codes = codes

    @property
    def median(self):
        return statistics.median(self.walls)


def timed(argv, env, expect=0, rss=False):
    """Run argv once; returns (wall seconds, peak RSS KiB or None, stderr, CPU seconds).

    With rss, the run goes through /usr/bin/time: a forked child's peak RSS counts the pages of
    the process it was forked from, so it must be forked from a small one, not from Python. Its
    own fork costs well under a millisecond, so walls are taken from runs without it where that
    matters (the happy path)."""
    out = None
    if rss:
        fd, out = tempfile.mkstemp(prefix="vtr-bench-time-")
        os.close(fd)
        argv = ["/usr/bin/time", "-f", "%M", "-o", out, *argv]
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stderr.close()
    stderr = stderr.decode(errors="replace")
    if expect is not None and proc.returncode != expect:
        die(f"{' '.join(argv)} exited {proc.returncode}, expected {expect}:\n{stderr[-2000:]}")
    peak = None
    if out:
        with open(out) as f:
            # time's wait4 covers the child and everything it reaped (the script's curl and jq).
            peak = int(f.read().split()[-1])
        os.unlink(out)
    return wall, peak, stderr, usage.ru_utime + usage.ru_stime


class DevServer:
    """The double as a separate process (its own CPU accounting, like a real server)."""

    def __init__(self, bin_dir, tokens=0, tls=None):
        port = free_port()
        argv = [os.path.join(bin_dir, "vault-devserver"), "--listen", f"127.0.0.1:{port}",
                "--seed", "demo", "--test-controls", "--seed-display-name", NAME]
        if tokens:
            argv += ["--tokens", str(tokens)]
        if tls:
            argv += ["--tls-cert", tls["cert"], "--tls-key", tls["key"]]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("listening on "):
            self.proc.kill()
            die(f"the double did not start: {line!r} {self.proc.stderr.read()[-1000:]}")
        self.url = line.split()[-1]
        self.ssl = ssl.create_default_context(cafile=tls["ca"]) if tls else None

    def request(self, method, path, body=None, token=None):
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if token:
            headers["X-Vault-Token"] = token
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(req, context=self.ssl) as r:
            raw = r.read()
        return json.loads(raw) if raw else None

    def reset_requests(self):
        self.request("POST", "/_test/reset-requests")

    def request_counts(self):
        reqs = self.request("GET", "/_test/requests")["requests"]
        return collections.Counter(f"{r['method']} {r['path']}" for r in reqs)

    def add_stale(self, name, policies, meta):
        """A live copy of our periodic token, as an earlier mint left it; returns its accessor."""
        return self.request("POST", "/_test/tokens", {
            "display_name": "token-" + name, "policies": policies, "period": 768 * 3600,
            "ttl": 768 * 3600, "path": "auth/token/create-orphan", "meta": meta})["accessor"]

    def lookup_target(self):
        """An unrelated token whose accessor the load generator looks up."""
        return self.request("POST", "/_test/tokens", {
            "display_name": "kubernetes-ci-runner-x", "policies": ["ci", "default"],
            "ttl": 28800, "path": "auth/kubernetes/login"})["accessor"]

    def login(self):
        """The demo's OIDC-style admin login (token policies [default], admin by identity)."""
        reply = self.request("POST", "/v1/auth/oidc/login/alice", {"password": "alice"})
        return reply["auth"]["client_token"]

    def cpu_seconds(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Home:
    """A private HOME for one scenario: token file, config via environment, state dir, log."""

    def __init__(self, root, label, server, concurrency, ca=None):
        self.dir = os.path.join(root, label)
        os.makedirs(self.dir)
        self.token_file = os.path.join(self.dir, ".vault-token")
        self.state_dir = os.path.join(self.dir, "state")
        self.server = server
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": self.dir,
            "USER": os.environ.get("USER", "bench"),
            "XDG_CONFIG_HOME": os.path.join(self.dir, "config"),
            "XDG_STATE_HOME": self.dir,
            "VAULT_ADDR": server.url,
            "VAULT_TOKEN_RENEW_DISPLAY_NAME": NAME,
            "VAULT_TOKEN_RENEW_POLICIES": POLICIES,
            "VAULT_TOKEN_RENEW_STATE_DIR": self.state_dir,
            "VAULT_TOKEN_RENEW_SWEEP_CONCURRENCY": str(concurrency),
            # The curl+jq rendering's settings.
            "DISPLAY_NAME": STORED_NAME,
            "TOKEN_FILE": self.token_file,
        }
        if ca:
            self.env["VAULT_CACERT"] = ca
            self.env["CURL_OPTS"] = f"--cacert {ca}"

    def write_token(self, value):
        fd = os.open(self.token_file + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(value)
        os.replace(self.token_file + ".tmp", self.token_file)

    def read_token(self):
        with open(self.token_file) as f:
            return f.read().strip()

    def identity(self, binary):
        """This configuration's identity mark, as the binary computes it (`status --json`)."""
        if not hasattr(self, "_identity"):
            out = subprocess.run([binary, "status", "--json"], env=self.env, capture_output=True,
                                 text=True, stdin=subprocess.DEVNULL).stdout
            try:
                self._identity = json.loads(out)["identity"]
            except (ValueError, KeyError):
                die(f"`vault-token-renew status --json` shows no identity: {out[-500:]!r}")
        return self._identity

    def mark(self, binary):
        """The `meta` a mint of this configuration carries (src/identity.rs `mint_meta`)."""
        me = self.identity(binary)
        return {"minted-by": f"{me['tool']}/bench", "machine": me["machine"], "user": me["user"],
                "config": me["configuration"], "nonce": os.urandom(16).hex(),
                "host": platform.node(), "display-name": NAME}

    def add_stale(self, binary, count):
        """count live copies of our token carrying this configuration's mark: what the sweep
        must find and revoke."""
        return [self.server.add_stale(NAME, STALE_POLICIES, self.mark(binary)) for _ in range(count)]

    def record(self, binary, accessors):
        """This configuration's record of minted accessors (src/state.rs)."""
        os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
        name = "minted-accessors-" + self.identity(binary)["configuration"]
        with open(os.path.join(self.state_dir, name), "w") as f:
            f.write("".join(a + "\n" for a in accessors))


def fmt_ms(s):
    return f"{s * 1000:.1f}" if s < 10 else f"{s * 1000:.0f}"


def walls_cell(r):
    return f"{fmt_ms(r.median)} ({fmt_ms(min(r.walls))}–{fmt_ms(max(r.walls))})"


def rss_cell(r):
    return f"{max(r.rss_kib) / 1024:.1f}"


def alternate(n, runners, env):
    """Run each command n times, interleaved, so drift in machine load hits all of them alike;
    then three more each under /usr/bin/time for the peak RSS."""
    walls = {k: [] for k in runners}
    rss = {k: [] for k in runners}
    for _ in range(n):
        for k, argv in runners.items():
            walls[k].append(timed(argv, env)[0])
    for _ in range(3):
        for k, argv in runners.items():
            rss[k].append(timed(argv, env, rss=True)[1])
    return {k: Result(walls[k], rss[k], []) for k in runners}


def happy_path(args, root, label, tls=None, system_store=False):
    server = DevServer(args.bin_dir, tls=tls)
    try:
        home = Home(root, f"happy-{label}", server, args.concurrency,
                    ca=tls and not system_store and tls["ca"])
        if system_store:
            # The Vault CA installed in the system trust store, which is then loaded the way
            # it is by default (bundle file and hashed directory), ours included.
            bundle = os.path.join(home.dir, "bundle.pem")
            with open(bundle, "wb") as out:
                for part in ("/etc/ssl/certs/ca-certificates.crt", tls["ca"]):
                    with open(part, "rb") as f:
                        out.write(f.read())
            home.env.update({"SSL_CERT_FILE": bundle, "SSL_CERT_DIR": "/etc/ssl/certs",
                             "CURL_OPTS": f"--cacert {bundle}"})
        home.write_token(server.login())
        binary = os.path.join(args.bin_dir, "vault-token-renew")
        # The first run heals the login into our periodic token; from then on every run renews.
        err = timed([binary], home.env)[2]
        if "HEALED" not in err:
            die(f"setup heal did not heal: {err}")
        server.reset_requests()
        timed([binary], home.env)
        requests = server.request_counts()
        if requests != collections.Counter({"GET auth/token/lookup-self": 1,
                                            "POST auth/token/renew-self": 1}):
            die(f"the happy path made {dict(requests)}, expected lookup-self + renew-self")
        script = os.path.join(HERE, "curl-jq.sh")
        res = alternate(args.renews, {"ours": [binary], "script": [script, "renew"]}, home.env)
        return res, requests
    finally:
        server.stop()


def heal_sweep(args, root, n, server, label):
    """Heals with a full sweep of n unrelated tokens on `server` (the double or OpenBao), with
    `--stale` marked copies of ours added before each run. Stops the server when done."""
    try:
        home = Home(root, f"heal-{label}-{n}", server, args.concurrency)
        login_token = server.login()
        binary = os.path.join(args.bin_dir, "vault-token-renew")
        runs = args.heals_small if n < 20000 else args.heals_large
        walls, rss, counts, ceilings, cpus, revoked = [], [], None, [], [], []
        listed = None
        problems = []
        wrk_after = {round(k * (runs - 1) / max(1, args.ceilings - 1)) for k in range(args.ceilings)}
        for i in range(runs):
            # Each run: stale copies of ours appear (earlier mints of this configuration, with
            # its mark), the OIDC login clobbers the file, and the heal mints, installs and
            # sweeps all accessors, revoking those copies and the previous run's token.
            home.add_stale(binary, args.stale)
            home.write_token(login_token)
            if hasattr(server, "reset_requests"):
                server.reset_requests()
            if i == 0 and hasattr(server, "token_count"):
                listed = server.token_count()  # what the first heal will look up
            cpu0 = server.cpu_seconds()
            wall, peak, err, client_cpu = timed([binary], home.env, rss=True)
            server_cpu = server.cpu_seconds() - cpu0
            gone = revoked_count(err)
            if "HEALED" not in err:
                die(f"heal run {i} did not heal: {err}")
            if gone < args.stale:
                # Reported, not fatal: e.g. a sweep cut off by the run's deadline on a slow server.
                problems.append(f"run {i} revoked {gone} of the {args.stale} marked copies: "
                                f"{err.strip()[-400:]}")
            walls.append(wall)
            rss.append(peak)
            cpus.append((client_cpu, server_cpu))
            revoked.append(gone)
            if counts is None and hasattr(server, "request_counts"):
                counts = server.request_counts()
            # The ceiling, measured between heal runs against the same server and endpoint.
            if i in wrk_after:
                ceilings.append(ceiling(args, server, home))
        cpu = (statistics.median(c for c, _ in cpus), statistics.median(s for _, s in cpus))
        extra = {"revoked": revoked, "listed": listed, "problems": problems,
                 "server_rss": server.rss_mib() if hasattr(server, "rss_mib") else None}
        return Result(walls, rss, []), counts, statistics.median(ceilings), cpu, extra
    finally:
        server.stop()


def revoked_count(log):
    m = re.search(r"revoked (\d+) stale", log)
    return int(m.group(1)) if m else -1


def ceiling(args, server, home):
    """wrk against lookup-accessor, with as many connections as the sweep's concurrency."""
    token = home.read_token()  # our minted token: the same ACL the sweep's lookups go through
    accessor = server.lookup_target()
    lua = os.path.join(home.dir, "lookup-accessor.lua")
    fd = os.open(lua, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write('wrk.method = "POST"\n'
                f'wrk.body = \'{{"accessor":"{accessor}"}}\'\n'
                f'wrk.headers["X-Vault-Token"] = "{token}"\n'
                'wrk.headers["X-Vault-Request"] = "true"\n'
                'wrk.headers["Content-Type"] = "application/json"\n')
    out = subprocess.run([args.wrk, "-t2", f"-c{args.concurrency}", f"-d{args.wrk_secs}s", "-s", lua,
                          f"{server.url}/v1/auth/token/lookup-accessor"],
                         check=True, capture_output=True, text=True).stdout
    os.unlink(lua)
    if hasattr(server, "reset_requests"):
        server.reset_requests()  # wrk's records would otherwise pile up in the double
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
        if "Non-2xx" in line:
            die(f"wrk got errors: {out}")
    die(f"cannot read wrk's output: {out}")


def fast_path(args, root):
    """A heal whose minted token may look up and revoke by accessor but not list accessors (no
    sudo): the sweep can only use the recorded accessors, and should cost one look-up and one
    revoke each (a recorded accessor is still proven ours before it is revoked)."""
    server = DevServer(args.bin_dir, tokens=args.fast_path_tokens)
    try:
        home = Home(root, "fast-path", server, args.concurrency)
        policies = ["token-sweeper", "sops-admin"]
        home.env["VAULT_TOKEN_RENEW_POLICIES"] = ",".join(policies)
        server.request("POST", "/_test/policies", {"name": "token-sweeper", "rules": {
            "auth/token/lookup-accessor": ["update"],
            "auth/token/revoke-accessor": ["update"]}})
        login_token = server.login()
        binary = os.path.join(args.bin_dir, "vault-token-renew")
        walls, rss, counts = [], [], None
        for _ in range(args.fast_path_runs):
            # Earlier mints of ours that are still alive, as the record lists them.
            stale = [server.add_stale(NAME, policies + ["default"], home.mark(binary))
                     for _ in range(args.recorded)]
            home.record(binary, stale)
            home.write_token(login_token)
            server.reset_requests()
            wall, peak, err, _ = timed([binary], home.env, rss=True)
            if f"revoked {args.recorded} stale" not in err:
                die(f"fast-path heal did not revoke the {args.recorded} recorded copies: {err}")
            walls.append(wall)
            rss.append(peak)
            if counts is None:
                counts = server.request_counts()
        return Result(walls, rss, []), counts
    finally:
        server.stop()


def happy_openbao(args, root):
    """The renew against real OpenBao, interleaved run by run with its floor (exec of a trivial
    binary plus the same two requests from an open keep-alive connection), the runbook's two
    `bao` CLI calls plus jq, and the curl+jq rendering."""
    server = openbao.OpenBao(args.bao)
    try:
        home = Home(root, "happy-openbao", server, args.concurrency)
        home.env.update({"BAO": args.bao, "BAO_ADDR": server.url})
        home.write_token(server.login())
        binary = os.path.join(args.bin_dir, "vault-token-renew")
        err = timed([binary], home.env)[2]
        if "HEALED" not in err:
            die(f"setup heal against OpenBao did not heal: {err}")
        err = timed([binary], home.env)[2]
        if "OK renewed" not in err:
            die(f"renew against OpenBao did not renew: {err}")
        floor_client = openbao.KeepAlive(server.host, server.port, home.read_token())
        trivial = shutil.which("true") or "/bin/true"
        runners = {"ours": [binary], "bao": [os.path.join(HERE, "bao-jq.sh")],
                   "script": [os.path.join(HERE, "curl-jq.sh"), "renew"]}
        walls = {k: [] for k in [*runners, "floor"]}
        for _ in range(args.renews):
            for k, argv in runners.items():
                walls[k].append(timed(argv, home.env)[0])
                if k == "ours":
                    # The floor right after ours, so both see the same moment's load.
                    walls["floor"].append(timed([trivial], home.env)[0] + floor_client.two_requests())
        floor_client.close()
        rss = {k: [] for k in runners}
        for _ in range(3):
            for k, argv in runners.items():
                rss[k].append(timed(argv, home.env, rss=True)[1])
        res = {k: Result(walls[k], rss.get(k, []), []) for k in walls}
        # Ours over the floor, run by run (each pair taken back to back).
        res["pair_ratio"] = statistics.median(o / f for o, f in zip(walls["ours"], walls["floor"]))
        return res
    finally:
        server.stop()


def openbao_heal(args, root, n):
    """A real server with n tokens, seeded fast (and bounded by --seed-max-secs)."""
    server = openbao.OpenBao(args.bao)
    try:
        made, secs = server.seed(n, connections=args.concurrency, max_secs=args.seed_max_secs)
        for _ in range(3):  # same-named copies without our mark, as the double seeds them
            server.create(NAME, STALE_POLICIES, period="768h")
    except BaseException:
        server.stop()
        raise
    return server, made, secs


def script_sweep(args, root, n):
    """The curl+jq rendering's cost per accessor, from a sample (a full run takes minutes)."""
    server = DevServer(args.bin_dir, tokens=n)
    try:
        home = Home(root, f"script-sweep-{n}", server, args.concurrency)
        home.write_token(server.login())
        binary = os.path.join(args.bin_dir, "vault-token-renew")
        timed([binary], home.env)  # heal: the file now holds our token, as the script expects
        small = timed([os.path.join(HERE, "curl-jq.sh"), "sweep", "1"], home.env)[0]
        big = timed([os.path.join(HERE, "curl-jq.sh"), "sweep", str(args.script_sample + 1)],
                          home.env)[0]
        return (big - small) / args.script_sample
    finally:
        server.stop()


def make_tls(root):
    """A throwaway self-signed certificate for 127.0.0.1, trusted directly by the clients."""
    cert, key = os.path.join(root, "tls.crt"), os.path.join(root, "tls.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    # A self-signed leaf that is its own trust anchor: rustls refuses a CA as leaf.
                    "-addext", "basicConstraints=critical,CA:FALSE"],
                   check=True, capture_output=True)
    return {"cert": cert, "key": key, "ca": cert}


def double_has_tls(bin_dir):
    out = subprocess.run([os.path.join(bin_dir, "vault-devserver"), "--help"],
                         capture_output=True, text=True).stdout
    return "--tls-cert" in out


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = os.getloadavg()
    return (f"{platform.node()}: {cpu}, {os.cpu_count()} cores, Linux {platform.release()}, "
            f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} at start")


def fixed_requests(counts):
    """A heal's requests other than the per-accessor ones, as the double counted them."""
    per_accessor = ("POST auth/token/lookup-accessor", "POST auth/token/revoke-accessor")
    return sum(v for k, v in counts.items() if k not in per_accessor)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--bin-dir", required=True, help="directory with the release binaries")
    p.add_argument("--wrk", default=shutil.which("wrk") or "wrk")
    p.add_argument("--bao", default=os.environ.get("VAULT_TOKEN_RENEW_BAO"),
                   help="the bao binary (bench/run passes scripts/fetch-openbao's)")
    p.add_argument("--servers", default="double,openbao", help="which servers get rows")
    p.add_argument("--sizes", default="5000,100000", help="N for the heal with full sweep")
    p.add_argument("--openbao-sizes", help="N for the heal against OpenBao (default: --sizes)")
    p.add_argument("--renews", type=int, default=31, help="happy-path runs (each tool)")
    p.add_argument("--heals-small", type=int, default=9, help="heal runs at N < 20,000")
    p.add_argument("--heals-large", type=int, default=5, help="heal runs at larger N")
    p.add_argument("--ceilings", type=int, default=3, help="wrk runs per N")
    p.add_argument("--wrk-secs", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=8, help="sweep_concurrency and wrk -c")
    p.add_argument("--stale", type=int, default=3, help="marked stale copies added before each heal")
    p.add_argument("--seed-max-secs", type=int, default=600,
                   help="bound on seeding N tokens into OpenBao (a smaller N is used past it)")
    p.add_argument("--fast-path-tokens", type=int, default=5000)
    p.add_argument("--fast-path-runs", type=int, default=9)
    p.add_argument("--recorded", type=int, default=3, help="recorded stale accessors per fast-path heal")
    p.add_argument("--script-sample", type=int, default=100,
                   help="accessors the curl+jq sweep is timed over (then scaled to N)")
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    servers = set(args.servers.split(","))
    if "openbao" in servers and not args.bao:
        die("--bao is needed for the OpenBao rows (scripts/fetch-openbao prints one); or --servers double")

    started = time.time()
    header = machine()
    binary = os.path.join(args.bin_dir, "vault-token-renew")
    size_kib = os.path.getsize(binary) / 1024
    rows = []
    notes = []
    fixed = {}
    with tempfile.TemporaryDirectory(prefix="vtr-bench-") as root:
        if "double" in servers:
            double_rows(args, root, sizes, rows, notes, fixed)
        if "openbao" in servers:
            bao_sizes = [int(s) for s in (args.openbao_sizes or args.sizes).split(",") if s]
            openbao_rows(args, root, bao_sizes, rows, notes, fixed)

    head = ["scenario", "requests", "wall ms median (min–max)", "peak RSS MiB",
            "sweep rate vs wrk ceiling", "compared"]
    print(f"machine: {header}")
    print(f"release binary: {size_kib:,.0f} KiB; sweep_concurrency={args.concurrency}; "
          f"wrk -t2 -c{args.concurrency} -d{args.wrk_secs}s against auth/token/lookup-accessor\n")
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()
    for n in notes:
        print(f"- {n}")
    print(f"- whole benchmark took {time.time() - started:.0f} s")


def double_rows(args, root, sizes, rows, notes, fixed):
    variants = [("http", {})]
    if double_has_tls(args.bin_dir):
        tls = make_tls(root)
        variants += [("https, VAULT_CACERT", {"tls": tls}),
                     ("https, CA in system store", {"tls": tls, "system_store": True})]
    else:
        notes.append("https rows skipped: this vault-devserver has no --tls-cert")
    for label, kw in variants:
        res, reqs = happy_path(args, root, label.split(",")[0] + str(len(rows)), **kw)
        ratio = res["script"].median / res["ours"].median
        rows.append([f"renew (happy path), double, {label}", str(sum(reqs.values())),
                     walls_cell(res["ours"]), rss_cell(res["ours"]), "",
                     f"{ratio:.0f}× faster than curl+jq"])
        rows.append([f"  curl+jq rendering, {label}", "2", walls_cell(res["script"]),
                     rss_cell(res["script"]), "", "1×"])

    per_accessor = script_sweep(args, root, sizes[0])
    for n in sizes:
        server = DevServer(args.bin_dir, tokens=n)
        res, counts, ceil, (client_cpu, server_cpu), extra = heal_sweep(args, root, n, server, "double")
        fixed[n] = fixed_requests(counts)
        total = sum(counts.values())
        rate = total / res.median
        script_s = per_accessor * (n + 3)
        cell = f"{rate:,.0f}/s = {100 * rate / ceil:.0f}% of {ceil:,.0f}/s"
        if extra["problems"]:
            cell += " — but the sweep missed marked copies (see notes)"
        rows.append([f"heal + full sweep, double, N={n:,}", f"{total:,}", walls_cell(res), rss_cell(res),
                     cell,
                     f"{script_s / res.median:.0f}× faster than curl+jq"])
        for problem in extra["problems"]:
            notes.append(f"double, N={n:,}: INCOMPLETE SWEEP, {problem}")
        notes.append(f"double, N={n:,}: requests {dict(sorted(counts.items()))}; revoked per run "
                     f"{extra['revoked']}; CPU per heal (median): client {client_cpu:.2f} s, "
                     f"double {server_cpu:.2f} s")
    notes.append(f"curl+jq sweep: {per_accessor * 1000:.0f} ms per accessor "
                 f"(timed over {args.script_sample}, scaled to N+3)")

    res, counts = fast_path(args, root)
    rows.append([f"heal, double, recorded-accessor fast path ({args.recorded} recorded, no list)",
                 str(sum(counts.values())), walls_cell(res), rss_cell(res), "", ""])
    notes.append(f"fast path: requests {dict(sorted(counts.items()))}")


def openbao_rows(args, root, sizes, rows, notes, fixed):
    res = happy_openbao(args, root)
    ours, floor = res["ours"], res["floor"]
    rows.append(["renew (happy path), OpenBao", "2", walls_cell(ours), rss_cell(ours), "",
                 f"{ours.median / floor.median:.2f}× the floor (pairwise median "
                 f"{res['pair_ratio']:.2f}×); {res['bao'].median / ours.median:.0f}× faster than "
                 f"bao CLI+jq"])
    rows.append(["  floor: exec `true` + the 2 requests on an open keep-alive connection", "2",
                 walls_cell(floor), "", "", "1×"])
    rows.append(["  runbook: 2 `bao` CLI calls + jq", "2", walls_cell(res["bao"]),
                 rss_cell(res["bao"]), "", ""])
    rows.append(["  curl+jq rendering, OpenBao", "2", walls_cell(res["script"]),
                 rss_cell(res["script"]), "", ""])
    for n in sizes:
        server, made, secs = openbao_heal(args, root, n)
        notes.append(f"OpenBao, N={n:,}: seeded {made:,} tokens in {secs:.0f} s "
                     f"({made / secs:,.0f}/s over {args.concurrency} keep-alive connections)")
        res, _, ceil, (client_cpu, server_cpu), extra = heal_sweep(args, root, made, server, "openbao")
        # OpenBao keeps no request log without an audit device (which would slow it down): the
        # first heal looked up every accessor on the server before it (the one it mints is
        # kept), revoked the stale ones, and made the double's count of fixed requests.
        total = extra["listed"] + extra["revoked"][0] + fixed.get(n, next(iter(fixed.values()), 6))
        rate = total / res.median
        cell = f"{rate:,.0f}/s = {100 * rate / ceil:.0f}% of {ceil:,.0f}/s"
        if extra["problems"]:
            # Not every request was made: a rate from the full count would be fiction.
            total, cell = "incomplete", f"sweep incomplete (see notes); ceiling {ceil:,.0f}/s"
        rows.append([f"heal + full sweep, OpenBao, N={made:,}", f"≈{total:,}" if total != "incomplete"
                     else total, walls_cell(res), rss_cell(res), cell, ""])
        notes.append(f"OpenBao, N={made:,}: revoked per run {extra['revoked']}; CPU per heal (median): "
                     f"client {client_cpu:.2f} s, OpenBao {server_cpu:.2f} s; OpenBao RSS at the end "
                     f"{extra['server_rss']:,.0f} MiB")
        for problem in extra["problems"]:
            notes.append(f"OpenBao, N={made:,}: INCOMPLETE SWEEP, {problem}")


if __name__ == "__main__":
    main()
