# Writing values into systemd unit files so that systemd reads back exactly what was meant
# (systemd.service(5) "Command lines", systemd.exec(5) "Environment=", systemd.unit(5)
# "Specifiers"). home-manager writes values verbatim, so the module escapes them first.
{ lib }:

let
  plain = s: builtins.match "[A-Za-z0-9_./:=@+,%-]+" s != null;
  # Inside double quotes systemd applies C-style unescaping.
  quote = s: "\"" + lib.replaceStrings [ "\\" "\"" "\n" "\t" ] [ "\\\\" "\\\"" "\\n" "\\t" ] s + "\"";
in
{
  # One argument of an Exec*= command line: `%` (specifier) and `$` (variable) are doubled, a lone
  # `;` (command separator) is escaped, anything beyond a plain word is double-quoted.
  execArg =
    arg:
    let
      literal = lib.replaceStrings [ "%" "$" ] [ "%%" "$$" ] arg;
    in
    if arg == ";" then
      "\\;"
    else if plain literal then
      literal
    else
      quote literal;

  # One Environment= assignment: specifiers are expanded there (so `%` is doubled), variables
  # are not; an assignment with spaces or quotes is double-quoted as a whole.
  environment =
    name: value:
    let
      assignment = "${name}=${lib.replaceStrings [ "%" ] [ "%%" ] value}";
    in
    if plain assignment then assignment else quote assignment;
}
