//! Integrations: the layer's rules for clients that cannot take a tower
//! layer where a retry must go.

#[cfg(feature = "reqwest")]
pub mod reqwest;
#[cfg(feature = "tonic")]
pub mod tonic;
