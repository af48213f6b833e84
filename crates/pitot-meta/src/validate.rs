//! Argument checks shared by every [`MetaStore`](crate::MetaStore) implementation, so
//! that SQLite and PostgreSQL accept exactly the same input.

use pitot_core::Scope;

use crate::MetaError;

/// Most characters a token name may have, so that listings stay readable.
pub const MAX_TOKEN_NAME_LEN: usize = 128;

/// Rejects an empty list, drops duplicates and sorts into [`Scope::ALL`] order.
pub(crate) fn normalize_scopes(mut scopes: Vec<Scope>) -> Result<Vec<Scope>, MetaError> {
    if scopes.is_empty() {
        return Err(MetaError::Invalid {
            field: "scopes",
            reason: "a token needs at least one scope".to_string(),
        });
    }
    scopes.sort();
    scopes.dedup();
    Ok(scopes)
}

/// Rejects empty names, names over [`MAX_TOKEN_NAME_LEN`] characters and control characters.
pub(crate) fn validate_name(name: &str) -> Result<(), MetaError> {
    let reason = if name.is_empty() {
        "name is empty (omit it instead)".to_string()
    } else if name.chars().count() > MAX_TOKEN_NAME_LEN {
        format!(
            "name is {} characters long, the maximum is {MAX_TOKEN_NAME_LEN}",
            name.chars().count()
        )
    } else if name.chars().any(char::is_control) {
        format!("name {name:?} holds a control character")
    } else {
        return Ok(());
    };
    Err(MetaError::Invalid {
        field: "name",
        reason,
    })
}
