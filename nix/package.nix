# The one package definition, a function of pkgs (through crane's `mkLib pkgs`): the flake's
# packages, its overlay and its checks all call this, so they cannot drift apart.
{ pkgs, craneLib }:

let
  inherit (pkgs) lib;
  root = ../.;

  # Cargo sources plus the non-Rust files the build and the tests read.
  src = lib.fileset.toSource {
    inherit root;
    fileset = lib.fileset.unions [
      (craneLib.fileset.commonCargoSources root)
      # The unit definitions `vault-token-renew install` renders.
      ../units/units.json
      # Golden unit files shared with the home-manager module's check (nix/tests/golden.nix).
      (lib.fileset.maybeMissing ../nix/tests/golden)
      # The contract the code cites by section (tests/repository.rs checks every citation).
      ../docs/vault-api-contract.md
    ];
  };

  commonArgs = {
    inherit src;
    strictDeps = true;
  };

  # Dependencies only, built from a dummy source: cached until Cargo.lock changes.
  cargoArtifacts = craneLib.buildDepsOnly commonArgs;

  package = craneLib.buildPackage (
    commonArgs
    // {
      inherit cargoArtifacts;
      # Only the renewer: the workspace's test double (vault-devserver) is not for users.
      cargoExtraArgs = "--locked --package vault-token-renew";
      # The test suite runs once, in the nextest check, not again in every package build.
      doCheck = false;

      # Here, not in commonArgs, so it does not invalidate the dependency build.
      nativeBuildInputs = [ pkgs.installShellFiles ];
      # Completions and the man pages come from the binary itself (`generate`, a hidden
      # subcommand that needs no config); a cross build cannot run it, so it installs none.
      postInstall = lib.optionalString (pkgs.stdenv.buildPlatform.canExecute pkgs.stdenv.hostPlatform) ''
        bin=$out/bin/vault-token-renew
        installShellCompletion --cmd vault-token-renew \
          --bash <("$bin" generate completions bash) \
          --zsh <("$bin" generate completions zsh) \
          --fish <("$bin" generate completions fish)
        "$bin" generate man --out man1
        installManPage man1/*.1
      '';

      meta = {
        description = "Keeps your own periodic Vault/OpenBao token in ~/.vault-token alive, and refuses to keep anyone else's alive";
        license = lib.licenses.mit;
        mainProgram = "vault-token-renew";
        platforms = lib.platforms.linux;
      };
    }
  );
in
{
  inherit
    src
    commonArgs
    cargoArtifacts
    package
    ;
}
