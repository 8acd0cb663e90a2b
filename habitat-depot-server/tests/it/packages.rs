//! Tests: packages (being built).
