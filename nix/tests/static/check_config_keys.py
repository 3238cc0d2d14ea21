#!/usr/bin/env python3
"""The config-file keys the module writes are exactly the keys the binary accepts.

Usage: check_config_keys.py MODULE_NIX CONFIG_RS
The binary rejects unknown keys (exit 2), so a key the module writes but the binary does not
know would break every run; a key the binary knows but the module cannot write is a setting
home-manager users cannot reach. Keys are read from the `settingsOf = p: … {` attribute set in the
module (and `profiles` from the line writing the profiles' tables) and from the fields of `struct ConfigFile` in the binary's source.
"""

import re
import sys


def module_keys(text: str) -> set[str]:
    block = re.search(r"^  settingsOf =\n    p:\n    lib\.filterAttrs .*?\{\n(.*?)^    \};", text, re.M | re.S)
    if not block:
        raise SystemExit("config keys: no `settingsOf = p: lib.filterAttrs … { … };` block in the module")
    keys = set(re.findall(r"^      ([a-z_]+) =", block.group(1), re.M))
    # The profiles' tables, each written from the same settingsOf.
    if re.search(r"^\s*profiles = lib\.mapAttrs \(_: p: p\.settings\) cfg\.profiles;", text, re.M):
        keys.add("profiles")
    return keys


def binary_keys(text: str) -> set[str]:
    block = re.search(r"pub struct ConfigFile \{\n(.*?)^\}", text, re.M | re.S)
    if not block:
        raise SystemExit("config keys: no `pub struct ConfigFile { … }` in the binary's source")
    return set(re.findall(r"^\s*pub ([a-z_]+):", block.group(1), re.M))


def main(module_path: str, config_rs_path: str) -> list[str]:
    with open(module_path) as f:
        ours = module_keys(f.read())
    with open(config_rs_path) as f:
        theirs = binary_keys(f.read())
    errors = [f"the module writes `{k}`, which the binary rejects as unknown" for k in sorted(ours - theirs)]
    errors += [f"the binary accepts `{k}`, which no module option writes" for k in sorted(theirs - ours)]
    return errors


if __name__ == "__main__":
    problems = main(sys.argv[1], sys.argv[2])
    for p in problems:
        print(f"config keys: {p}", file=sys.stderr)
    sys.exit(1 if problems else 0)
