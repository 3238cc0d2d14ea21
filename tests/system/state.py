#!/usr/bin/env python3
"""Serves OpenBao's view of every token (accessors and metadata, never values) on the host's
loopback, in the shape of the double's `GET /_test/state`: {"tokens": [{accessor, alive, ...}]}.

inside.sh snapshots it right after each step and check.py judges the snapshots, so the root
token stays on the host. A revoked token vanishes from OpenBao's accessor list, so every accessor
this server has ever listed stays in the view: one the server no longer knows is `alive: false`.

usage: SYSTEM_TEST_ROOT_TOKEN=… state.py BAO_URL READY_FILE   (READY_FILE receives the port)
"""
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bao_api import call

BASE = sys.argv[1].rstrip("/")
seen = set()
seen_lock = threading.Lock()


def listed_accessors():
    status, answer = call(BASE, "GET", "auth/token/accessors?list=true")
    if status != 200:
        raise RuntimeError(f"listing accessors answered {status}: {answer.get('errors')}")
    return answer["data"]["keys"]


def token_view(accessor):
    status, answer = call(BASE, "POST", "auth/token/lookup-accessor", {"accessor": accessor})
    # OpenBao wraps the message: "1 error occurred:\n\t* invalid accessor\n\n".
    if status == 400 and any("invalid accessor" in e for e in answer.get("errors", [])):
        return {"accessor": accessor, "alive": False}
    if status != 200:
        raise RuntimeError(f"lookup-accessor answered {status}: {answer.get('errors')}")
    d = answer["data"]
    return {
        "accessor": accessor,
        # A lookup that answers is a live token, unless it expired and its index lingers (ttl 0).
        "alive": d.get("ttl", 0) > 0 or d.get("expire_time") is None,
        "display_name": d.get("display_name", ""),
        "policies": d.get("policies") or [],
        "identity_policies": d.get("identity_policies") or [],
        "period": d.get("period") or 0,
        "orphan": bool(d.get("orphan")),
        "path": d.get("path", ""),
        "meta": d.get("meta") or {},
    }


def state():
    listed = listed_accessors()
    with seen_lock:
        seen.update(listed)
        accessors = sorted(seen)
    return {"tokens": [token_view(a) for a in accessors]}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        try:
            status, body = 200, json.dumps(state()).encode()
        except (OSError, RuntimeError, KeyError, ValueError) as e:
            status, body = 500, json.dumps({"errors": [str(e)]}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stderr.write("state: " + fmt % args + "\n")


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ready = sys.argv[2]
    with open(ready + ".tmp", "w") as f:
        f.write(f"{server.server_address[1]}\n")
    os.replace(ready + ".tmp", ready)
    server.serve_forever()


if __name__ == "__main__":
    main()
