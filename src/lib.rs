//! drydock: test-driven infrastructure in Docker containers.
//!
//! Data flows one way: config → images → scenarios (provision, checks) → comparisons → report.
#![warn(missing_docs)]

pub mod check;
pub mod config;
pub mod docker;
pub mod error;
pub mod hook;
pub mod image;
pub mod pipeline;
pub mod provision;
pub mod report;
pub mod state;
