//! Integrations: the layer's rules for clients that take no tower layer
//! where a retry must go, each behind its feature and public at the crate's
//! root (`tower_conn_retry::reqwest`, `tower_conn_retry::tonic`).
//!
//! Each builds on the crate's public face (the classifier, the policy, the
//! service) as a user's code would, plus the chain reading of `classify`.

#[cfg(feature = "reqwest")]
pub mod reqwest;
#[cfg(feature = "tonic")]
pub mod tonic;
