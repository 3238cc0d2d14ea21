{
  description = "vault-token-renew: keep your own periodic Vault/OpenBao token in ~/.vault-token alive, refuse anyone else's";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";
    # crane has no inputs of its own (nothing to follow). A release tag, because its master
    # branch may break at any time; v0.24.0 supports nixpkgs 26.05.
    crane.url = "github:ipetkov/crane/v0.24.0";
    home-manager = {
      url = "github:nix-community/home-manager/release-26.05";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  outputs =
    {
      self,
      nixpkgs,
      crane,
      home-manager,
    }:
    let
      inherit (nixpkgs) lib;
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});

      craneLibFor = pkgs: crane.mkLib pkgs;
      build = pkgs: import ./nix/package.nix {
        inherit pkgs;
        craneLib = craneLibFor pkgs;
      };
    in
    {
      packages = forAllSystems (
        pkgs:
        let
          inherit (build pkgs) package;
        in
        {
          default = package;
          vault-token-renew = package;
        }
      );

      overlays.default = final: _prev: { vault-token-renew = (build final).package; };

      homeModules.default =
        { lib, pkgs, ... }:
        {
          imports = [ ./nix/module.nix ];
          services.vault-token-renew.package =
            lib.mkDefault
              self.packages.${pkgs.stdenv.hostPlatform.system}.default;
        };

      # For NixOS with home-manager as a NixOS module: imports home-manager's NixOS module (a
      # path, so importing it again elsewhere is deduplicated, provided both come from the same
      # home-manager: let this flake's home-manager input follow yours) and adds ours to every
      # user's home-manager configuration (home-manager.sharedModules, home-manager
      # nixos/common.nix). Enabling it stays per user: home-manager.users.<name>.services.vault-token-renew.
      nixosModules.default = {
        imports = [ home-manager.nixosModules.home-manager ];
        home-manager.sharedModules = [ self.homeModules.default ];
      };

      checks = forAllSystems (
        pkgs:
        import ./nix/checks.nix {
          inherit pkgs self home-manager;
          craneLib = craneLibFor pkgs;
          build = build pkgs;
          vaultPkgs = import nixpkgs {
            inherit (pkgs.stdenv.hostPlatform) system;
            config.allowUnfreePredicate = pkg: lib.getName pkg == "vault-bin";
          };
        }
      );

      devShells = forAllSystems (pkgs: {
        default = (craneLibFor pkgs).devShell {
          inputsFrom = [ (build pkgs).package ];
          packages = [
            pkgs.cargo-nextest
            pkgs.deadnix
            pkgs.nixfmt
            pkgs.openbao
          ];
        };
      });

      formatter = forAllSystems (pkgs: pkgs.nixfmt-tree);
    };
}
