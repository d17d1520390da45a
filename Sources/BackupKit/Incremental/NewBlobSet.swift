import Glibc

/// The blobs one run has stored so far, by hash, to the number of their pack, in bounded memory: up
/// to ``memoryLimit`` entries in a dictionary; past it they are sorted and spilled to a run file in the
/// staging directory, with a Bloom filter per run in memory (10 bits an entry: a lookup of an absent
/// hash reads a run about one time in a hundred). When ``maximumRuns`` runs exist they are merged into
/// one, so a lookup searches a few sorted files at most. At ten million new files that is about 12 MB of
/// filters instead of 700 MB of dictionary.
final class NewBlobSet {
    static let recordSize = 36

    private var memory: [BlobHash: Int32] = [:]
    private var runs: [Run] = []
    private let staging: String
    let memoryLimit: Int
    let maximumRuns: Int
    private var runNumber = 0

    init(staging: String, memoryLimit: Int = 100_000, maximumRuns: Int = 6) {
        self.staging = staging
        self.memoryLimit = memoryLimit
        self.maximumRuns = maximumRuns
    }

    deinit { for run in runs { run.remove() } }

    var count: Int { memory.count + runs.reduce(0) { $0 + $1.count } }
    var spilledRuns: Int { runs.count }

    func insert(_ hash: BlobHash, pack: Int32) throws {
        memory[hash] = pack
        if memory.count >= memoryLimit { try spill() }
    }

    func pack(of hash: BlobHash) throws -> Int32? {
        if let pack = memory[hash] { return pack }
        for run in runs.reversed() where run.mayHold(hash) {
            if let pack = try run.find(hash) { return pack }
        }
        return nil
    }

    private func spill() throws {
        let sorted = memory.sorted { $0.key < $1.key }
        memory.removeAll(keepingCapacity: true)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(sorted.count * Self.recordSize)
        for (hash, pack) in sorted { hash.append(to: &bytes, pack: pack) }
        runs.append(try Run(path: nextPath(), records: bytes, count: sorted.count))
        if runs.count >= maximumRuns { try mergeRuns() }
    }

    /// Merges every run into one: a streaming merge of sorted files, one record of each in memory.
    private func mergeRuns() throws {
        let total = runs.reduce(0) { $0 + $1.count }
        let merged = try Run.Builder(path: nextPath(), expected: total)
        var cursors = runs.map { Cursor(run: $0) }
        var heads = try cursors.indices.map { try cursors[$0].next() }
        while true {
            var smallest: Int?
            for (index, head) in heads.enumerated() {
                guard let head else { continue }
                if let current = smallest, !(head.hash < heads[current]!.hash) { continue }
                smallest = index
            }
            guard let index = smallest else { break }
            try merged.add(heads[index]!.hash, pack: heads[index]!.pack)
            heads[index] = try cursors[index].next()
        }
        let run = try merged.finish()
        for old in runs { old.remove() }
        runs = [run]
    }

    private func nextPath() -> String {
        runNumber += 1
        return "\(staging)/.new-blobs-\(runNumber)"
    }

    /// Reads a run front to back.
    private struct Cursor {
        let run: Run
        var offset = 0
        var buffer: [UInt8] = []
        var position = 0

        init(run: Run) { self.run = run }

        mutating func next() throws -> (hash: BlobHash, pack: Int32)? {
            if position == buffer.count {
                guard offset < run.count else { return nil }
                let take = min(4096, run.count - offset)
                buffer = try run.read(from: offset, count: take)
                offset += take
                position = 0
            }
            defer { position += NewBlobSet.recordSize }
            return BlobHash.record(buffer, at: position)
        }
    }

    /// One sorted run on disk and its Bloom filter.
    final class Run {
        let path: String
        let count: Int
        private let descriptor: Int32
        private var filter: [UInt64]

        init(path: String, records: [UInt8], count: Int) throws {
            self.path = path
            self.count = count
            descriptor = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else { throw fileSystemError("cannot create", path) }
            filter = Self.emptyFilter(for: count)
            try records.withUnsafeBytes { try writeAll(descriptor, $0, path: path) }
            for index in 0..<count { Self.set(&filter, BlobHash.record(records, at: index * NewBlobSet.recordSize).hash) }
        }

