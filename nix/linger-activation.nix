# The home-manager activation step that enables lingering, so the user manager (and the renew
# timer) runs without a login session. It runs after writeBoundary, where side effects are
# allowed, and uses home-manager's helpers `run` (honours DRY_RUN), `warnEcho` and `verboseEcho`.
# - idempotent: logind's marker file says whether lingering is already on;
# - PATH is minimal during activation, so loginctl is called by absolute path, the host's first
#   (same version as its logind), else the one from nixpkgs;
# - a denial (no polkit, or a stricter rule) must not fail the switch: it prints what to run.
{
  lib,
  user,
  # loginctl to use when the host has none at the usual places.
  fallbackLoginctl,
  # Parameters for the test in nix/tests/static; the defaults are the real places.
  lingerDir ? "/var/lib/systemd/linger",
  loginctlCandidates ? [
    "/run/current-system/sw/bin/loginctl"
    "/usr/bin/loginctl"
    "/bin/loginctl"
  ],
}:

let
  userArg = lib.escapeShellArg user;
in
''
  vaultTokenRenewUser=${userArg}
  if [[ -e ${lib.escapeShellArg lingerDir}/"$vaultTokenRenewUser" ]]; then
    verboseEcho "vault-token-renew: lingering is already enabled for $vaultTokenRenewUser"
  else
    vaultTokenRenewLoginctl=${lib.escapeShellArg fallbackLoginctl}
    for vaultTokenRenewCandidate in ${lib.concatMapStringsSep " " lib.escapeShellArg loginctlCandidates}; do
      if [[ -x $vaultTokenRenewCandidate ]]; then
        vaultTokenRenewLoginctl=$vaultTokenRenewCandidate
        break
      fi
    done
    if ! run "$vaultTokenRenewLoginctl" --no-ask-password enable-linger "$vaultTokenRenewUser"; then
      warnEcho "vault-token-renew: could not enable lingering for $vaultTokenRenewUser (denied: no polkit, or a stricter rule)."
      warnEcho "Without it the renew timer only runs while you are logged in. Run once:"
      warnEcho "  sudo loginctl enable-linger $vaultTokenRenewUser"
      warnEcho "(on NixOS instead: users.users.$vaultTokenRenewUser.linger = true;)"
    fi
    unset vaultTokenRenewLoginctl vaultTokenRenewCandidate
  fi
  unset vaultTokenRenewUser
''
