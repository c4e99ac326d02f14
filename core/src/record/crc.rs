//! Checksums: CRC-32C (Castagnoli) for record batches, CRC-32 (IEEE) for legacy messages.
//!
//! The table form is chosen by feature: the default 256-entry table costs 1 KiB
//! of flash, right for most microcontrollers; `crc-small` computes bit by bit
//! with no table, for firmware where that kilobyte matters more than speed;
//! `crc-slice16` trades 16 KiB for several times the speed on hosts.

use crc::{Crc, CRC_32_ISCSI, CRC_32_ISO_HDLC};

#[cfg(feature = "crc-slice16")]
type Table = crc::Table<16>;
#[cfg(all(feature = "crc-small", not(feature = "crc-slice16")))]
type Table = crc::NoTable;
#[cfg(not(any(feature = "crc-small", feature = "crc-slice16")))]
type Table = crc::Table<1>;

const CASTAGNOLI: Crc<u32, Table> = Crc::<u32, Table>::new(&CRC_32_ISCSI);
const IEEE: Crc<u32, Table> = Crc::<u32, Table>::new(&CRC_32_ISO_HDLC);

/// CRC-32C (Castagnoli) of `data`, as stored in magic-2 record batches.
pub fn crc32c(data: &[u8]) -> u32 {
    CASTAGNOLI.checksum(data)
}

/// CRC-32 (IEEE 802.3) of `data`, as stored in magic-0/1 messages.
pub fn crc32_ieee(data: &[u8]) -> u32 {
    IEEE.checksum(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_values_from_the_crc_catalogue() {
        // The standard "123456789" check values.
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(crc32_ieee(b"123456789"), 0xcbf4_3926);
        // RFC 3720 (iSCSI) B.4: 32 bytes of zeros.
        assert_eq!(crc32c(&[0u8; 32]), 0x8a91_36aa);
        assert_eq!(crc32c(&[0xffu8; 32]), 0x62a8_ab43);
    }
}
