# `nix flake check` for one system: lint, format, docs and tests of the crate, Nix formatting
# and dead code, the golden test of the home-manager module's unit files, and (x86_64-linux,
# needs KVM) the VM tests against a real OpenBao and a real Vault.
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

  # Only the .nix files, so the Nix checks do not rerun for a change to the Rust code.
  nixSources = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.fileFilter (file: file.hasExt "nix") ../.;
  };

  vmTest =
    testPkgs: server:
    testPkgs.testers.runNixOSTest (
      import ./tests/vm.nix {
        inherit self server;
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

  # Every test of the workspace, including those that talk to the vault-devserver double and to
  # a real OpenBao dev server on loopback (the build sandbox has a loopback interface). No test
  # is excluded: what the sandbox lacks is supplied.
  nextest = craneLib.cargoNextest (
    commonArgs
    // {
      inherit cargoArtifacts;
      cargoNextestExtraArgs = "--workspace --no-tests=fail";
      env = {
        # stdenv exports SSL_CERT_FILE=/no-cert-file.crt (pkgs/stdenv/generic/setup.sh) and the
        # sandbox has no /etc/ssl, so "the system roots" would be an unreadable file and the https
        # tests (tests/tls.rs) would see a client-build error instead of the verdict they assert.
        # rustls-native-certs reads SSL_CERT_FILE first: point it at nixpkgs' CA bundle, the roots
        # a NixOS machine has (none of which signs the tests' own CA).
        SSL_CERT_FILE = "${pkgs.cacert}/etc/ssl/certs/ca-bundle.crt";
        # The *_openbao tests start a real OpenBao dev server (devserver/src/openbao.rs). nixpkgs'
        # openbao installs its binary as bin/bao (pkgs/by-name/op/openbao/package.nix:
        # `mv $out/bin/openbao $out/bin/bao`, meta.mainProgram "bao"). Its version is whatever
        # this nixpkgs ships, not the 2.7.2 that scripts/fetch-openbao pins elsewhere: see
        # docs/nix.md ("OpenBao in the Nix checks").
        VAULT_TOKEN_RENEW_BAO = lib.getExe pkgs.openbao;
      };
    }
  );

  # Doc tests: nextest does not run them (crane docs/API.md, cargoNextest).
  doctest = craneLib.cargoDocTest (
    commonArgs
    // {
      inherit cargoArtifacts;
      cargoTestExtraArgs = "--workspace";
    }
  );

  # rustdoc warnings (broken intra-doc links, …) fail the check. Except invalid-html-tags: the
  # CLI's doc comments are clap's --help text, where `<port>` and `<name>` are meant literally.
  doc = craneLib.cargoDoc (
    commonArgs
    // {
      inherit cargoArtifacts;
      cargoDocExtraArgs = "--workspace --no-deps";
      env.RUSTDOCFLAGS = "--deny warnings --allow rustdoc::invalid-html-tags";
    }
  );

  # Nix formatting (RFC 166 style, the tool `nix fmt` runs) and unused Nix code.
  nixfmt = pkgs.runCommand "vault-token-renew-nixfmt" { nativeBuildInputs = [ pkgs.nixfmt ]; } ''
    cd ${nixSources}
    find . -name '*.nix' -exec nixfmt --check {} +
    touch $out
  '';
  deadnix = pkgs.runCommand "vault-token-renew-deadnix" { nativeBuildInputs = [ pkgs.deadnix ]; } ''
    cd ${nixSources}
    find . -name '*.nix' -exec deadnix --fail {} +
    touch $out
  '';

  golden-units = import ./tests/golden.nix {
    inherit pkgs home-manager;
    homeModule = self.homeModules.default;
  };
}
// lib.optionalAttrs (pkgs.stdenv.hostPlatform.system == "x86_64-linux") {
  vm-openbao = vmTest pkgs "openbao";
  vm-vault = vmTest vaultPkgs "vault";
}
