# Renders units/units.json (the one source of truth for the systemd user units, shared with
# `vault-token-renew install`) into home-manager's `systemd.user.<kind>s.<name>` shape.
# Placeholders are substituted here; nothing about the set of sections or keys is assumed, so
# directives added to units.json later (hardening, …) reach the module without a change here.
{ lib }:

{
  # Absolute path of units.json.
  unitsFile,
  # Values for the placeholders.
  bin,
  schedule,
  randomizedDelay,
  persistent,
  tokenFile,
  # "default" (today's unit names and text) or a named profile P: every unit except a template
  # becomes the complete instance file <name>@P.<kind>, as src/units.rs `instance_name` does.
  profile ? "default",
}:

let
  # home-manager option under systemd.user that holds each unit kind.
  kindOptions = {
    service = "services";
    timer = "timers";
    path = "paths";
    socket = "sockets";
    target = "targets";
    slice = "slices";
    mount = "mounts";
    automount = "automounts";
  };

  named = profile != "default";
  instanceName = name: if named && !lib.hasSuffix "@" name then "${name}@${profile}" else name;

  substitute =
    lib.replaceStrings
      [
        "@bin@"
        "@schedule@"
        "@randomized_delay@"
        "@persistent@"
        "@token_file@"
        "@service@"
        "@profile_args@"
        "@profile_note@"
      ]
      [
        bin
        schedule
        randomizedDelay
        (lib.boolToString persistent)
        tokenFile
        "${instanceName "vault-token-renew"}.service"
        (lib.optionalString named " --profile ${profile}")
        (lib.optionalString named " for profile ${profile}")
      ];

  substituteValue =
    value:
    if lib.isList value then
      map substituteValue value
    else if lib.isString value then
      substitute value
    else
      value;

  # "vault-token-renew-failure@.service" → { name = "vault-token-renew-failure@"; kind = "service"; }
  splitFileName =
    file:
    let
      parts = builtins.match "(.+)\\.([a-z]+)" file;
    in
    if parts == null || !(kindOptions ? ${lib.elemAt parts 1}) then
      throw "units.json: '${file}' is not a unit file name home-manager can declare (expected <name>.<${lib.concatStringsSep "|" (lib.attrNames kindOptions)}>); rename that entry"
    else
      {
        name = lib.elemAt parts 0;
        kind = lib.elemAt parts 1;
      };

  # Keys starting with "_" are comments for humans (e.g. "_comment").
  unitFiles = lib.filterAttrs (file: _: !lib.hasPrefix "_" file) (builtins.fromJSON (builtins.readFile unitsFile));

  rendered = lib.mapAttrsToList (
    file: sections:
    let
      unit = splitFileName file;
    in
    {
      option = kindOptions.${unit.kind};
      name = instanceName unit.name;
      value = lib.mapAttrs (
        section: keys:
        let
          rendered = lib.mapAttrs (_key: substituteValue) keys;
        in
        # home-manager makes the `.wants`/`.requires` links by mapping over Install.WantedBy and
        # Install.RequiredBy, so those must be lists; a one-element list writes the same line.
        if section == "Install" then lib.mapAttrs (_key: lib.toList) rendered else rendered
      ) sections;
    }
  ) unitFiles;
in
# { services = { "vault-token-renew" = { Unit = …; Service = …; }; … }; timers = …; paths = …; }
lib.foldl' (
  acc: unit: lib.recursiveUpdate acc { ${unit.option}.${unit.name} = unit.value; }
) { } rendered
