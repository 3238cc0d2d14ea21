# The GitHub inputs of flake.lock as source trees, for a Nix without flakes (scripts/check-nix
# uses Debian's 2.8): each is GitHub's archive of the locked rev, fetched with the lock's
# narHash as the expected hash. A flake's narHash is the NAR hash of exactly that tree, so a
# fetch succeeds only for the very sources `nix flake check` would use.
#   nix-instantiate --eval --json -E '(import nix/tests/static/pinned-sources.nix { }).home-manager'
{
  lock ? builtins.fromJSON (builtins.readFile ../../../flake.lock),
  # Where an archive is fetched from (a test can point this at local files).
  archiveUrl ? locked: "https://github.com/${locked.owner}/${locked.repo}/archive/${locked.rev}.tar.gz",
}:

let
  githubNodes = builtins.filter (name: (lock.nodes.${name}.locked.type or null) == "github") (
    builtins.attrNames lock.nodes
  );
  fetch =
    locked:
    builtins.fetchTarball {
      url = archiveUrl locked;
      sha256 = locked.narHash;
    };
in
builtins.listToAttrs (
  map (name: {
    inherit name;
    value = fetch lock.nodes.${name}.locked;
  }) githubNodes
)
