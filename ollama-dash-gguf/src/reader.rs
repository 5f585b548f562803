//! The bounded, validating header reader.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, ErrorKind, Read};
use std::path::Path;

use super::value::{KEPT_ARRAY_LEN, fixed_size};
use super::{GgufError, GgufHeader, GgufValue, Limits, TensorInfo, names};

type Result<T> = std::result::Result<T, GgufError>;

/// Smallest possible encoded KV (empty key is invalid, so 8+1 key bytes, 4 type bytes, 1 value byte).
const MIN_KV_BYTES: u64 = 14;
/// Smallest possible tensor info (8+1 name bytes, 4 n_dims, 4 type, 8 offset).
const MIN_TENSOR_BYTES: u64 = 25;
/// Longest metadata key.
const MAX_KEY_LEN: u64 = 65_535;
/// Tensor names must be shorter than this (ggml's `GGML_MAX_NAME`).
const MAX_TENSOR_NAME: u64 = 64;

/// Reads and validates a GGUF header from `reader`, positioned at the start of a file of `file_len` bytes.
///
/// Reads sequentially through a 64 KiB buffer, never past `file_len` or `limits.max_header_bytes`, and
/// never reads tensor data (only checks that it fits in `file_len`). Arrays longer than
/// [`KEPT_ARRAY_LEN`] are skipped. All checks of the digest's validator list apply; see [`GgufError`].
pub fn read_header<R: Read>(reader: R, file_len: u64, limits: &Limits) -> Result<GgufHeader> {
    Parser {
        r: BufReader::with_capacity(64 * 1024, reader),
        pos: 0,
        len: file_len,
        limits,
    }
    .header()
}

/// Opens `path` and reads its header with [`read_header`], using the file's size as `file_len`.
pub fn read_header_from_path(path: &Path, limits: &Limits) -> Result<GgufHeader> {
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    read_header(file, len, limits)
}

struct Parser<'a, R> {
    r: BufReader<R>,
    pos: u64,
    len: u64,
    limits: &'a Limits,
}

fn limit(what: impl Into<String>, value: u64, limit: u64) -> GgufError {
    GgufError::LimitExceeded {
        what: what.into(),
        value,
        limit,
    }
}

fn bad_tensor(name: &str, reason: impl Into<String>) -> GgufError {
    GgufError::InvalidTensor {
        name: name.to_owned(),
        reason: reason.into(),
    }
}

/// `x` rounded up to a multiple of `a` (a > 0).
fn align(x: u64, a: u64) -> Option<u64> {
    x.checked_add((a - x % a) % a)
}

/// Non-empty ASCII `lower_snake_case` segments (digits allowed) joined by `.`.
fn valid_key(key: &str) -> bool {
    key.split('.').all(|seg| {
        !seg.is_empty()
            && seg
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    })
}

