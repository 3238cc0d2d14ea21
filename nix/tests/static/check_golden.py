#!/usr/bin/env python3
"""The golden unit files still match units/units.json, as the home-manager module renders it.

Usage: check_golden.py RENDERED_JSON GOLDEN_DIR
RENDERED_JSON is nix/tests/static/render-units.nix evaluated to JSON: nix/units.nix's output per
profile, { "<profile>": { "services": { "<name>": { "<Section>": { "<Key>": value } } }, "timers": …,
"paths": … } }. A named profile's templates are left out, as the module leaves them out (the
default profile writes the shared one).
This applies the module's additions recorded in GOLDEN_DIR/inputs.json and writes each unit the
way home-manager does (lib.generators.toINI with listsAsDuplicateKeys, as in home-manager's
modules/systemd.nix): sections and keys in sorted order, `Key=value`, a blank line between
sections. When units.json changes, this fails until the golden files are updated by hand.
"""

import json
import os
import sys

KIND = {"services": "service", "timers": "timer", "paths": "path", "sockets": "socket",
        "targets": "target", "slices": "slice", "mounts": "mount", "automounts": "automount"}


def ini_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render(unit: dict) -> str:
    sections = []
    for section in sorted(unit):
        lines = [f"[{section}]"]
        for key in sorted(unit[section]):
            value = unit[section][key]
            # home-manager drops null and [] values, and then empty sections.
            if value is None or value == []:
                continue
            for v in value if isinstance(value, list) else [value]:
                lines.append(f"{key}={ini_value(v)}")
        if len(lines) > 1:
            sections.append("\n".join(lines) + "\n")
    return "\n".join(sections)


def main(rendered_path: str, golden_dir: str) -> list[str]:
    with open(rendered_path) as f:
        rendered = json.load(f)
    with open(os.path.join(golden_dir, "inputs.json")) as f:
        inputs = json.load(f)
    bin_path = inputs["placeholders"]["bin"]

    units = {}
    for profile, kinds in rendered.items():
        for option, by_name in kinds.items():
            for name, unit in by_name.items():
                if profile != "default" and name.endswith("@"):
                    continue
                units[f"{name}.{KIND[option]}"] = unit

    listed = inputs["units"] + [u for p in inputs.get("profiles", {}).values() for u in p["units"]]
    errors = []
    if sorted(units) != sorted(listed):
        errors.append(f"units.json renders {sorted(units)}, inputs.json lists {sorted(listed)}: "
                      "add or remove the golden file and its entry")
    for file_name in listed:
        unit = json.loads(json.dumps(units.get(file_name, {})))
        for section, keys in inputs.get("module_additions", {}).get(file_name, {}).items():
            unit.setdefault(section, {}).update(keys)
        service = unit.get("Service", {})
        if "ExecStart" in service:
            commands = service["ExecStart"] if isinstance(service["ExecStart"], list) else [service["ExecStart"]]
            service["ExecStart"] = [
                c + inputs["exec_suffix"] if c == bin_path or c.startswith(bin_path + " ") else c
                for c in commands
            ]
        expected = render(unit)
        golden_path = os.path.join(golden_dir, file_name)
        try:
            with open(golden_path) as f:
                golden = f.read()
        except FileNotFoundError:
            errors.append(f"{golden_path} is missing; it should read:\n{expected}")
            continue
        if golden != expected:
            errors.append(f"{golden_path} differs from units.json as the module renders it; it should read:\n{expected}")
    return errors


if __name__ == "__main__":
    problems = main(sys.argv[1], sys.argv[2])
    for p in problems:
        print(f"golden: {p}", file=sys.stderr)
    sys.exit(1 if problems else 0)
