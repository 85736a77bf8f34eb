//! Integration tests: the real HTTP stack against a real SQLite file, one binary.

mod helpers;

mod agents;
mod cap;
mod cli;
mod crash;
mod errors;
mod execute;
mod health;
mod http_runtime;
mod isolation;
mod slugs;
mod stream;
