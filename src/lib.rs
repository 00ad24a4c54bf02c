//! drydock: test-driven infrastructure in Docker containers.
//!
//! Data flows one way: config → plan → images → scenarios (provision, checks) → comparisons →
//! report.
//! The ground floor ([`outcome`], [`event`], [`secret`], [`ids`], [`process`]) is vocabulary
//! every layer shares; `ARCHITECTURE.md` lists which module may import which, and a test keeps
//! it so.
#![warn(missing_docs)]

pub mod api;
#[cfg(test)]
mod architecture;
pub mod check;
pub mod cli;
pub mod command;
pub mod config;
pub mod docker;
pub mod error;
pub mod event;
pub mod history;
pub mod hook;
pub mod ids;
pub mod image;
pub mod outcome;
pub mod pipeline;
pub mod plan;
pub mod process;
pub mod provision;
pub mod report;
pub mod scaffold;
pub mod secret;
pub mod session;
pub mod state;
pub mod watch;
pub mod written;
