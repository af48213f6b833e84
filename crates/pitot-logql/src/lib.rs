//! LogQL for Pitot (work in progress).
