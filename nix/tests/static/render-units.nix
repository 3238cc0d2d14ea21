# Evaluates nix/units.nix (the module's renderer of units/units.json) with the placeholders of
# nix/tests/golden/inputs.json, for the default profile and each named profile there, using the
# lib stand-in, so scripts/check-nix can compare its output with the golden files without nixpkgs.
# Output: { "<profile>": <nix/units.nix output>; }
# nix-instantiate --eval --strict --json nix/tests/static/render-units.nix
let
  inputs = builtins.fromJSON (builtins.readFile ../golden/inputs.json);
  render =
    profile: p:
    import ../../units.nix { lib = import ./lib-shim.nix; } {
      unitsFile = ../../../units/units.json;
      inherit (p) bin schedule persistent;
      randomizedDelay = p.randomized_delay;
      tokenFile = p.token_file;
      inherit profile;
    };
in
{
  default = render "default" inputs.placeholders;
}
// builtins.mapAttrs (name: profile: render name profile.placeholders) (inputs.profiles or { })
