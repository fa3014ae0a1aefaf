//! Integration tests: each test starts the real server against the real services, with its
//! own databases, Redis prefix and MQTT identity (see `helpers`).

mod abuse;
mod access;
mod archive;
mod auth;
mod authz;
mod browser;
mod cli;
mod cluster;
mod cluster_live;
mod collar;
mod collars;
mod corrections;
mod errors;
mod faults;
mod feed;
mod fixtures;
mod geofences;
mod health;
mod helpers;
mod members;
mod mood;
mod moods;
mod moods_live;
mod notifications;
mod openapi;
mod pets;
mod posts_media;
mod realtime;
mod share;
mod social;
mod stats;
mod track_gpx;
