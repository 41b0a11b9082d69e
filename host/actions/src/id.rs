//! Action ids: `act-` and 12 lowercase base32 characters (60 random bits).

/// RFC 4648 base32, lowercase: URL-safe and unambiguous to read aloud.
const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
const PREFIX: &str = "act-";
const LEN: usize = 12;

/// A fresh random id.
pub(crate) fn generate() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes)?;
    let mut bits = u64::from_le_bytes(bytes);
    let mut id = String::with_capacity(PREFIX.len() + LEN);
    id.push_str(PREFIX);
    for _ in 0..LEN {
        id.push(ALPHABET[(bits & 31) as usize] as char);
        bits >>= 5;
    }
    Ok(id)
}

/// Whether `s` has the shape of an action id.
pub fn is_valid(s: &str) -> bool {
    s.strip_prefix(PREFIX)
        .is_some_and(|rest| rest.len() == LEN && rest.bytes().all(|b| ALPHABET.contains(&b)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_ids_are_valid_and_distinct() {
        let a = super::generate().unwrap();
        let b = super::generate().unwrap();
        assert!(super::is_valid(&a), "{a}");
        assert_eq!(a.len(), 16);
        assert_ne!(a, b);
        assert!(!super::is_valid("act-ABCDEFGHIJKL"));
        assert!(!super::is_valid("act-abc"));
        assert!(!super::is_valid("xyz-abcdefghijkl"));
    }
}
