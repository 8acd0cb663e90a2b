//! The command-line tools (work in progress)
