//! Admission: when a planned retry may go.
//!
//! `authority` keeps a bounded table of per-authority states; each holds a
//! `budget` (the retries the traffic allows) and a `gate` (is the authority
//! failing, is it answering again?).

pub(crate) mod admit;
pub(crate) mod authority;
pub(crate) mod budget;
pub(crate) mod gate;
