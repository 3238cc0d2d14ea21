# `nix flake check` for one system: lint, format and tests of the crate, the golden test of the
# home-manager module's unit files, and (x86_64-linux, needs KVM) the VM tests against a real
# OpenBao and a real Vault.
{
  pkgs,
  craneLib,
  build,
  self,
  home-manager,
  # nixpkgs for the same system, allowing the one unfree package the Vault VM test needs.
  vaultPkgs,
}:

let
  inherit (pkgs) lib;
  inherit (build) src commonArgs cargoArtifacts;

  vmTest =
    testPkgs: server:
    testPkgs.testers.runNixOSTest (
      import ./tests/vm.nix {
        inherit self home-manager server;
      }
    );
in
{
  package = build.package;

  clippy = craneLib.cargoClippy (
    commonArgs
    // {
      inherit cargoArtifacts;
      # Every workspace member (the renewer and its test double), tests and examples included.
      cargoClippyExtraArgs = "--workspace --all-targets -- --deny warnings";
    }
  );

  fmt = craneLib.cargoFmt {
    inherit src;
    cargoExtraArgs = "--all";
  };

  # Every test of the workspace, including those that talk to the vault-devserver double on
  # loopback (the build sandbox has a loopback interface).
  nextest = craneLib.cargoNextest (
    commonArgs
    // {
      inherit cargoArtifacts;
      cargoNextestExtraArgs = "--workspace --no-tests=fail";
    }
  );

  golden-units = import ./tests/golden.nix {
    inherit pkgs home-manager;
    homeModule = self.homeModules.default;
  };
}
// lib.optionalAttrs (pkgs.stdenv.hostPlatform.system == "x86_64-linux") {
  vm-openbao = vmTest pkgs "openbao";
  vm-vault = vmTest vaultPkgs "vault";
}
