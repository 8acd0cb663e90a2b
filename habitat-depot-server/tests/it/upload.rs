//! Tests: upload (being built).