impl<R: Read> Parser<'_, R> {
    fn remaining(&self) -> u64 {
        self.len.saturating_sub(self.pos)
    }

    fn truncated(&self, what: &str) -> GgufError {
        GgufError::Truncated {
            what: what.to_owned(),
            offset: self.pos,
        }
    }

    /// Checks that `n` more bytes exist in the file and stay within the header-size limit.
    fn need(&self, n: u64, what: &str) -> Result<()> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.len)
            .ok_or_else(|| self.truncated(what))?;
        match end > self.limits.max_header_bytes {
            true => Err(limit(
                "header size in bytes",
                end,
                self.limits.max_header_bytes,
            )),
            false => Ok(()),
        }
    }

    fn fill(&mut self, buf: &mut [u8], what: &str) -> Result<()> {
        self.need(buf.len() as u64, what)?;
        match self.r.read_exact(buf) {
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Err(self.truncated(what)),
            r => r?,
        }
        self.pos += buf.len() as u64; // need() checked pos + len <= file_len
        Ok(())
    }

    fn bytes<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let mut b = [0; N];
        self.fill(&mut b, what)?;
        Ok(b)
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        self.bytes(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        self.bytes(what).map(u64::from_le_bytes)
    }

    /// Reads past `n` bytes straight out of the read buffer (no copy), optionally checking that
    /// each is a valid BOOL.
    fn skip(&mut self, mut n: u64, what: &str, bools: bool) -> Result<()> {
        self.need(n, what)?;
        while n > 0 {
            let chunk = self.r.fill_buf()?;
            let take = chunk.len().min(usize::try_from(n).unwrap_or(usize::MAX));
            if take == 0 {
                return Err(self.truncated(what));
            }
            if let Some(&b) = chunk[..take].iter().find(|&&b| bools && b > 1) {
                return Err(GgufError::InvalidBool(b));
            }
            self.r.consume(take);
            self.pos += take as u64; // need() checked pos + n <= file_len
            n -= take as u64;
        }
        Ok(())
    }

    fn string_len(&mut self, what: &str, cap: u64) -> Result<u64> {
        let len = self.u64(what)?;
        match len > cap {
            true => Err(limit(format!("length of {what}"), len, cap)),
            false => Ok(len),
        }
    }

    /// Reads `len` bytes as UTF-8, growing the buffer only as bytes actually arrive.
    fn string_bytes(&mut self, len: u64, what: &str) -> Result<String> {
        self.need(len, what)?;
        let mut v = Vec::new();
        (&mut self.r).take(len).read_to_end(&mut v)?;
        if v.len() as u64 != len {
            return Err(self.truncated(what));
        }
        self.pos += len;
        String::from_utf8(v).map_err(|_| GgufError::InvalidUtf8 {
            what: what.to_owned(),
        })
    }

    fn string(&mut self, what: &str, cap: u64) -> Result<String> {
        let len = self.string_len(what, cap)?;
        self.string_bytes(len, what)
    }

    fn value(&mut self, vtype: u32, what: &str) -> Result<GgufValue> {
        use GgufValue as V;
        Ok(match vtype {
            0 => V::U8(u8::from_le_bytes(self.bytes(what)?)),
            1 => V::I8(i8::from_le_bytes(self.bytes(what)?)),
            2 => V::U16(u16::from_le_bytes(self.bytes(what)?)),
            3 => V::I16(i16::from_le_bytes(self.bytes(what)?)),
            4 => V::U32(u32::from_le_bytes(self.bytes(what)?)),
            5 => V::I32(i32::from_le_bytes(self.bytes(what)?)),
            6 => V::F32(f32::from_le_bytes(self.bytes(what)?)),
            7 => match u8::from_le_bytes(self.bytes(what)?) {
                0 => V::Bool(false),
                1 => V::Bool(true),
                b => return Err(GgufError::InvalidBool(b)),
            },
            8 => V::String(self.string(what, self.limits.max_string_len)?),
            9 => self.array(what)?,
            10 => V::U64(u64::from_le_bytes(self.bytes(what)?)),
            11 => V::I64(i64::from_le_bytes(self.bytes(what)?)),
            12 => V::F64(f64::from_le_bytes(self.bytes(what)?)),
            t => return Err(GgufError::InvalidValueType(t)),
        })
    }

    fn array(&mut self, what: &str) -> Result<GgufValue> {
        let elem_type = self.u32(what)?;
        let elem_size = match elem_type {
            GgufValue::TYPE_ARRAY => return Err(GgufError::NestedArray),
            GgufValue::TYPE_STRING => 8,
            t => fixed_size(t).ok_or(GgufError::InvalidValueType(t))?,
        };
        let len = self.u64(what)?;
        if len > self.limits.max_array_len {
            return Err(limit(
                format!("element count of {what}"),
                len,
                self.limits.max_array_len,
            ));
        }
        let fits = self.remaining() / elem_size;
        if len > fits {
            return Err(limit(
                format!("element count of {what} (for the bytes left in the file)"),
                len,
                fits,
            ));
        }
        let mut values = Vec::new();
        if len <= KEPT_ARRAY_LEN {
            for _ in 0..len {
                values.push(self.value(elem_type, what)?);
            }
        } else if elem_type == GgufValue::TYPE_STRING {
            for _ in 0..len {
                let n = self.string_len(what, self.limits.max_string_len)?;
                self.skip(n, what, false)?;
            }
        } else {
            // len <= remaining / elem_size, so this cannot overflow.
            self.skip(len * elem_size, what, elem_type == GgufValue::TYPE_BOOL)?;
        }
        Ok(GgufValue::Array {
            elem_type,
            len,
            values,
        })
    }

    /// Checks a count from the header against its cap and against what `avail` bytes could hold.
    fn check_count(what: &str, count: u64, cap: u64, avail: u64, min_size: u64) -> Result<()> {
        if count > cap {
            return Err(limit(what, count, cap));
        }
        match count > avail / min_size {
            true => Err(limit(
                format!("{what} (for the bytes left in the file)"),
                count,
                avail / min_size,
            )),
            false => Ok(()),
        }
    }

    fn header(mut self) -> Result<GgufHeader> {
        if &self.bytes::<4>("magic")? != b"GGUF" {
            return Err(GgufError::BadMagic);
        }
        let version = self.u32("version")?;
        if version != 0 && version & 0xFFFF == 0 {
            return Err(GgufError::WrongEndianness);
        }
        if !(2..=3).contains(&version) {
            return Err(GgufError::UnsupportedVersion(version));
        }
        let tensor_count = self.u64("tensor count")?;
        let kv_count = self.u64("metadata key-value count")?;
        let rem = self.remaining();
        Self::check_count(
            "metadata key-value count",
            kv_count,
            self.limits.max_kv_count,
            rem,
            MIN_KV_BYTES,
        )?;
        let rem = rem - kv_count * MIN_KV_BYTES; // checked just above
        Self::check_count(
            "tensor count",
            tensor_count,
            self.limits.max_tensor_count,
            rem,
            MIN_TENSOR_BYTES,
        )?;

        let mut metadata = BTreeMap::new();
        for _ in 0..kv_count {
            let key = self.string("metadata key", self.limits.max_string_len.min(MAX_KEY_LEN))?;
            if !valid_key(&key) {
                return Err(GgufError::InvalidKey(key));
            }
            if metadata.contains_key(&key) {
                return Err(GgufError::DuplicateKey(key));
            }
            let vtype = self.u32(&key)?;
            let value = self.value(vtype, &key)?;
            metadata.insert(key, value);
        }
        let alignment = match metadata.get("general.alignment") {
            None => 32,
            Some(&GgufValue::U32(a)) if a.is_power_of_two() && a % 8 == 0 => u64::from(a),
            Some(_) => return Err(GgufError::InvalidAlignment),
        };

        let mut tensors = Vec::with_capacity(tensor_count.min(1024) as usize);
        let mut sizes = Vec::with_capacity(tensors.capacity());
        let mut seen = HashSet::new();
        let mut expected = 0u64;
        for i in 0..tensor_count {
            let (info, size) = self.tensor_info(i, alignment, &mut expected)?;
            if !seen.insert(info.name.clone()) {
                return Err(bad_tensor(&info.name, "duplicate tensor name"));
            }
            tensors.push(info);
            sizes.push(size);
        }

        let data_offset = align(self.pos, alignment).unwrap_or(u64::MAX);
        for (t, size) in tensors.iter().zip(&sizes) {
            let end = data_offset
                .checked_add(t.offset)
                .and_then(|x| x.checked_add(*size));
            if end.is_none_or(|e| e > self.len) {
                return Err(GgufError::TensorDataOutOfBounds {
                    name: t.name.clone(),
                });
            }
        }
        let mut header = GgufHeader {
            version,
            tensor_count,
            kv_count,
            alignment,
            metadata,
            tensors,
            data_offset,
            warnings: Vec::new(),
        };
        header.warnings = header.semantic_warnings();
        Ok(header)
    }

    /// Reads and validates one tensor info; returns it with its data size and advances `expected`
    /// (the next cumulative offset).
    fn tensor_info(
        &mut self,
        index: u64,
        alignment: u64,
        expected: &mut u64,
    ) -> Result<(TensorInfo, u64)> {
        let label = format!("#{index}");
        let len = self.u64("tensor name")?;
        if len == 0 || len >= MAX_TENSOR_NAME {
            return Err(bad_tensor(
                &label,
                format!("name is {len} bytes; it must be 1 to 63"),
            ));
        }
        let name = self.string_bytes(len, &format!("name of tensor {label}"))?;
        let n_dims = self.u32(&name)?;
        if n_dims > 4 {
            return Err(bad_tensor(
                &name,
                format!("{n_dims} dimensions; at most 4 are allowed"),
            ));
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            dims.push(self.u64(&name)?);
        }
        let max = i64::MAX as u64;
        let elements = dims.iter().try_fold(1u64, |acc, &d| {
            acc.checked_mul(d).filter(|&p| p <= max && d <= max)
        });
        let elements = elements
            .ok_or_else(|| bad_tensor(&name, format!("dimensions {dims:?} overflow int64")))?;
        let ggml_type = self.u32(&name)?;
        let (block, block_bytes) = names::ggml_type_block(ggml_type).ok_or_else(|| {
            bad_tensor(&name, format!("unknown or removed ggml type {ggml_type}"))
        })?;
        let ne0 = dims.first().copied().unwrap_or(1);
        if ne0 % block != 0 {
            return Err(bad_tensor(
                &name,
                format!("row length {ne0} is not a multiple of the type's block size {block}"),
            ));
        }
        let offset = self.u64(&name)?;
        if offset % alignment != 0 {
            return Err(bad_tensor(
                &name,
                format!("offset {offset} is not a multiple of the alignment {alignment}"),
            ));
        }
        if offset != *expected {
            return Err(bad_tensor(
                &name,
                format!("offset {offset} should be {expected}: data must be back to back"),
            ));
        }
        let size = (elements / block).checked_mul(block_bytes);
        let next = size
            .and_then(|s| align(s, alignment))
            .and_then(|s| offset.checked_add(s));
        *expected = next.ok_or_else(|| bad_tensor(&name, "data size overflows"))?;
        Ok((
            TensorInfo {
                name,
                dims,
                ggml_type,
                offset,
            },
            size.unwrap_or_default(),
        ))
    }
}
