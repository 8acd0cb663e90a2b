//! Tests: origins (being built).
