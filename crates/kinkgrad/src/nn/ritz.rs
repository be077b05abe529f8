//! Deep Ritz (placeholder).
