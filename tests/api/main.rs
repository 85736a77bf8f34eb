//! Integration tests: the real HTTP stack against a real SQLite file, one binary.

mod helpers;

mod agents;
mod budgets;
mod cap;
mod cli;
mod crash;
mod diagnostics;
mod errors;
mod execute;
mod executions_list;
mod health;
mod http_runtime;
mod isolation;
mod notifications;
mod registry;
mod sessions;
mod settings;
mod slugs;
mod smtp;
mod stream;
mod summary;
