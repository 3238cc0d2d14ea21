# A stand-in for the few nixpkgs `lib` functions that nix/units.nix and the option declarations
# of nix/module.nix use, written from builtins only. It exists for scripts/check-nix: machines
# where CI runs have a Nix too old for nixpkgs, so the real lib cannot be loaded there.
# Each function follows the nixpkgs definition it replaces (lib/attrsets.nix, lib/strings.nix,
# lib/trivial.nix, lib/options.nix); option types are only recorded, never checked.
let
  filterAttrs =
    pred: set:
    builtins.listToAttrs (
      builtins.concatMap (
        name:
        let
          value = set.${name};
        in
        if pred name value then [ { inherit name value; } ] else [ ]
      ) (builtins.attrNames set)
    );

  mapAttrsToList = f: attrs: map (name: f name attrs.${name}) (builtins.attrNames attrs);

  recursiveUpdate =
    lhs: rhs:
    lhs
    // builtins.mapAttrs (
      name: value:
      if builtins.isAttrs value && builtins.isAttrs (lhs.${name} or null) then
        recursiveUpdate lhs.${name} value
      else
        value
    ) rhs;

  type = name: { _type = "option-type"; inherit name; };
  typeOf = name: _inner: type name;
in
{
  inherit filterAttrs mapAttrsToList recursiveUpdate;
  inherit (builtins)
    attrNames
    concatStringsSep
    elemAt
    foldl'
    isList
    isString
    mapAttrs
    replaceStrings
    ;

  boolToString = b: if b then "true" else "false";
  toList = x: if builtins.isList x then x else [ x ];
  concatMapStringsSep = sep: f: list: builtins.concatStringsSep sep (map f list);
  escapeShellArg =
    arg:
    if builtins.match "[[:alnum:],._+:@%/-]+" arg != null then
      arg
    else
      "'${builtins.replaceStrings [ "'" ] [ "'\\''" ] arg}'";
  hasPrefix = prefix: s: builtins.substring 0 (builtins.stringLength prefix) s == prefix;
  hasSuffix =
    suffix: s:
    let
      lenSuffix = builtins.stringLength suffix;
      lenS = builtins.stringLength s;
    in
    lenS >= lenSuffix && builtins.substring (lenS - lenSuffix) lenSuffix s == suffix;
  optionalString = cond: s: if cond then s else "";

  mkOption = attrs: attrs // { _type = "option"; };
  mkEnableOption = name: {
    _type = "option";
    default = false;
    description = "Whether to enable ${name}.";
  };
  mkPackageOption = _pkgs: name: _extra: {
    _type = "option";
    defaultText = {
      _type = "literalExpression";
      text = "pkgs.${name}";
    };
    description = "The ${name} package to use.";
  };
  literalExpression = text: {
    _type = "literalExpression";
    inherit text;
  };

  types = {
    bool = type "bool";
    str = type "str";
    package = type "package";
    nullOr = typeOf "nullOr";
    listOf = typeOf "listOf";
    attrsOf = typeOf "attrsOf";
    submodule = typeOf "submodule";
    strMatching = typeOf "strMatching";
    externalPath = type "externalPath";
    ints = {
      unsigned = type "unsigned";
      positive = type "positive";
    };
  };
}
