// Modules of issue 3 (install/uninstall, unit rendering, failure hook); wired into the CLI once it lands.
#![allow(dead_code)]
mod hook;
mod install;
mod units;

fn main() {}
