# The options nix/module.nix declares, with their defaults (or defaultText), evaluated with the
# lib stand-in so scripts/check-nix can hold the documentation's options table to the module
# without nixpkgs. Output: { "<option>": { default = …; } | { defaultText = "…"; } | { }; }
# nix-instantiate --eval --strict --json nix/tests/static/module-options.nix
let
  lib = import ./lib-shim.nix;
  module = import ../../module.nix {
    inherit lib;
    pkgs = { };
    # Only option defaults read config, and they are never forced here.
    config = { };
  };
  prefix = "services.vault-token-renew";
  describe =
    option:
    if option ? defaultText then
      { defaultText = option.defaultText.text; }
    else if option ? default then
      { inherit (option) default; }
    else
      { };
  collect =
    path: set:
    if (set._type or null) == "option" then
      [
        {
          name = path;
          value = describe set;
        }
      ]
    else
      builtins.concatLists (map (name: collect "${path}.${name}" set.${name}) (builtins.attrNames set));
in
builtins.listToAttrs (collect prefix module.options.services.vault-token-renew)
