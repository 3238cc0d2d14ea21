//! Deterministic identifiers: the double is a test seam, so the same seed and the same
//! request sequence always yield the same tokens, accessors and request ids.

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// SplitMix64: tiny, fast and good enough for unique-looking ids (not for secrets).
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn base62(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| BASE62[(self.next_u64() % 62) as usize] as char)
            .collect()
    }

    /// OpenBao service tokens: `s.` + 24 base62 characters (contract §12.1).
    pub(crate) fn service_token(&mut self) -> String {
        format!("s.{}", self.base62(24))
    }

    /// OpenBao batch tokens carry the `b.` prefix (contract §12.1).
    pub(crate) fn batch_token(&mut self) -> String {
        format!("b.{}", self.base62(24))
    }

    /// Accessors are 24 base62 characters (contract §1, `accessor`).
    pub(crate) fn accessor(&mut self) -> String {
        self.base62(24)
    }

    pub(crate) fn uuid(&mut self) -> String {
        let a = self.next_u64();
        let b = self.next_u64();
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xffff,
            b >> 48,
            b & 0xffff_ffff_ffff
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_ids_and_openbao_shapes() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        let t = a.service_token();
        assert_eq!(t, b.service_token());
        assert!(t.starts_with("s.") && t.len() == 26);
        assert!(t[2..].bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(a.accessor().len(), 24);
        assert_ne!(a.accessor(), a.accessor());
    }
}
