//! Reading fuzzer bytes as choices: each read takes bytes off the front, and an exhausted input
//! reads as zeros, so every input is valid and a short one means "the simplest choices".

#[derive(Debug, Clone)]
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        if n <= 256 {
            self.u8() as usize % n
        } else {
            self.u32() as usize % n
        }
    }

    /// Up to `n` bytes (fewer when the input runs out).
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }

    /// A short ASCII string (names must be valid UTF-8 for kafka-protocol to encode them).
    pub fn ascii(&mut self, max_len: usize) -> String {
        let len = self.below(max_len + 1);
        self.bytes(len)
            .iter()
            .map(|b| char::from(b'a' + b % 26))
            .collect()
    }
}

/// Damages an encoded frame the way the fuzzer's choices say: up to `max_edits` byte
/// overwrites, insertions, deletions or a truncation.
pub fn mutate(input: &mut Input, frame: &mut Vec<u8>, max_edits: usize) {
    let edits = input.below(max_edits + 1);
    for _ in 0..edits {
        let op = input.u8();
        let at = input.u16() as usize;
        let value = input.u8();
        let len = frame.len();
        match op % 4 {
            0 if len > 0 => frame[at % len] = value,
            1 => frame.truncate(at % (len + 1)),
            2 => frame.insert(at % (len + 1), value),
            3 if len > 0 => {
                let start = at % len;
                let end = (start + 1 + value as usize % 8).min(len);
                frame.drain(start..end);
            }
            _ => {}
        }
    }
}

/// A deterministic pseudo-random byte source (xorshift64*), for the stable smoke test.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn bytes(&mut self, max_len: usize) -> Vec<u8> {
        let len = (self.next_u64() as usize) % (max_len + 1);
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}
