import Glibc

/// Which pack holds a blob of the previous set, by the blob's SHA-256, without holding every blob in
/// memory: a sorted file of fixed 36-byte records (32-byte hash, 4-byte pack number) in the staging
/// directory, searched by `pread`.
///
/// It is built from the previous set's index in two passes that hold little: the records are spread
/// into 256 bucket files by their first byte, then each bucket (a 256th of them) is sorted in memory
/// and appended to the sorted file, whose bucket offsets are kept. So memory is a 256th of the blob
/// count at most, 1.4 MB at ten million files.
final class BlobLookup {
    static let recordSize = 36

    private let descriptor: Int32
    private let path: String
    private var buckets: [(start: Int, count: Int)] = []
    private(set) var packs: [String] = []
    private(set) var count = 0

    /// Reads every file record of `index` (from its current position to its end).
    init(index: IndexFile.Reader, staging: String) throws {
        path = staging + "/.blob-lookup"
        var packNumbers: [String: UInt32] = [:]
        var bucketFiles: [BucketFile] = []
        defer { for file in bucketFiles { file.remove() } }
        for bucket in 0..<256 { bucketFiles.append(try BucketFile(path: "\(path)-\(bucket)")) }
        while let record = try index.next() {
            guard record.kind == .file, let hash = record.hash, let pack = record.pack, let bytes = Self.hashBytes(hash) else { continue }
            let number: UInt32
            if let known = packNumbers[pack] {
                number = known
            } else {
                number = UInt32(packs.count)
                packNumbers[pack] = number
                packs.append(pack)
            }
            var entry = bytes
            withUnsafeBytes(of: number.littleEndian) { entry += $0 }
            try bucketFiles[Int(bytes[0])].append(entry)
        }
        descriptor = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw fileSystemError("cannot create", path) }
        unlink(path)
        var offset = 0
        for file in bucketFiles {
            let records = try file.sortedUniqueRecords()
            try records.withUnsafeBytes { try writeAll(descriptor, $0, path: path) }
            let recordCount = records.count / Self.recordSize
            buckets.append((offset, recordCount))
            offset += recordCount
        }
        count = offset
    }

    deinit { close(descriptor) }

    /// The pack that holds the blob `hash`, or nil.
    func pack(of hash: String) throws -> String? {
        guard let wanted = Self.hashBytes(hash) else { return nil }
        let (start, count) = buckets[Int(wanted[0])]
        var low = start, high = start + count
        var record = [UInt8](repeating: 0, count: Self.recordSize)
        while low < high {
            let middle = (low + high) / 2
            let read = record.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress!, Self.recordSize, off_t(middle * Self.recordSize)) }
            guard read == Self.recordSize else { throw fileSystemError("cannot read", path) }
            let order = Self.compare(record, wanted)
            if order == 0 {
                let number = record.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 32, as: UInt32.self)) }
                return packs[Int(number)]
            }
            if order < 0 { low = middle + 1 } else { high = middle }
        }
        return nil
    }

    private static func compare(_ record: [UInt8], _ hash: [UInt8]) -> Int {
        for index in 0..<32 where record[index] != hash[index] {
            return Int(record[index]) - Int(hash[index])
        }
        return 0
    }

    /// The 32 bytes of a 64-digit lower-case hex hash, or nil.
    static func hashBytes(_ hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count == 64 else { return nil }
        var bytes = [UInt8](repeating: 0, count: 32)
        for index in 0..<32 {
            guard let high = nibble(digits[2 * index]), let low = nibble(digits[2 * index + 1]) else { return nil }
            bytes[index] = high << 4 | low
        }
        return bytes
    }

    private static func nibble(_ digit: UInt8) -> UInt8? {
        switch digit {
        case 48...57: digit - 48
        case 97...102: digit - 87
        default: nil
        }
    }

    /// One bucket's records, buffered and appended to a temporary file.
    private final class BucketFile {
        let path: String
        private let descriptor: Int32
        private var buffer: [UInt8] = []

        init(path: String) throws {
            self.path = path
            descriptor = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else { throw fileSystemError("cannot create", path) }
        }

        func append(_ record: [UInt8]) throws {
            buffer += record
            if buffer.count >= 16 * 1024 { try flush() }
        }

        private func flush() throws {
            try buffer.withUnsafeBytes { try writeAll(descriptor, $0, path: path) }
            buffer.removeAll(keepingCapacity: true)
        }

        /// The bucket's records sorted by hash, each hash once.
        func sortedUniqueRecords() throws -> [UInt8] {
            try flush()
            let size = Int(lseek(descriptor, 0, SEEK_END))
            var bytes = [UInt8](repeating: 0, count: size)
            var done = 0
            while done < size {
                let read = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + done, size - done, off_t(done)) }
                if read < 0 { if errno == EINTR { continue }; throw fileSystemError("cannot read", path) }
                if read == 0 { break }
                done += read
            }
            let recordCount = size / BlobLookup.recordSize
            var order = Array(0..<recordCount)
            bytes.withUnsafeBytes { raw in
                order.sort { a, b in
                    memcmp(raw.baseAddress! + a * BlobLookup.recordSize, raw.baseAddress! + b * BlobLookup.recordSize, 32) < 0
                }
            }
            var sorted: [UInt8] = []
            sorted.reserveCapacity(size)
            var last: ArraySlice<UInt8>?
            for index in order {
                let record = bytes[(index * BlobLookup.recordSize)..<((index + 1) * BlobLookup.recordSize)]
                if let last, last.prefix(32).elementsEqual(record.prefix(32)) { continue }
                sorted += record
                last = record
            }
            return sorted
        }

        func remove() {
            close(descriptor)
            unlink(path)
        }
    }
}
