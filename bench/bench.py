#!/usr/bin/env python3
"""Benchmark vault-token-renew against the vault-devserver double; prints one table.

Run through bench/run, which builds the release binaries first. Every number in the table is
measured in this run, side by side, so ratios survive a noisy shared machine: medians and
ratios are meaningful, absolute times less so. Nothing here asserts a time.
"""

import argparse
import collections
import json
import os
import platform
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
NAME = "bench"  # our display_name; the server stores it as token-bench
STORED_NAME = "token-" + NAME
POLICIES = "vault-admin,sops-admin"


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

    def record(self, accessors):
        os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
        with open(os.path.join(self.state_dir, "minted-accessors"), "w") as f:
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


def heal_sweep(args, root, n):
    server = DevServer(args.bin_dir, tokens=n)
    try:
        home = Home(root, f"heal-{n}", server, args.concurrency)
        login_token = server.login()
        binary = os.path.join(args.bin_dir, "vault-token-renew")
        runs = args.heals_small if n < 20000 else args.heals_large
        walls, rss, counts, ceilings, cpus = [], [], None, [], []
        wrk_after = {round(k * (runs - 1) / max(1, args.ceilings - 1)) for k in range(args.ceilings)}
        for i in range(runs):
            # Each run: the OIDC login clobbers the file; the heal mints, installs and sweeps all
            # N accessors (the previous run's token is the stale copy it revokes).
            home.write_token(login_token)
            server.reset_requests()
            cpu0 = server.cpu_seconds()
            wall, peak, err, client_cpu = timed([binary], home.env, rss=True)
            server_cpu = server.cpu_seconds() - cpu0
            if "HEALED" not in err:
                die(f"heal run {i} did not heal: {err}")
            walls.append(wall)
            rss.append(peak)
            cpus.append((client_cpu, server_cpu))
            if counts is None:
                counts = server.request_counts()
            # The ceiling, measured between heal runs against the same server and endpoint.
            if i in wrk_after:
                ceilings.append(ceiling(args, server, home))
        cpu = (statistics.median(c for c, _ in cpus), statistics.median(s for _, s in cpus))
        return Result(walls, rss, []), counts, statistics.median(ceilings), cpu
    finally:
        server.stop()


def ceiling(args, server, home):
    """wrk against lookup-accessor, with as many connections as the sweep's concurrency."""
    token = home.read_token()  # our minted token: the same ACL the sweep's lookups go through
    accessor = server.request("POST", "/_test/tokens", {
        "display_name": "kubernetes-ci-runner-x", "policies": ["ci", "default"],
        "ttl": 28800, "path": "auth/kubernetes/login"})["accessor"]
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
    server.reset_requests()  # wrk's records would otherwise pile up in the double
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
        if "Non-2xx" in line:
            die(f"wrk got errors: {out}")
    die(f"cannot read wrk's output: {out}")


def fast_path(args, root):
    """A heal whose minted token may look up and revoke by accessor but not list accessors (no
    sudo): the sweep can only use the recorded accessors, and should cost one revoke each."""
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
            stale = [server.request("POST", "/_test/tokens", {
                "display_name": STORED_NAME, "policies": policies + ["default"],
                "period": 768 * 3600, "ttl": 768 * 3600, "path": "auth/token/create-orphan"})["accessor"]
                for _ in range(args.recorded)]
            home.record(stale)
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


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--bin-dir", required=True, help="directory with the release binaries")
    p.add_argument("--wrk", default=shutil.which("wrk") or "wrk")
    p.add_argument("--sizes", default="5000,100000", help="N for the heal with full sweep")
    p.add_argument("--renews", type=int, default=31, help="happy-path runs (each tool)")
    p.add_argument("--heals-small", type=int, default=9, help="heal runs at N < 20,000")
    p.add_argument("--heals-large", type=int, default=5, help="heal runs at larger N")
    p.add_argument("--ceilings", type=int, default=3, help="wrk runs per N")
    p.add_argument("--wrk-secs", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=8, help="sweep_concurrency and wrk -c")
    p.add_argument("--fast-path-tokens", type=int, default=5000)
    p.add_argument("--fast-path-runs", type=int, default=9)
    p.add_argument("--recorded", type=int, default=3, help="recorded stale accessors per fast-path heal")
    p.add_argument("--script-sample", type=int, default=100,
                   help="accessors the curl+jq sweep is timed over (then scaled to N)")
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]

    started = time.time()
    header = machine()
    binary = os.path.join(args.bin_dir, "vault-token-renew")
    size_kib = os.path.getsize(binary) / 1024
    rows = []
    notes = []
    with tempfile.TemporaryDirectory(prefix="vtr-bench-") as root:
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
            rows.append([f"renew (happy path), {label}", str(sum(reqs.values())),
                         walls_cell(res["ours"]), rss_cell(res["ours"]), "", f"{ratio:.0f}× faster"])
            rows.append([f"  curl+jq rendering, {label}", "2", walls_cell(res["script"]),
                         rss_cell(res["script"]), "", "1×"])

        per_accessor = script_sweep(args, root, sizes[0])
        for n in sizes:
            res, counts, ceil, (client_cpu, server_cpu) = heal_sweep(args, root, n)
            total = sum(counts.values())
            rate = total / res.median
            script_s = per_accessor * (n + 3)
            rows.append([f"heal + full sweep, N={n:,}", f"{total:,}", walls_cell(res), rss_cell(res),
                         f"{rate:,.0f}/s = {100 * rate / ceil:.0f}% of {ceil:,.0f}/s",
                         f"{script_s / res.median:.0f}× faster"])
            notes.append(f"N={n:,}: requests {dict(sorted(counts.items()))}; "
                         f"CPU per heal (median): client {client_cpu:.2f} s, double {server_cpu:.2f} s")
        notes.append(f"curl+jq sweep: {per_accessor * 1000:.0f} ms per accessor "
                     f"(timed over {args.script_sample}, scaled to N+3)")

        res, counts = fast_path(args, root)
        rows.append([f"heal, recorded-accessor fast path ({args.recorded} recorded, no list)",
                     str(sum(counts.values())), walls_cell(res), rss_cell(res), "", ""])
        notes.append(f"fast path: requests {dict(sorted(counts.items()))}")

    head = ["scenario", "requests", "wall ms median (min–max)", "peak RSS MiB",
            "sweep rate vs wrk ceiling", "vs curl+jq"]
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


if __name__ == "__main__":
    main()
