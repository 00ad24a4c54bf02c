//! Integration tests: the real drydock binary against the real Docker engine, with real
//! provisioners. One binary, so the build links once.

mod fixture;

mod adoption;
mod api;
mod checks;
mod engines;
mod faults;
mod fleet;
mod hosts;
mod identity;
mod init;
mod ownership;
mod platforms;
mod reports;
mod repository;
mod roles;
mod run;
mod state;
mod systemd;
mod team;
mod truthful;
mod watch;
