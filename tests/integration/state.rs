//! The state diff.
