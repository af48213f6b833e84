//! The two timestamp spellings the line codec recognizes inside lines, formatted from an
//! entry's own timestamp: most log lines repeat their entry's time, which then costs no
//! bytes at all when the spelling matches exactly.

/// ISO-8601 UTC with milliseconds: `2026-11-25T10:46:28.013Z` (24 bytes).
pub(crate) const ISO_LEN: usize = 24;
/// Common Log Format (nginx, Apache): `25/Nov/2026:10:46:28 +0000` (26 bytes).
pub(crate) const CLF_LEN: usize = 26;

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Formats timestamps, caching the last second: consecutive entries share it, so a chunk
/// pays for the calendar arithmetic about once per second of data.
#[derive(Debug)]
pub(crate) struct Clock {
    sec: i64,
    /// Civil fields of `sec`, or `None` when its year has no four-digit spelling.
    civil: Option<Civil>,
    iso: [u8; ISO_LEN],
    clf: [u8; CLF_LEN],
}

#[derive(Debug, Clone, Copy)]
struct Civil {
    year: u32,
    month: u32,
    day: u32,
    hour: u32,
    min: u32,
    sec: u32,
}

impl Default for Clock {
    fn default() -> Self {
        Clock {
            sec: i64::MIN,
            civil: None,
            iso: [0; ISO_LEN],
            clf: [0; CLF_LEN],
        }
    }
}

fn put2(out: &mut [u8], v: u32) {
    out[0] = b'0' + (v / 10) as u8;
    out[1] = b'0' + (v % 10) as u8;
}

fn put4(out: &mut [u8], v: u32) {
    put2(out, v / 100);
    put2(&mut out[2..], v % 100);
}

impl Clock {
    fn set_second(&mut self, sec: i64) {
        if sec == self.sec {
            return;
        }
        self.sec = sec;
        self.civil = civil(sec);
        let Some(c) = self.civil else {
            return;
        };
        let iso = &mut self.iso;
        put4(iso, c.year);
        iso[4] = b'-';
        put2(&mut iso[5..], c.month);
        iso[7] = b'-';
        put2(&mut iso[8..], c.day);
        iso[10] = b'T';
        put2(&mut iso[11..], c.hour);
        iso[13] = b':';
        put2(&mut iso[14..], c.min);
        iso[16] = b':';
        put2(&mut iso[17..], c.sec);
        iso[19] = b'.';
        iso[23] = b'Z';
        let clf = &mut self.clf;
        put2(clf, c.day);
        clf[2] = b'/';
        clf[3..6].copy_from_slice(MONTHS[c.month as usize - 1]);
        clf[6] = b'/';
        put4(&mut clf[7..], c.year);
        clf[11] = b':';
        put2(&mut clf[12..], c.hour);
        clf[14] = b':';
        put2(&mut clf[15..], c.min);
        clf[17] = b':';
        put2(&mut clf[18..], c.sec);
        clf[20..].copy_from_slice(b" +0000");
    }

    /// `ts_ns` as ISO-8601 with milliseconds, or `None` outside years 0..=9999.
    pub(crate) fn iso(&mut self, ts_ns: i64) -> Option<&[u8; ISO_LEN]> {
        self.set_second(ts_ns.div_euclid(1_000_000_000));
        self.civil?;
        let ms = ts_ns.div_euclid(1_000_000).rem_euclid(1000) as u32;
        self.iso[20] = b'0' + (ms / 100) as u8;
        put2(&mut self.iso[21..], ms % 100);
        Some(&self.iso)
    }

    /// `ts_ns` in Common Log Format (seconds, UTC), or `None` outside years 0..=9999.
    pub(crate) fn clf(&mut self, ts_ns: i64) -> Option<&[u8; CLF_LEN]> {
        self.set_second(ts_ns.div_euclid(1_000_000_000));
        self.civil?;
        Some(&self.clf)
    }
}

/// Unix seconds to civil UTC fields (Howard Hinnant's `civil_from_days`).
fn civil(sec: i64) -> Option<Civil> {
    let days = sec.div_euclid(86_400);
    let rem = sec.rem_euclid(86_400) as u32;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    if !(0..=9999).contains(&year) {
        return None;
    }
    Some(Civil {
        year: year as u32,
        month,
        day,
        hour: rem / 3600,
        min: rem / 60 % 60,
        sec: rem % 60,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        let mut c = Clock::default();
        // 2026-11-25T10:46:28.013Z
        let ts = 1_795_000_000_000_000_000 - 1_000_000 * 987;
        let sec = 1_794_999_999;
        assert_eq!(
            std::str::from_utf8(c.iso(ts).unwrap()).unwrap(),
            format_iso_reference(sec, 13)
        );
        assert_eq!(c.iso(0).unwrap(), b"1970-01-01T00:00:00.000Z");
        assert_eq!(c.clf(0).unwrap(), b"01/Jan/1970:00:00:00 +0000");
        assert_eq!(c.iso(-1).unwrap(), b"1969-12-31T23:59:59.999Z");
        assert_eq!(
            c.clf(951_782_400_000_000_000).unwrap(),
            b"29/Feb/2000:00:00:00 +0000"
        );
        // Nanosecond timestamps span 1677..2262: always spelled.
        assert_eq!(&c.iso(i64::MIN).unwrap()[..4], b"1677");
        assert_eq!(&c.iso(i64::MAX).unwrap()[..4], b"2262");
    }

    /// An independent (slow) reference: walk days from 1970.
    fn format_iso_reference(sec: i64, ms: u32) -> String {
        let mut days = sec / 86_400;
        let rem = sec % 86_400;
        let mut year = 1970;
        loop {
            let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
            let len = if leap { 366 } else { 365 };
            if days < len {
                let lens = [
                    31,
                    if leap { 29 } else { 28 },
                    31,
                    30,
                    31,
                    30,
                    31,
                    31,
                    30,
                    31,
                    30,
                    31,
                ];
                let mut month = 0;
                while days >= lens[month] {
                    days -= lens[month];
                    month += 1;
                }
                return format!(
                    "{year:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{ms:03}Z",
                    month + 1,
                    days + 1,
                    rem / 3600,
                    rem / 60 % 60,
                    rem % 60
                );
            }
            days -= len;
            year += 1;
        }
    }

    #[test]
    fn agrees_with_the_reference() {
        let mut c = Clock::default();
        for sec in (0..4_000_000_000i64).step_by(86_400 * 37 + 3_601) {
            let ts = sec * 1_000_000_000 + 123_456_789;
            assert_eq!(
                std::str::from_utf8(c.iso(ts).unwrap()).unwrap(),
                format_iso_reference(sec, 123)
            );
        }
    }
}
