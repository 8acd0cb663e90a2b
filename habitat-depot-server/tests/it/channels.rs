//! Tests: channels (being built).
