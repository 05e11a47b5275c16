//! Numbers as text without `core::fmt`: entity tags, resource tags and document records are
//! written for every member of a listing and for every PUT, where `format!` with a width cost
//! more than the rest of the text together.

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `value` in lower-case hexadecimal, at least `width` digits (zeros in front; at
/// most 32 are ever needed): `{value:0width$x}`.
pub fn push_hex(out: &mut String, value: u128, width: usize) {
    let mut digits = [b'0'; 32];
    let mut start = digits.len();
    // Inodes, lengths and times fit in 64 bits: u128 shifts cost twice as much per digit.
    match u64::try_from(value) {
        Ok(mut rest) => loop {
            start -= 1;
            digits[start] = HEX[(rest & 0xf) as usize];
            rest >>= 4;
            if rest == 0 {
                break;
            }
        },
        Err(_) => {
            let mut rest = value;
            loop {
                start -= 1;
                digits[start] = HEX[(rest & 0xf) as usize];
                rest >>= 4;
                if rest == 0 {
                    break;
                }
            }
        }
    }
    push_ascii(out, &digits, start, width);
}

/// Appends `value` in decimal, at least `width` digits (zeros in front; at most 20 are ever
/// needed): `{value:0width$}`.
pub fn push_decimal(out: &mut String, value: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut start = digits.len();
    let mut rest = value;
    loop {
        start -= 1;
        // `rest % 10` is below 10, so the cast never truncates.
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    push_ascii(out, &digits, start, width);
}

/// The digits from `start`, or from earlier (zeros) to make `width`.
fn push_ascii(out: &mut String, digits: &[u8], start: usize, width: usize) {
    let start = start.min(digits.len().saturating_sub(width));
    // Only ASCII digits and zeros were written.
    out.push_str(std::str::from_utf8(&digits[start..]).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn they_write_what_format_writes() {
        let values = [
            0u128,
            1,
            9,
            10,
            15,
            16,
            255,
            4096,
            u128::from(u32::MAX),
            u128::from(u64::MAX) - 1,
            u128::from(u64::MAX),
            u128::from(u64::MAX) + 1,
            0x93DA_E904_C4AE_4B5F_A7F6_BDF4_FAAC_EF5F,
            u128::MAX,
        ];
        for value in values {
            for width in [0, 1, 11, 32] {
                let mut hex = String::new();
                push_hex(&mut hex, value, width);
                assert_eq!(hex, format!("{value:0width$x}"));
                if let Ok(small) = u64::try_from(value) {
                    let mut decimal = String::from("x");
                    push_decimal(&mut decimal, small, width.min(20));
                    assert_eq!(decimal, format!("x{small:0w$}", w = width.min(20)));
                }
            }
        }
    }
}
