//! The line codec of chunk version 2: each line becomes a *template* (its constant text
//! with placeholders) plus *variables* in typed columns, so zstd sees the repetitive
//! structure once per chunk and the random parts in their most compact form.
//!
//! A line is split into runs of ASCII letters and digits ("words") and single other
//! bytes. Variables are:
//! - the entry's own timestamp spelled as ISO-8601 with milliseconds or in Common Log
//!   Format ([`super::timefmt`]): a placeholder only, no bytes;
//! - a word of 8 to 255 hex digits with at least one digit and one letter, all letters
//!   of one case (trace, span, request and order ids): its nibbles, packed two per byte,
//!   in the *hex column* (incompressible, stored as is), its length and case in the
//!   template;
//! - any other run of 1 to 19 decimal digits: its value as a uvarint in the *number
//!   column*, its width in the template when it has leading zeros.
//!
//! Templates are deduplicated per chunk into a dictionary; a uvarint template id per
//! line forms the *id column*. Numbers are grouped into streams by the eight template
//! bytes before them, their "field name", so each stream mostly holds one field (a
//! status code, a port, a latency) and compresses like a column of a table. Template bytes 1..=7 are placeholders; a literal byte in that range is
//! escaped, so every byte string round-trips.
//!
//! # Columns
//!
//! ```text
//! dict: uvarint template count, then per template a uvarint-length-prefixed template;
//!       uvarint number stream count, then the uvarint byte length of each stream
//! ids:  per line the uvarint template id
//! nums: the number streams one after the other, numbered in order of the first
//!       number (by template, then position) with their key
//! hex:  packed nibbles of every hex variable, in line order (odd lengths end in a
//!       half-used byte whose low nibble is zero)
//! ```

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::timefmt::{Clock, CLF_LEN, ISO_LEN};
use super::ChunkError;
use pitot_core::varint::{put_bytes, put_uvarint, Reader};

const DEC: u8 = 1;
const DEC_PAD: u8 = 2;
const HEX_LOWER: u8 = 3;
const HEX_UPPER: u8 = 4;
const TS_ISO: u8 = 5;
const TS_CLF: u8 = 6;
const ESCAPE: u8 = 7;
/// Shortest hex word taken as an id: shorter ones are mostly words and small numbers.
const MIN_HEX: usize = 8;
/// Longest digit run that fits a `u64`.
const MAX_DIGITS: usize = 19;

const ALNUM: u8 = 1;
const DIGIT: u8 = 2;
const HEX_LC: u8 = 4;
const HEX_UC: u8 = 8;

/// Character classes by byte, so the tokenizer does one load per byte.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = if c.is_ascii_digit() {
            ALNUM | DIGIT
        } else if matches!(c, b'a'..=b'f') {
            ALNUM | HEX_LC
        } else if matches!(c, b'A'..=b'F') {
            ALNUM | HEX_UC
        } else if c.is_ascii_alphabetic() {
            ALNUM
        } else {
            0
        };
        b += 1;
    }
    t
};

/// Nibble values of hex digits (either case).
static NIBBLE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => 0,
        };
        b += 1;
    }
    t
};

