#!/usr/bin/env python3
"""flake.lock is well formed and agrees with flake.nix.

Usage: check_flake_lock.py FLAKE_LOCK FLAKE_INPUTS_JSON
FLAKE_INPUTS_JSON is `(import ./flake.nix).inputs` evaluated to JSON (nix-instantiate --eval).
Every locked input must carry a full git rev and an SRI sha256 narHash, because Nix only verifies
what is written down; a lock without them would silently float.
"""

import json
import re
import sys

REV = re.compile(r"[0-9a-f]{40}")
NAR_HASH = re.compile(r"sha256-[A-Za-z0-9+/]{43}=")


def main(lock_path: str, inputs_path: str) -> list[str]:
    errors = []
    with open(lock_path) as f:
        lock = json.load(f)
    with open(inputs_path) as f:
        declared = json.load(f)

    if lock.get("version") != 7:
        errors.append(f"version is {lock.get('version')!r}; Nix >= 2.19 writes 7 — regenerate with `nix flake lock`")
    nodes = lock.get("nodes", {})
    root_name = lock.get("root")
    if root_name not in nodes:
        return errors + [f"root node {root_name!r} is missing from nodes"]

    def resolve(ref):
        """A node input is a node name, or a `follows` path of input names from the root."""
        if isinstance(ref, str):
            return ref if ref in nodes else None
        node = root_name
        for name in ref:
            target = nodes[node].get("inputs", {}).get(name)
            node = resolve(target) if target is not None else None
            if node is None:
                return None
        return node

    for name, node in nodes.items():
        for input_name, ref in node.get("inputs", {}).items():
            if resolve(ref) is None:
                errors.append(f"node {name!r}: input {input_name!r} -> {ref!r} does not resolve to a node")
        if name == root_name:
            continue
        locked = node.get("locked")
        original = node.get("original")
        if not isinstance(locked, dict) or not isinstance(original, dict):
            errors.append(f"node {name!r} lacks `locked` or `original`")
            continue
        if not REV.fullmatch(str(locked.get("rev", ""))):
            errors.append(f"node {name!r}: locked.rev {locked.get('rev')!r} is not a 40-hex git revision")
        if not NAR_HASH.fullmatch(str(locked.get("narHash", ""))):
            errors.append(f"node {name!r}: locked.narHash {locked.get('narHash')!r} is not an SRI sha256 hash")
        if not isinstance(locked.get("lastModified"), int):
            errors.append(f"node {name!r}: locked.lastModified is missing")
        for key in ("type", "owner", "repo"):
            if locked.get(key) != original.get(key):
                errors.append(f"node {name!r}: locked.{key} {locked.get(key)!r} differs from original.{key} {original.get(key)!r}")

    root_inputs = nodes[root_name].get("inputs", {})
    if sorted(root_inputs) != sorted(declared):
        errors.append(f"flake.nix declares inputs {sorted(declared)}, flake.lock's root has {sorted(root_inputs)}; run `nix flake lock`")

    for name, spec in declared.items():
        node = nodes.get(root_inputs.get(name, ""), {})
        url = spec.get("url", "")
        m = re.fullmatch(r"github:([^/]+)/([^/?]+)(?:/([^?]+))?", url)
        if not m:
            errors.append(f"input {name!r}: url {url!r} is not a github:owner/repo[/ref] url this check understands")
            continue
        owner, repo, ref = m.groups()
        original = node.get("original", {})
        want = {"type": "github", "owner": owner, "repo": repo}
        if ref:
            want["ref"] = ref
        got = {k: original.get(k) for k in ("type", "owner", "repo", "ref") if k in original}
        if got != want:
            errors.append(f"input {name!r}: flake.nix says {want}, flake.lock's original is {got}; run `nix flake lock`")
        for sub, follow in spec.get("inputs", {}).items():
            target = follow.get("follows")
            locked_ref = node.get("inputs", {}).get(sub)
            if target is not None and locked_ref != target.split("/"):
                errors.append(f"input {name!r}: {sub}.follows = {target!r} in flake.nix, but flake.lock has {locked_ref!r}")
    return errors


if __name__ == "__main__":
    problems = main(sys.argv[1], sys.argv[2])
    for p in problems:
        print(f"flake.lock: {p}", file=sys.stderr)
    sys.exit(1 if problems else 0)
