//! Orchestration: the run's lifecycle ([`session`]), its containers ([`janitor`]), the
//! production image, the scenarios of `drydock run`, and reading a container's state. The
//! pipeline never prints; it sends events.

pub mod capture;
pub mod doctor;
pub mod janitor;
pub mod owner;
pub mod production;
pub mod run;
pub mod scenario;
pub mod session;
pub mod target;