/// FxHash: templates are short and trusted to be ours, so a fast non-keyed hash is
/// enough (the map is private to one chunk encode).
#[derive(Default)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
        for &b in chunks.remainder() {
            h = (h.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
        self.0 = h;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Passes a precomputed hash through.
#[derive(Default)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A chunk's lines split into the codec's columns (uncompressed).
#[derive(Debug, Default)]
pub(crate) struct EncodedLines {
    /// The template dictionary.
    pub dict: Vec<u8>,
    /// Template id per line.
    pub ids: Vec<u8>,
    /// Number streams.
    pub nums: Vec<u8>,
    /// Packed hex ids.
    pub hex: Vec<u8>,
}

/// Splits every line (`lines[ends[i-1]..ends[i]]`, entry timestamps `ts`) into columns.
pub(crate) fn encode(ts: &[i64], lines: &[u8], ends: &[u32]) -> EncodedLines {
    let mut out = EncodedLines {
        ids: Vec::with_capacity(ts.len() * 2),
        hex: Vec::with_capacity(lines.len() / 8),
        ..EncodedLines::default()
    };
    // Templates back to back in one arena, found by their FxHash (probing on the rare
    // collision), so a new template costs no allocation.
    // Sized for a template per line (common: ids aside, fields vary independently),
    // so the map never rehashes.
    let mut map: HashMap<u64, u32, BuildHasherDefault<IdentityHasher>> =
        HashMap::with_capacity_and_hasher(ts.len(), BuildHasherDefault::default());
    let mut arena: Vec<u8> = Vec::with_capacity(lines.len() / 2);
    let mut templates: Vec<(u32, u32)> = Vec::with_capacity(ts.len());
    // Per template, the number stream of each of its numbers.
    let mut slots: Vec<(u32, u32)> = Vec::with_capacity(ts.len());
    let mut slot_list: Vec<u32> = Vec::new();
    let mut keys = StreamKeys::default();
    let mut streams: Vec<Vec<u8>> = Vec::new();
    let mut ids: Vec<u32> = Vec::with_capacity(ts.len());
    let mut clock = Clock::default();
    let mut tpl = Template {
        buf: Vec::new(),
        len: 0,
        numbers: Vec::with_capacity(64),
    };
    let mut nums = Vec::with_capacity(64);
    let mut start = 0usize;
    for (i, &end) in ends.iter().enumerate() {
        let line = &lines[start..end as usize];
        nums.clear();
        tokenize(
            lines,
            start,
            line,
            ts[i],
            &mut clock,
            &mut tpl,
            &mut nums,
            &mut out.hex,
        );
        start = end as usize;
        let tpl_bytes = tpl.bytes();
        let mut hasher = FxHasher::default();
        hasher.write(tpl_bytes);
        let mut h = hasher.finish();
        let id = loop {
            match map.get(&h) {
                Some(&id) => {
                    let (s, e) = templates[id as usize];
                    if arena[s as usize..e as usize] == *tpl_bytes {
                        break id;
                    }
                    h = h.wrapping_add(1);
                }
                None => {
                    let id = templates.len() as u32;
                    map.insert(h, id);
                    let s = arena.len() as u32;
                    arena.extend_from_slice(tpl_bytes);
                    templates.push((s, arena.len() as u32));
                    let first = slot_list.len() as u32;
                    for &p in &tpl.numbers {
                        slot_list.push(keys.stream(&tpl_bytes[..p as usize]));
                    }
                    slots.push((first, slot_list.len() as u32));
                    break id;
                }
            }
        };
        ids.push(id);
        if streams.len() < keys.len() {
            streams.resize(keys.len(), Vec::new());
        }
        let (first, last) = slots[id as usize];
        for (&stream, &v) in slot_list[first as usize..last as usize].iter().zip(&nums) {
            put_uvarint(&mut streams[stream as usize], v);
        }
    }
    // Sorted templates sit next to those sharing their first fields, where zstd's
    // repeat offsets find them cheaply.
    let mut order: Vec<u32> = (0..templates.len() as u32).collect();
    let bytes = |t: u32| {
        let (s, e) = templates[t as usize];
        &arena[s as usize..e as usize]
    };
    order.sort_unstable_by(|&a, &b| bytes(a).cmp(bytes(b)));
    let mut rank = vec![0u32; templates.len()];
    put_uvarint(&mut out.dict, templates.len() as u64);
    for (new, &old) in order.iter().enumerate() {
        rank[old as usize] = new as u32;
        put_bytes(&mut out.dict, bytes(old));
    }
    for id in ids {
        put_uvarint(&mut out.ids, u64::from(rank[id as usize]));
    }
    // Streams in key order, which the decoder derives from the templates alone.
    let mut by_key: Vec<(u64, u32)> = keys.map.iter().map(|(&k, &i)| (k, i)).collect();
    by_key.sort_unstable();
    put_uvarint(&mut out.dict, streams.len() as u64);
    out.nums.reserve(streams.iter().map(Vec::len).sum());
    for &(_, i) in &by_key {
        let s = &streams[i as usize];
        put_uvarint(&mut out.dict, s.len() as u64);
        out.nums.extend_from_slice(s);
    }
    out
}

/// The template of the line being tokenized, written by index into a buffer that is
/// never shrunk: short runs are copied as a fixed 16 bytes (no `memcpy` call; most runs
/// between variables are short), the excess overwritten by the next write.
struct Template {
    buf: Vec<u8>,
    len: usize,
    /// Positions of the number placeholders.
    numbers: Vec<u32>,
}

impl Template {
    /// Starts a line of `n` bytes: its template takes at most `2n` bytes (an escaped
    /// byte takes two, every variable at least as many as its placeholder).
    fn reset(&mut self, n: usize) {
        self.len = 0;
        self.numbers.clear();
        if self.buf.len() < 2 * n + 32 {
            self.buf.resize(2 * n + 32, 0);
        }
    }

    fn push(&mut self, b: u8) {
        self.buf[self.len] = b;
        self.len += 1;
    }

    /// Appends `all[from..to]`.
    #[inline]
    fn copy(&mut self, all: &[u8], from: usize, to: usize) {
        let n = to - from;
        if n <= 16 && from + 16 <= all.len() {
            self.buf[self.len..self.len + 16].copy_from_slice(&all[from..from + 16]);
        } else {
            self.buf[self.len..self.len + n].copy_from_slice(&all[from..to]);
        }
        self.len += n;
    }

    fn number(&mut self) {
        self.numbers.push(self.len as u32);
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Assigns number streams by the template text just before a number (its "field
/// name": `"status":`, `user_id=`, `HTTP/1.1" `), so a stream holds one field across
/// templates. Streams are stored in key order, which the decoder derives from the
/// dictionary.
struct StreamKeys {
    map: HashMap<u64, u32, BuildHasherDefault<FxHasher>>,
    /// A direct-mapped cache in front of the map: a chunk has few fields.
    cache: [(u64, u32); 64],
}

impl Default for StreamKeys {
    fn default() -> Self {
        StreamKeys {
            map: HashMap::default(),
            cache: [(0, u32::MAX); 64],
        }
    }
}

/// Template bytes before a number that name its stream.
const KEY_BYTES: usize = 8;

/// The stream key of a number placed after template bytes `before`.
fn stream_key(before: &[u8]) -> u64 {
    let ctx = &before[before.len().saturating_sub(KEY_BYTES)..];
    let mut key = [0u8; 8];
    key[..ctx.len()].copy_from_slice(ctx);
    u64::from_be_bytes(key)
}

impl StreamKeys {
    /// The stream of a number placed after template bytes `before`, numbered in order
    /// of first use while encoding.
    fn stream(&mut self, before: &[u8]) -> u32 {
        let key = stream_key(before);
        let slot = (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) as usize;
        let (k, v) = self.cache[slot];
        if k == key && v != u32::MAX {
            return v;
        }
        let next = self.map.len() as u32;
        let v = *self.map.entry(key).or_insert(next);
        self.cache[slot] = (key, v);
        v
    }

    fn len(&self) -> usize {
        self.map.len()
    }
}

/// Index of the first byte of `line[from..]` that needs attention while tokenizing
/// (an ASCII digit, or 1..=7, which must be escaped), or `line.len()`; eight bytes per
/// step, since most of a line is text copied as is.
#[inline]
fn next_interesting(line: &[u8], mut from: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while from + 8 <= line.len() {
        let mut w = [0u8; 8];
        w.copy_from_slice(&line[from..from + 8]);
        let w = u64::from_le_bytes(w);
        let digits = w ^ (ONES * b'0' as u64);
        // A high bit per byte below 10 (digits) or below 8 (control bytes). Borrows can
        // mark bytes above a true hit, never below, so the lowest mark is exact; it
        // may be a zero byte, which is plain text.
        let hit =
            ((digits.wrapping_sub(ONES * 10) & !digits) | (w.wrapping_sub(ONES * 8) & !w)) & HIGH;
        if hit != 0 {
            let p = from + (hit.trailing_zeros() / 8) as usize;
            if INTERESTING[line[p] as usize] != 0 {
                return p;
            }
            from = p + 1;
            continue;
        }
        from += 8;
    }
    while from < line.len() && INTERESTING[line[from] as usize] == 0 {
        from += 1;
    }
    from
}

/// Digits and placeholder bytes.
static INTERESTING: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = (b as u8).is_ascii_digit() as u8 | (b >= 1 && b <= ESCAPE as usize) as u8;
        b += 1;
    }
    t
};

/// Appends the template of `line` to `tpl`, its numbers to `nums` and its hex ids to
/// `hex`. Text without digits is copied in runs; each word holding a digit (a maximal
/// run of ASCII letters and digits) is examined as a whole. `line` is
/// `all[base..base + line.len()]`: copies may read past the line, not past `all`.
#[allow(clippy::too_many_arguments)]
fn tokenize(
    all: &[u8],
    base: usize,
    line: &[u8],
    ts: i64,
    clock: &mut Clock,
    tpl: &mut Template,
    nums: &mut Vec<u64>,
    hex: &mut Vec<u8>,
) {
    let n = line.len();
    tpl.reset(n);
    let mut i = 0;
    while i < n {
        let d = next_interesting(line, i);
        if d == n {
            tpl.copy(all, base + i, base + n);
            return;
        }
        if !line[d].is_ascii_digit() {
            tpl.copy(all, base + i, base + d);
            tpl.push(ESCAPE);
            tpl.push(line[d]);
            i = d + 1;
            continue;
        }
        // The word around the digit, not reaching back before `i`.
        let mut ws = d;
        while ws > i && CLASS[line[ws - 1] as usize] & ALNUM != 0 {
            ws -= 1;
        }
        tpl.copy(all, base + i, base + ws);
        let mut we = d + 1;
        let mut any = DIGIT;
        while we < n {
            let c = CLASS[line[we] as usize];
            if c & ALNUM == 0 {
                break;
            }
            any |= c;
            we += 1;
        }
        for k in ws..d {
            any |= CLASS[line[k] as usize];
        }
        i = word(all, base, line, ws, we, any, ts, clock, tpl, nums, hex);
    }
}

/// Encodes the word `line[i..j]` (holding a digit; `any` is the union of its byte
/// classes) and returns where tokenizing continues.
#[allow(clippy::too_many_arguments)]
fn word(
    all: &[u8],
    base: usize,
    line: &[u8],
    i: usize,
    j: usize,
    any: u8,
    ts: i64,
    clock: &mut Clock,
    tpl: &mut Template,
    nums: &mut Vec<u64>,
    hex: &mut Vec<u8>,
) -> usize {
    let len = j - i;
    if CLASS[line[i] as usize] & DIGIT != 0 {
        if len == 4 && line.get(j) == Some(&b'-') {
            if let Some(iso) = clock.iso(ts) {
                if line[i..].starts_with(iso) {
                    tpl.push(TS_ISO);
                    return i + ISO_LEN;
                }
            }
        } else if len == 2 && line.get(j) == Some(&b'/') {
            if let Some(clf) = clock.clf(ts) {
                if line[i..].starts_with(clf) {
                    tpl.push(TS_CLF);
                    return i + CLF_LEN;
                }
            }
        }
    }
    if (MIN_HEX..=255).contains(&len) {
        // Every byte a hex digit of one case, with at least one letter.
        let case = if any & HEX_LC != 0 && any & HEX_UC == 0 && all_hex(&line[i..j], HEX_LC) {
            Some(HEX_LOWER)
        } else if any & HEX_UC != 0 && any & HEX_LC == 0 && all_hex(&line[i..j], HEX_UC) {
            Some(HEX_UPPER)
        } else {
            None
        };
        if let Some(case) = case {
            tpl.push(case);
            tpl.push(len as u8);
            pack_hex(&line[i..j], hex);
            return j;
        }
    }
    // Digit runs inside the word are numbers, the rest is template text.
    let mut k = i;
    while k < j {
        let mut e = k + 1;
        if line[k].is_ascii_digit() {
            while e < j && line[e].is_ascii_digit() {
                e += 1;
            }
            let digits = &line[k..e];
            if digits.len() <= MAX_DIGITS {
                let mut v = 0u64;
                for &d in digits {
                    v = v * 10 + u64::from(d - b'0');
                }
                nums.push(v);
                tpl.number();
                if digits[0] == b'0' && digits.len() > 1 {
                    tpl.push(DEC_PAD);
                    tpl.push(digits.len() as u8);
                } else {
                    tpl.push(DEC);
                }
            } else {
                tpl.copy(all, base + k, base + e);
            }
        } else {
            while e < j && !line[e].is_ascii_digit() {
                e += 1;
            }
            tpl.copy(all, base + k, base + e);
        }
        k = e;
    }
    j
}

/// Whether every byte of `word` (ASCII letters and digits) is a digit or a hex letter
/// of class `case`.
fn all_hex(word: &[u8], case: u8) -> bool {
    word.iter()
        .all(|&b| CLASS[b as usize] & (DIGIT | case) != 0)
}

fn pack_hex(word: &[u8], out: &mut Vec<u8>) {
    let mut pairs = word.chunks_exact(2);
    for p in &mut pairs {
        out.push(NIBBLE[p[0] as usize] << 4 | NIBBLE[p[1] as usize]);
    }
    if let [last] = pairs.remainder() {
        out.push(NIBBLE[*last as usize] << 4);
    }
}

/// The parsed dictionary: templates stay where they are in the dictionary column and
/// are interpreted per line (most are used once or a few times, so compiling them would
/// cost more than it saves); only the number streams of their numbers are resolved.
struct Dictionary {
    /// Per template: its byte range in the dictionary, its first entry in `numbers`
    /// and its range in `specials`.
    templates: Vec<(u32, u32, u32, u32, u32)>,
    /// Positions of the placeholder bytes of each template (so decoding jumps from one
    /// to the next instead of scanning).
    specials: Vec<u32>,
    /// The number stream of each number of each template.
    numbers: Vec<u32>,
    /// Per number stream: current position and end in the number column.
    slots: Vec<(usize, usize)>,
}

/// Index of the first placeholder byte (1..=7) in `t[from..]`, or `t.len()`; eight
/// bytes per step.
#[inline]
fn next_special(t: &[u8], mut from: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while from + 8 <= t.len() {
        let mut w = [0u8; 8];
        w.copy_from_slice(&t[from..from + 8]);
        let w = u64::from_le_bytes(w);
        // High bit set in bytes below 8; the lowest is exact (see next_interesting),
        // and may be a zero byte, which is plain text.
        let hit = w.wrapping_sub(ONES * 8) & !w & HIGH;
        if hit != 0 {
            let p = from + (hit.trailing_zeros() / 8) as usize;
            if (1..=ESCAPE).contains(&t[p]) {
                return p;
            }
            from = p + 1;
            continue;
        }
        from += 8;
    }
    while from < t.len() && !(1..=ESCAPE).contains(&t[from]) {
        from += 1;
    }
    from
}

fn parse_dict(dict: &[u8], nums_len: usize) -> Result<Dictionary, ChunkError> {
    let bad = |_| ChunkError("template dictionary truncated");
    let mut r = Reader::new(dict);
    let count = r.count().map_err(bad)?;
    let mut d = Dictionary {
        templates: Vec::with_capacity(count),
        specials: Vec::new(),
        numbers: Vec::new(),
        slots: Vec::new(),
    };
    // The key of every number, in template order.
    let mut keys: Vec<u64> = Vec::new();
    for _ in 0..count {
        let start = dict.len() - r.remaining();
        let tpl = r.len_bytes().map_err(bad)?;
        let start = start + (dict.len() - r.remaining() - start - tpl.len());
        let first = keys.len() as u32;
        let first_special = d.specials.len() as u32;
        let mut k = next_special(tpl, 0);
        while k < tpl.len() {
            d.specials.push(k as u32);
            let b = tpl[k];
            let arg = tpl.get(k + 1).copied();
            match b {
                DEC => keys.push(stream_key(&tpl[..k])),
                DEC_PAD => {
                    if !arg.is_some_and(|w| (2..=MAX_DIGITS as u8).contains(&w)) {
                        return Err(ChunkError("bad number width in a template"));
                    }
                    keys.push(stream_key(&tpl[..k]));
                    k += 1;
                }
                HEX_LOWER | HEX_UPPER => {
                    if arg.is_none_or(|n| n == 0) {
                        return Err(ChunkError("bad hex variable in a template"));
                    }
                    k += 1;
                }
                ESCAPE => {
                    if arg.is_none() {
                        return Err(ChunkError("template truncated"));
                    }
                    k += 1;
                }
                _ => {}
            }
            k = next_special(tpl, k + 1);
        }
        d.templates.push((
            start as u32,
            (start + tpl.len()) as u32,
            first,
            first_special,
            d.specials.len() as u32,
        ));
    }
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    sorted.dedup();
    d.numbers = keys
        .iter()
        .map(|k| sorted.binary_search(k).unwrap_or_default() as u32)
        .collect();
    let streams = r.count().map_err(bad)?;
    if streams != sorted.len() {
        return Err(ChunkError("number stream count differs from the templates"));
    }
    let mut at = 0usize;
    for _ in 0..streams {
        let len = usize::try_from(r.uvarint().map_err(bad)?).unwrap_or(usize::MAX);
        let end = at
            .checked_add(len)
            .filter(|&e| e <= nums_len)
            .ok_or(ChunkError("number streams exceed the number column"))?;
        d.slots.push((at, end));
        at = end;
    }
    if !r.is_empty() || at != nums_len {
        return Err(ChunkError("number streams do not cover the number column"));
    }
    Ok(d)
}

/// Both characters of every packed hex byte, lower and upper case.
static HEX_PAIRS: [[[u8; 2]; 256]; 2] = {
    let mut t = [[[0u8; 2]; 256]; 2];
    let digits = [b"0123456789abcdef", b"0123456789ABCDEF"];
    let mut case = 0;
    while case < 2 {
        let mut b = 0;
        while b < 256 {
            t[case][b] = [digits[case][b >> 4], digits[case][b & 15]];
            b += 1;
        }
        case += 1;
    }
    t
};

/// Bytes the output buffer and the dictionary copy hold beyond their content, so short
/// copies can move a fixed 32 bytes (one or two vector moves, no `memcpy` call) and
/// let the next write overwrite the excess.
const SLACK: usize = 64;
const SHORT: usize = 32;

/// Rebuilds the lines: all of them back to back (exactly `raw_len` bytes) and the end
/// offset of each. Validates everything; never panics on bad input.
pub(crate) fn decode(
    ts: &[i64],
    cols: &EncodedLines,
    raw_len: usize,
) -> Result<(Vec<u8>, Vec<u32>), ChunkError> {
    const BAD_TS: ChunkError = ChunkError("timestamp variable outside years 0..=9999");
    const OVERFLOW: ChunkError = ChunkError("lines exceed their declared size");
    let mut d = parse_dict(&cols.dict, cols.nums.len())?;
    // Over-copies read up to SHORT bytes past a template's end.
    let mut dict = Vec::with_capacity(cols.dict.len() + SLACK);
    dict.extend_from_slice(&cols.dict);
    dict.resize(cols.dict.len() + SLACK, 0);
    let nums = cols.nums.as_slice();
    let hex = cols.hex.as_slice();
    let mut hex_at = 0usize;
    let mut out = vec![0u8; raw_len + SLACK];
    let mut pos = 0usize;
    let mut ends = Vec::with_capacity(ts.len());
    let mut ids = 0usize;
    let mut clock = Clock::default();
    for &t in ts {
        let id =
            read_uvarint(&cols.ids, &mut ids).ok_or(ChunkError("template id column truncated"))?;
        let &(start, end, first, mut special, specials_end) = d
            .templates
            .get(usize::try_from(id).unwrap_or(usize::MAX))
            .ok_or(ChunkError("unknown template id"))?;
        let (start, end) = (start as usize, end as usize);
        let tpl = &dict[start..end];
        let mut number = first as usize;
        let mut k = 0;
        loop {
            // Literal run up to the next placeholder.
            let e = if special < specials_end {
                d.specials[special as usize] as usize
            } else {
                tpl.len()
            };
            special += 1;
            let len = e - k;
            if pos + len > raw_len {
                return Err(OVERFLOW);
            }
            if len <= SHORT {
                out[pos..pos + SHORT].copy_from_slice(&dict[start + k..start + k + SHORT]);
            } else {
                out[pos..pos + len].copy_from_slice(&tpl[k..e]);
            }
            pos += len;
            if e == tpl.len() {
                break;
            }
            // Every placeholder writes at most SHORT bytes unless checked below; the
            // dictionary was validated by parse_dict, so arguments are present.
            let arg = tpl.get(e + 1).copied().unwrap_or_default();
            k = e + 1;
            match tpl[e] {
                DEC | DEC_PAD => {
                    let width = if tpl[e] == DEC { 0 } else { arg };
                    k += usize::from(width > 0);
                    let stream = d.numbers[number] as usize;
                    number += 1;
                    let (at, end) = &mut d.slots[stream];
                    let v = read_uvarint(&nums[..*end], at)
                        .ok_or(ChunkError("number stream truncated"))?;
                    pos = put_decimal(&mut out, pos, v, width)?;
                }
                HEX_LOWER | HEX_UPPER => {
                    k += 1;
                    let n = usize::from(arg);
                    if pos + n > raw_len {
                        return Err(OVERFLOW);
                    }
                    let bytes = n.div_ceil(2);
                    let packed = hex
                        .get(hex_at..hex_at + bytes)
                        .ok_or(ChunkError("hex column truncated"))?;
                    hex_at += bytes;
                    let pairs = &HEX_PAIRS[usize::from(tpl[e] == HEX_UPPER)];
                    // Odd lengths write one character too many, overwritten next.
                    for (j, &p) in packed.iter().enumerate() {
                        out[pos + 2 * j..pos + 2 * j + 2].copy_from_slice(&pairs[usize::from(p)]);
                    }
                    if n % 2 == 1 && packed[bytes - 1] & 15 != 0 {
                        return Err(ChunkError("bad padding in the hex column"));
                    }
                    pos += n;
                }
                TS_ISO => {
                    out[pos..pos + ISO_LEN].copy_from_slice(clock.iso(t).ok_or(BAD_TS)?);
                    pos += ISO_LEN;
                }
                TS_CLF => {
                    out[pos..pos + CLF_LEN].copy_from_slice(clock.clf(t).ok_or(BAD_TS)?);
                    pos += CLF_LEN;
                }
                _ => {
                    // ESCAPE: the next byte is literal.
                    out[pos] = arg;
                    pos += 1;
                    k += 1;
                }
            }
            if pos > raw_len {
                return Err(OVERFLOW);
            }
        }
        ends.push(pos as u32);
    }
    if pos != raw_len {
        return Err(ChunkError("lines differ from their declared size"));
    }
    if ids != cols.ids.len() || hex_at != hex.len() || d.slots.iter().any(|(p, e)| p != e) {
        return Err(ChunkError("trailing bytes in a line column"));
    }
    out.truncate(raw_len);
    Ok((out, ends))
}

/// Reads a uvarint at `*pos` of `buf` and advances `pos`; `None` when truncated or
/// longer than ten bytes.
#[inline]
fn read_uvarint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    let mut shift = 0u32;
    loop {
        let b = *buf.get(*pos)?;
        *pos += 1;
        if shift == 63 && b > 1 {
            return None;
        }
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
}

/// Writes `v` in decimal at `out[pos..]`, zero-padded to `width` digits when
/// `width > 0`; returns the position after it. `out` has at least [`SHORT`] bytes from
/// `pos`.
fn put_decimal(out: &mut [u8], pos: usize, v: u64, width: u8) -> Result<usize, ChunkError> {
    let mut digits = 1;
    let mut p = 10u64;
    while v >= p {
        digits += 1;
        if digits > MAX_DIGITS {
            return Err(ChunkError("number wider than 19 digits"));
        }
        p = p.saturating_mul(10);
    }
    let mut at = pos;
    if width > 0 {
        let width = usize::from(width);
        if digits >= width {
            return Err(ChunkError("padded number has no leading zero"));
        }
        out[at..at + width - digits].fill(b'0');
        at += width - digits;
    }
    let end = at + digits;
    // Two digits per division, from a table.
    let mut v = v;
    let mut p = end;
    while v >= 100 {
        let r = (v % 100) as usize;
        v /= 100;
        p -= 2;
        out[p..p + 2].copy_from_slice(&PAIRS[2 * r..2 * r + 2]);
    }
    if v >= 10 {
        out[p - 2..p].copy_from_slice(&PAIRS[2 * v as usize..2 * v as usize + 2]);
    } else {
        out[p - 1] = b'0' + v as u8;
    }
    Ok(end)
}

/// "00", "01", ... "99".
static PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

#[cfg(test)]
mod tests;
