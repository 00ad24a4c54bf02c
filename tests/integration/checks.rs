//! The check engine.
