//! Real backing services for store tests, started once per test process.

pub mod postgres;
pub mod s3;
