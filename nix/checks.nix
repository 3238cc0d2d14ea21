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

  # These two run the binary over https with no CA configured, so the verdict comes from the
  # system's CA store, which the sandbox does not have (no /etc/ssl; stdenv's setup.sh exports
  # SSL_CERT_FILE=/no-cert-file.crt). The e2e harness starts the binary with a cleared environment
  # (tests/common/mod.rs: env_clear, then HOME, USER, PATH), so a CA bundle cannot be handed in
  # through SSL_CERT_FILE either. Reproduced outside Nix with /etc/ssl hidden: both fail with
  # "No CA certificates were loaded from the system"; the other four tests there pass.
  systemRootsExcluded =
    "not (binary(=tls) & (test(=verified_by_default_an_unknown_ca_names_the_fix)"
    + " | test(=https_to_a_plain_http_server_says_so)))";

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
  # a real OpenBao dev server on loopback (the build sandbox has a loopback interface), except
  # two that need the build machine's CA store (below).
  nextest = craneLib.cargoNextest (
    commonArgs
    // {
      inherit cargoArtifacts;
      cargoNextestExtraArgs = "--workspace --no-tests=fail -E ${lib.escapeShellArg systemRootsExcluded}";
      # The *_openbao tests start a real OpenBao dev server (devserver/src/openbao.rs). nixpkgs'
      # openbao installs its binary as bin/bao (pkgs/by-name/op/openbao/package.nix:
      # `mv $out/bin/openbao $out/bin/bao`, meta.mainProgram "bao"). Its version is whatever
      # this nixpkgs ships, not the 2.7.2 that scripts/fetch-openbao pins elsewhere: see
      # docs/nix.md ("OpenBao in the Nix checks").
      env.VAULT_TOKEN_RENEW_BAO = lib.getExe pkgs.openbao;
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
