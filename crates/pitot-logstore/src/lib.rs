//! Log storage engine for Pitot (work in progress).
