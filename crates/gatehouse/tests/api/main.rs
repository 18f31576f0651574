//! One integration-test binary: every test drives the real HTTP surface of an in-process
//! Gatehouse on 127.0.0.1:0, once on SQLite and once on PostgreSQL (each test its own database).
//! Files mirror the routes they exercise.

mod harness;

mod account_enumeration;
mod account_takeover;
mod admin_auth;
mod audit;
mod authorize;
mod bad_input;
mod clients;
mod cors;
mod courier;
mod credentials;
mod credentials_gateways;
mod csrf;
mod discovery;
mod error_logging;
mod gateway;
mod gateway_interop;
mod gateway_ratelimit;
mod gateway_remote;
mod identities;
mod keys;
mod logout;
mod oauth_login_attacks;
mod pages;
mod pages_webauthn;
mod proxy;
mod recovery_link;
mod registration;
mod replicas;
mod return_to;
mod revocation_everywhere;
mod second_factor;
mod security_headers;
mod selfservice;
mod selfservice_limits;
mod token;
mod token_pages;
mod webauthn;
