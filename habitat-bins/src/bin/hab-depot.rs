//! `hab-depot`: the depot server and its admin commands.

fn main() -> std::process::ExitCode {
    habitat_bins::depot::main()
}
