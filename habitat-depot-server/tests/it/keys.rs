//! Tests: keys (being built).