        fileprivate init(path: String, descriptor: Int32, count: Int, filter: [UInt64]) {
            self.path = path
            self.descriptor = descriptor
            self.count = count
            self.filter = filter
        }

        deinit { close(descriptor) }

        func remove() { unlink(path) }

        func mayHold(_ hash: BlobHash) -> Bool {
            let bits = UInt64(filter.count * 64)
            for probe in hash.probes {
                let bit = probe % bits
                if filter[Int(bit / 64)] & (1 << (bit % 64)) == 0 { return false }
            }
            return true
        }

        func find(_ hash: BlobHash) throws -> Int32? {
            var low = 0, high = count
            while low < high {
                let middle = (low + high) / 2
                let record = try read(from: middle, count: 1)
                let found = BlobHash.record(record, at: 0)
                if found.hash == hash { return found.pack }
                if found.hash < hash { low = middle + 1 } else { high = middle }
            }
            return nil
        }

        func read(from record: Int, count: Int) throws -> [UInt8] {
            var bytes = [UInt8](repeating: 0, count: count * NewBlobSet.recordSize)
            var done = 0
            while done < bytes.count {
                let read = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + done, $0.count - done, off_t(record * NewBlobSet.recordSize + done)) }
                if read < 0 { if errno == EINTR { continue }; throw fileSystemError("cannot read", path) }
                if read == 0 { throw BackupError(.io, "\(path) ends early") }
                done += read
            }
            return bytes
        }

        static func emptyFilter(for count: Int) -> [UInt64] {
            [UInt64](repeating: 0, count: max(1, (count * 10 + 63) / 64))
        }

        static func set(_ filter: inout [UInt64], _ hash: BlobHash) {
            let bits = UInt64(filter.count * 64)
            for probe in hash.probes {
                let bit = probe % bits
                filter[Int(bit / 64)] |= 1 << (bit % 64)
            }
        }

        /// Writes a run record by record, in order.
        final class Builder {
            let path: String
            private let descriptor: Int32
            private var filter: [UInt64]
            private var buffer: [UInt8] = []
            private var count = 0

            init(path: String, expected: Int) throws {
                self.path = path
                descriptor = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
                guard descriptor >= 0 else { throw fileSystemError("cannot create", path) }
                filter = Run.emptyFilter(for: expected)
            }

            func add(_ hash: BlobHash, pack: Int32) throws {
                hash.append(to: &buffer, pack: pack)
                Run.set(&filter, hash)
                count += 1
                if buffer.count >= 1 << 16 { try flush() }
            }

            private func flush() throws {
                try buffer.withUnsafeBytes { try writeAll(descriptor, $0, path: path) }
                buffer.removeAll(keepingCapacity: true)
            }

            func finish() throws -> Run {
                try flush()
                return Run(path: path, descriptor: descriptor, count: count, filter: filter)
            }
        }
    }
}

extension BlobHash: Comparable {
    static func < (a: BlobHash, b: BlobHash) -> Bool { a.words < b.words }

    /// Five positions for a Bloom filter, from the hash's own (uniformly random) bits.
    var probes: [UInt64] {
        let (a, b) = (words.0, words.1)
        return (0..<5).map { a &+ UInt64($0) &* (b | 1) }
    }

    /// The 36-byte record: the hash's 32 bytes, big-endian words, then the pack number.
    func append(to bytes: inout [UInt8], pack: Int32) {
        for word in [words.0, words.1, words.2, words.3] {
            withUnsafeBytes(of: word.bigEndian) { bytes += $0 }
        }
        withUnsafeBytes(of: pack.littleEndian) { bytes += $0 }
    }

    static func record(_ bytes: [UInt8], at offset: Int) -> (hash: BlobHash, pack: Int32) {
        bytes.withUnsafeBytes { raw in
            func word(_ index: Int) -> UInt64 { UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: offset + index * 8, as: UInt64.self)) }
            let pack = Int32(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 32, as: Int32.self))
            return (BlobHash(words: (word(0), word(1), word(2), word(3))), pack)
        }
    }
}
