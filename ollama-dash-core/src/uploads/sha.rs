//! A SHA-256 whose midstate can be saved and restored, so a resumed upload goes on hashing where
//! it stopped instead of re-reading what is already on disk.
//!
//! `sha2::Sha256` hides its state; `sha2::compress256` (feature `compress`, the same SHA-NI / AVX
//! code) exposes the block function, and the rest of SHA-256 is a 64-byte buffer, a length and
//! the final padding (FIPS 180-4 §5.1.1).

use serde::{Deserialize, Serialize};
use sha2::digest::generic_array::GenericArray;

const H0: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// A running SHA-256 that can be serialised between any two bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ResumableSha256 {
    state: [u32; 8],
    /// Bytes hashed so far (including `pending`).
    len: u64,
    /// Bytes of the current, incomplete block (< 64), hex in the serialised form.
    #[serde(with = "hex_bytes")]
    pending: Vec<u8>,
}

impl Default for ResumableSha256 {
    fn default() -> Self {
        Self {
            state: H0,
            len: 0,
            pending: Vec::with_capacity(64),
        }
    }
}

fn compress(state: &mut [u32; 8], block: &[u8]) {
    sha2::compress256(state, &[*GenericArray::from_slice(block)]);
}

impl ResumableSha256 {
    /// Bytes hashed so far.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Hashes `data`.
    pub(crate) fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        if !self.pending.is_empty() {
            let take = (64 - self.pending.len()).min(data.len());
            let (head, rest) = data.split_at(take);
            self.pending.extend_from_slice(head);
            data = rest;
            if self.pending.len() < 64 {
                return;
            }
            compress(&mut self.state, &self.pending);
            self.pending.clear();
        }
        let mut blocks = data.chunks_exact(64);
        for block in &mut blocks {
            compress(&mut self.state, block);
        }
        self.pending.extend_from_slice(blocks.remainder());
    }

    /// The digest of everything hashed so far (the state itself is left as is).
    pub(crate) fn finish(&self) -> [u8; 32] {
        let mut state = self.state;
        let mut tail = self.pending.clone();
        tail.push(0x80);
        let padded = (tail.len() + 8).next_multiple_of(64);
        tail.resize(padded - 8, 0);
        tail.extend_from_slice(&(self.len.wrapping_mul(8)).to_be_bytes());
        tail.chunks_exact(64).for_each(|b| compress(&mut state, b));
        let mut out = [0; 32];
        for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        out
    }

    /// Lower-case hex of [`finish`](Self::finish).
    pub(crate) fn hex(&self) -> String {
        hex::encode(self.finish())
    }

    /// Checks a restored state is well formed (a corrupt checkpoint file must not panic later).
    pub(crate) fn is_consistent(&self) -> bool {
        self.pending.len() < 64 && self.len % 64 == self.pending.len() as u64
    }
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        hex::decode(text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn matches_sha2_for_every_length_and_split_and_survives_serialisation() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 31 % 251) as u8).collect();
        for len in [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 999, 1000] {
            let want = hex::encode(Sha256::digest(&data[..len]));
            for split in [0, 1, 13, 63, 64, 100, len / 2, len] {
                let split = split.min(len);
                let mut h = ResumableSha256::default();
                h.update(&data[..split]);
                let saved = serde_json::to_string(&h).unwrap();
                let mut h: ResumableSha256 = serde_json::from_str(&saved).unwrap();
                assert!(h.is_consistent());
                h.update(&data[split..len]);
                assert_eq!(h.hex(), want, "len {len} split {split}");
                assert_eq!(h.len(), len as u64);
            }
        }
    }
}
