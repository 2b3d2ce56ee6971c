//! Comparing secrets (tokens, bearer credentials) in time that does not depend on where they
//! first differ, so a client cannot find a secret byte by byte from how fast it is refused.

/// Whether `given` equals `expected`. The time depends only on `expected`'s length (public,
/// or at least not secret byte by byte); a `given` of another length is refused after the
/// same work.
pub(crate) fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    let mut diff = u8::from(given.len() != expected.len());
    for (i, e) in expected.iter().enumerate() {
        diff |= e ^ given.get(i).copied().unwrap_or(0);
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::same_secret;

    #[test]
    fn same_secret_is_equality() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abd", b"abc"));
        assert!(!same_secret(b"ab", b"abc"));
        assert!(!same_secret(b"abcd", b"abc"));
        assert!(!same_secret(b"", b"abc"));
        assert!(same_secret(b"", b""));
    }
}
