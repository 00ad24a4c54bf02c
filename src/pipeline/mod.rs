//! The run: images, then the fresh and upgrade scenarios concurrently, idempotence, the state
//! diff, and cleanup on every path. The pipeline never prints; it sends [`events`].

pub mod events;
pub mod janitor;
pub mod promote;
pub mod run;
pub mod standalone;
