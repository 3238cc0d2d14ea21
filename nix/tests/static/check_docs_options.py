#!/usr/bin/env python3
"""The options table in the docs lists exactly the module's options, with their defaults.

Usage: check_docs_options.py OPTIONS_JSON DOC.md
OPTIONS_JSON is nix/tests/static/module-options.nix evaluated to JSON. The table is the one under
the heading "## Options": each row's first cell is `name` relative to services.vault-token-renew,
and the first `…` span of the Default cell must be the module's default written as Nix
(`null`, `true`, `"daily"`, `[ ]`, `{ }`) or its defaultText.
"""

import json
import re
import sys

PREFIX = "services.vault-token-renew."


def nix_value(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[ " + "".join(nix_value(v) + " " for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + "".join(f"{k} = {nix_value(v)}; " for k, v in value.items()) + "}"
    raise ValueError(f"cannot write {value!r} as Nix")


def table_rows(markdown: str) -> dict[str, list[str]]:
    section = re.search(r"^## Options\s*$(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    if not section:
        return {}
    rows = {}
    for line in section.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        m = re.fullmatch(r"`([A-Za-z0-9_.]+)`", cells[0]) if line.startswith("|") else None
        if m:
            rows[m.group(1)] = cells
    return rows


def main(options_path: str, doc_path: str) -> list[str]:
    with open(options_path) as f:
        options = {name.removeprefix(PREFIX): spec for name, spec in json.load(f).items()}
    with open(doc_path) as f:
        rows = table_rows(f.read())
    errors = []
    if not rows:
        return [f"{doc_path} has no options table under '## Options'"]
    for name in sorted(set(rows) - set(options)):
        errors.append(f"{doc_path} documents `{name}`, which nix/module.nix does not declare")
    for name in sorted(set(options) - set(rows)):
        errors.append(f"nix/module.nix declares `{name}`, which the table in {doc_path} does not list")
    for name in sorted(set(rows) & set(options)):
        spec = options[name]
        want = spec.get("defaultText") if "defaultText" in spec else nix_value(spec["default"]) if "default" in spec else None
        cells = rows[name]
        got = re.search(r"`([^`]*)`", cells[1]) if len(cells) > 1 else None
        if want is not None and (got is None or got.group(1) != want):
            errors.append(f"{doc_path}: `{name}` default should start with `{want}`, the table says {cells[1] if len(cells) > 1 else 'nothing'!r}")
    return errors


if __name__ == "__main__":
    problems = main(sys.argv[1], sys.argv[2])
    for p in problems:
        print(f"docs: {p}", file=sys.stderr)
    sys.exit(1 if problems else 0)
