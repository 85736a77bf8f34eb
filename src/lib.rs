//! fruxon: a self-hosted service that runs AI agents and tags every execution with the
//! environment (the end-customer) it serves. See ARCHITECTURE.md for the layers.

pub mod agents;
pub mod alerts;
pub mod auth;
pub mod budgets;
pub mod cli;
pub mod config;
pub mod costs;
pub mod diagnostics;
pub mod domain;
pub mod environments;
pub mod error;
pub mod execute;
pub mod executions;
pub mod http;
pub mod mailer;
pub mod notifications;
pub mod paging;
pub mod runtime;
pub mod sessions;
pub mod settings;
pub mod startup;
pub mod state;
pub mod storage;
pub mod tenants;
