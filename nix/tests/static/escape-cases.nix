# Cases for nix/systemd-escape.nix, evaluated by scripts/check-nix with the lib stand-in.
# The expected strings were confirmed once with systemd 252 (booted in a container): a unit built
# from them handed its command exactly these arguments and environment values back.
# Result: the list of cases that do not hold (empty = all pass).
let
  escape = import ../../systemd-escape.nix { lib = import ./lib-shim.nix; };
  cases = [
    {
      got = escape.execArg "-v";
      want = "-v";
    }
    {
      got = escape.execArg "/home/alice/.config/vault-token-renew/config.toml";
      want = "/home/alice/.config/vault-token-renew/config.toml";
    }
    {
      got = escape.execArg "two words";
      want = ''"two words"'';
    }
    {
      got = escape.execArg "100%";
      want = "100%%";
    }
    {
      got = escape.execArg "$HOME";
      want = ''"$$HOME"'';
    }
    {
      got = escape.execArg ''say "hi" \ bye'';
      want = ''"say \"hi\" \\ bye"'';
    }
    {
      got = escape.execArg ";";
      want = ''\;'';
    }
    {
      got = escape.execArg "";
      want = ''""'';
    }
    {
      got = escape.execArg "%n";
      want = "%%n";
    }
    {
      got = escape.environment "VAULT_ADDR" "https://vault.example.com:8200";
      want = "VAULT_ADDR=https://vault.example.com:8200";
    }
    {
      got = escape.environment "GREETING" "hello world";
      want = ''"GREETING=hello world"'';
    }
    {
      got = escape.environment "PCT" "50%";
      want = "PCT=50%%";
    }
    {
      got = escape.environment "Q" ''a "b"'';
      want = ''"Q=a \"b\""'';
    }
  ];
in
builtins.filter (c: c.got != c.want) cases
