//! `hab`: Habitat packages and origin keys, locally and against a depot.

fn main() -> std::process::ExitCode {
    habitat_bins::hab::main()
}
