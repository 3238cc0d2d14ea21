# Evaluates nix/units.nix (the module's renderer of units/units.json) with the placeholders of
# nix/tests/golden/inputs.json, using the lib stand-in, so scripts/check-nix can compare its
# output with the golden files without nixpkgs.
# nix-instantiate --eval --strict --json nix/tests/static/render-units.nix
let
  inputs = builtins.fromJSON (builtins.readFile ../golden/inputs.json);
  p = inputs.placeholders;
in
import ../../units.nix { lib = import ./lib-shim.nix; } {
  unitsFile = ../../../units/units.json;
  inherit (p) bin schedule persistent;
  randomizedDelay = p.randomized_delay;
  tokenFile = p.token_file;
}
