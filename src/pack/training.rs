//! Training a pack's zstd dictionary from the first objects written to it.
//!
//! zstd's default trainer (`ZDICT_trainFromBuffer`) runs fastCover four times, once for each
//! segment size `k` it tries, and keeps the best: about 85-125 ms on 1 MiB of samples here,
//! paid by the writer in the middle of a commit. One run with `k` = 128 takes 14-17 ms, and
//! its dictionaries did as well on the documents measured: 640-byte blocks of package
//! records of about 150 bytes took 34.62 bytes a document against 34.85, and of records
//! four times larger 136.2 against 136.9; whole 1M-document stores of two such record sets
//! took 109.36 and 109.28 bytes a document against 109.29 and 109.45. (The size swings by
//! a few tenths of a byte between nearby `k`, with no trend below 300; larger `k` did worse
//! on the stores.) So settee runs fastCover once, with the parameters below.
//!
//! Invariant: the result, when there is one, is a dictionary zstd accepts (it starts with
//! the dictionary magic) of at most `capacity` bytes.

use zstd::zstd_safe::zstd_sys;

/// Segment size, in bytes.
const SEGMENT: u32 = 128;
/// Length of the d-mers compared, in bytes (zstd's default).
const DMER: u32 = 8;
/// Log2 of the frequency table's size (zstd's default).
const FREQUENCY_LOG: u32 = 20;
/// The entropy tables are tuned for the level blocks are compressed at.
const LEVEL: i32 = super::frame::LEVEL;

/// A dictionary of at most `capacity` bytes trained on `samples` (the concatenated
/// samples, `sizes` long each), or `None` if zstd cannot make one (too few or too small
/// samples).
pub fn train(samples: &[u8], sizes: &[usize], capacity: usize) -> Option<Vec<u8>> {
    if sizes.iter().sum::<usize>() != samples.len() {
        return None;
    }
    let count = u32::try_from(sizes.len()).ok()?;
    // SAFETY: the parameter struct is plain data, for which all zeros means "default".
    let mut params: zstd_sys::ZDICT_fastCover_params_t = unsafe { std::mem::zeroed() };
    params.k = SEGMENT;
    params.d = DMER;
    params.f = FREQUENCY_LOG;
    params.zParams.compressionLevel = LEVEL;
    let mut dictionary = vec![0u8; capacity];
    // SAFETY: `dictionary` is writable for `capacity` bytes, `samples` readable for the sum
    // of `sizes` (checked above), and `sizes` holds `count` lengths.
    let written = unsafe {
        zstd_sys::ZDICT_trainFromBuffer_fastCover(
            dictionary.as_mut_ptr().cast(),
            dictionary.len(),
            samples.as_ptr().cast(),
            sizes.as_ptr(),
            count,
            params,
        )
    };
    // SAFETY: a pure function of its argument.
    if unsafe { zstd_sys::ZDICT_isError(written) } != 0 || written > capacity {
        return None;
    }
    dictionary.truncate(written);
    Some(dictionary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(n: usize) -> (Vec<u8>, Vec<usize>) {
        let (mut samples, mut sizes) = (Vec::new(), Vec::new());
        for i in 0..n {
            let record = format!(
                r#"{{"name":"package-{i}","version":"{}.{}.{}","description":"A library for parsing things, number {i}"}}"#,
                i % 7,
                i % 13,
                i % 5
            );
            samples.extend_from_slice(record.as_bytes());
            sizes.push(record.len());
        }
        (samples, sizes)
    }

    /// A trained dictionary is one zstd takes, and it makes small records smaller than
    /// compressing them alone does.
    #[test]
    fn a_trained_dictionary_compresses_small_records_better() {
        let (samples, sizes) = records(8000);
        let dictionary = train(&samples, &sizes, 16 << 10).expect("enough samples to train");
        assert!(dictionary.len() <= 16 << 10);
        assert_eq!(dictionary.get(..4), Some(&[0x37, 0xA4, 0x30, 0xEC][..]), "the dictionary magic");
        let block = &samples[..sizes[..4].iter().sum()];
        let plain = zstd::bulk::compress(block, LEVEL).unwrap().len();
        let with =
            zstd::bulk::Compressor::with_dictionary(LEVEL, &dictionary).unwrap().compress(block).unwrap();
        assert!(with.len() * 2 < plain, "{} bytes with the dictionary, {plain} without", with.len());
        let back = zstd::bulk::Decompressor::with_dictionary(&dictionary)
            .unwrap()
            .decompress(&with, block.len())
            .unwrap();
        assert_eq!(back, block);
    }

    #[test]
    fn too_few_samples_or_inconsistent_sizes_give_none() {
        let (samples, sizes) = records(3);
        assert_eq!(train(&samples, &sizes, 16 << 10), None);
        let (samples, mut sizes) = records(8000);
        sizes.pop();
        assert_eq!(train(&samples, &sizes, 16 << 10), None, "sizes must cover the samples");
    }
}
