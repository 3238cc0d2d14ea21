#!/usr/bin/env bash
# Runs the linger activation step (nix/linger-activation.nix, rendered with the lib stand-in)
# the way home-manager does (bash, `set -eu -o pipefail`), against a fake logind marker directory
# and fake loginctl programs, with stand-ins for home-manager's `run`, `warnEcho`, `verboseEcho`.
# Usage (from the repository root): nix/tests/static/check-linger-activation.sh
set -euo pipefail

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() { printf 'linger step: %s\n' "$*" >&2; failures=$((failures + 1)); }

# loginctl stand-ins: they record their arguments and allow or deny.
mkdir -p "$work/bin"
cat > "$work/bin/loginctl-allows" << EOF
#!/bin/sh
echo "\$*" >> "$work/calls"
EOF
cat > "$work/bin/loginctl-denies" << EOF
#!/bin/sh
echo "\$*" >> "$work/calls"
echo "Could not enable linger: Access denied" >&2
exit 1
EOF
chmod +x "$work/bin/"*

render() { # render LOGINCTL → the step's bash text
  nix-instantiate --eval --strict --json \
    --argstr lingerDir "$work/linger" --argstr loginctl "$1" \
    -E '{ lingerDir, loginctl }: import ./nix/linger-activation.nix {
          lib = import ./nix/tests/static/lib-shim.nix;
          user = "alice";
          fallbackLoginctl = "/nonexistent/loginctl";
          inherit lingerDir;
          loginctlCandidates = [ "/nonexistent/first" loginctl ];
        }' | python3 -c 'import json, sys; sys.stdout.write(json.load(sys.stdin))'
}

helpers='
run() { if [[ -v DRY_RUN ]]; then echo "$@"; else "$@"; fi; }
warnEcho() { echo "WARN: $*" >&2; }
verboseEcho() { if [[ -v VERBOSE ]]; then echo "$*"; fi; }
'

scenario() { # scenario NAME LOGINCTL [ENV...] → runs the step; sets status, out, err
  local name=$1 loginctl=$2
  shift 2
  rm -f "$work/calls"
  render "$loginctl" > "$work/step.sh"
  bash -n "$work/step.sh" || fail "$name: the rendered step is not valid bash"
  status=0
  env "$@" bash -c "set -eu -o pipefail; $helpers source '$work/step.sh'" > "$work/out" 2> "$work/err" || status=$?
  out=$(cat "$work/out")
  err=$(cat "$work/err")
  calls=$(cat "$work/calls" 2> /dev/null || true)
}

mkdir -p "$work/linger"

touch "$work/linger/alice"
scenario "marker present" "$work/bin/loginctl-allows" VERBOSE=1
[[ $status == 0 ]] || fail "marker present: exit $status"
[[ -z $calls ]] || fail "marker present: loginctl was called ($calls)"
[[ $out == *"already enabled for alice"* ]] || fail "marker present: no verbose note (got: $out)"
rm "$work/linger/alice"

scenario "allowed" "$work/bin/loginctl-allows"
[[ $status == 0 ]] || fail "allowed: exit $status ($err)"
[[ $calls == "--no-ask-password enable-linger alice" ]] || fail "allowed: loginctl got '$calls'"
[[ -z $err ]] || fail "allowed: unexpected warnings: $err"

scenario "denied" "$work/bin/loginctl-denies"
[[ $status == 0 ]] || fail "denied: the switch must not fail (exit $status)"
[[ $calls == "--no-ask-password enable-linger alice" ]] || fail "denied: loginctl got '$calls'"
[[ $err == *"WARN:   sudo loginctl enable-linger alice"* ]] || fail "denied: no sudo hint (got: $err)"

scenario "dry run" "$work/bin/loginctl-allows" DRY_RUN=1
[[ $status == 0 ]] || fail "dry run: exit $status"
[[ -z $calls ]] || fail "dry run: loginctl was called ($calls)"
[[ $out == *"$work/bin/loginctl-allows --no-ask-password enable-linger alice"* ]] || fail "dry run: command not shown (got: $out)"

scenario "no loginctl at the usual places" "/nonexistent/second"
[[ $status == 0 ]] || fail "fallback: exit $status"
[[ $err == *"sudo loginctl enable-linger alice"* ]] || fail "fallback: a missing loginctl must end in the hint (got: $err)"

exit $((failures > 0))
