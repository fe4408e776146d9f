//! Integration tests: each starts the real `keywardd` on a temporary socket and data dir.

// Unsafe code is denied outside the daemon; `slots` allows its one raw system call (which
// `http` reuses).
#![deny(unsafe_code)]

mod access;
mod audit;
mod audit_flood;
mod axum_layer;
mod backup;
mod buffers;
mod cli;
mod cli_json;
mod client_api;
mod client_delete;
mod clock_jump;
mod cluster;
mod cluster_migrate;
mod cluster_tls;
mod config_bounds;
mod corruption;
mod disable;
mod disk_full;
mod etcd_support;
mod examples;
mod external_ids;
mod flood;
mod forward_auth;
mod hostile;
mod http;
mod http_hostile;
mod idle_disk;
mod lifecycle;
mod paging;
mod readme;
mod seeds;
mod slots;
mod startup;
mod stats_counts;
mod support;
mod systemd;
mod trust;
mod updates;
mod usage;
mod verify_pin;
