import CDeflate

/// The size and CRC-32 of bytes as they pass: the staged file's read-back compares them with the same
/// figures taken as the file was written. CRC-32 runs at memory speed (libdeflate's carry-less multiply),
/// where a second SHA-256 would cost about half a second a gigabyte; the SHA-256 in the manifest is taken
/// once, on the bytes written, and `backupctl verify` checks it against the stored file.
struct CRC32Accumulator: Equatable, Sendable {
    private(set) var crc: UInt32 = 0
    private(set) var count: Int64 = 0

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        crc = libdeflate_crc32(crc, base, bytes.count)
        count += Int64(bytes.count)
    }
}
