"""One call to the real OpenBao's HTTP API with the run's root token, for seed.py and state.py.

The root token comes from the environment (SYSTEM_TEST_ROOT_TOKEN), never from argv, and is never
printed: it is random per run and must not end up in the kept output directory.
"""
import json
import os
import urllib.error
import urllib.request


def call(base, method, path, body=None):
    """Returns (status, parsed JSON body or {}); raises only on a transport failure."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base}/v1/{path}", data=data, method=method)
    request.add_header("X-Vault-Token", os.environ["SYSTEM_TEST_ROOT_TOKEN"])
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    return status, (json.loads(raw) if raw.strip() else {})


def must(base, method, path, body=None):
    """A call that has to succeed; the error names the request and the server's errors."""
    status, answer = call(base, method, path, body)
    if not 200 <= status < 300:
        raise SystemExit(f"OpenBao: {method} {path} answered {status}: {answer.get('errors')}")
    return answer
