import BackupKit
import BackupTransport
import Foundation
import Glibc
import Synchronization

/// A bucket's objects in the byte order of their keys, whatever order the server lists them in (AWS
/// lists in byte order; SeaweedFS, for one, lists directory by directory), with bounded memory: the
/// listing is cut into runs of ``runLength`` objects, each sorted in memory and written to a file in
/// the staging directory, then the runs are merged. Since the order is made here, the prefixes one
/// level down are listed side by side, which takes a fraction of one chain of listing requests.
struct SortedObjectListing {
    /// Makes a client; each listing thread has its own.
    var makeClient: () throws -> S3Client
    var prefix: String
    var staging: String
    /// Objects sorted in memory at a time (about 10 MB at the default).
    var runLength = 50_000
    /// Listings in flight at once: the prefixes one level below `prefix` are listed side by side, since
    /// a listing is a chain of requests, each waiting for the one before.
    var concurrency = 8

    /// Calls `visit` with every object under the prefix, in byte order of the keys.
    func forEach(isCancelled: @escaping @Sendable () -> Bool, _ visit: (S3Client.ObjectInfo) throws -> Void) throws {
        let collected = Collected(staging: staging, runLength: runLength)
        defer { collected.removeRuns() }
        // One level down (more while there is a single prefix and nothing else), then each prefix whole.
        let client = try makeClient()
        var level = try client.listLevel(prefix: prefix)
        var depth = 0
        while level.objects.isEmpty, level.prefixes.count == 1, depth < 4 {
            level = try client.listLevel(prefix: level.prefixes[0])
            depth += 1
        }
        try collected.add(level.objects)
        try listConcurrently(level.prefixes, into: collected, isCancelled: isCancelled)
        // The pages' bodies and parses are freed: give their pages back, so the downloads and packs that
        // follow do not stack on them (the run's peak memory is what counts).
        releaseFreeMemory()
        try collected.merge(isCancelled: isCancelled, visit)
    }

    private func listConcurrently(_ prefixes: [String], into collected: Collected, isCancelled: @escaping @Sendable () -> Bool) throws {
        guard !prefixes.isEmpty else { return }
        let next = Mutex(0)
        let failure = Mutex<(any Error)?>(nil)
        let group = DispatchGroup()
        for _ in 0..<min(concurrency, prefixes.count) {
            let client: S3Client
            do { client = try makeClient() } catch { failure.withLock { $0 = $0 ?? error }; break }
            group.enter()
            let thread = Thread {
                defer { group.leave() }
                while failure.withLock({ $0 == nil }) {
                    let index = next.withLock { value -> Int in defer { value += 1 }; return value }
                    guard index < prefixes.count else { return }
                    do {
                        try client.list(prefix: prefixes[index]) { page in
                            if isCancelled() { throw CancellationError() }
                            try collected.add(page)
                        }
                    } catch {
                        failure.withLock { $0 = $0 ?? error }
                    }
                }
            }
            thread.start()
        }
        group.wait()
        if let error = failure.withLock({ $0 }) { throw error }
    }

    /// What the listings gathered: the objects not yet spilled, and the sorted runs on disk.
    final class Collected: @unchecked Sendable {
        private let lock = NSLock()
        private var pending: [S3Client.ObjectInfo] = []
        private var runs: [RunFile] = []
        private let staging: String
        private let runLength: Int

        init(staging: String, runLength: Int) {
            self.staging = staging
            self.runLength = runLength
        }

        func add(_ objects: [S3Client.ObjectInfo]) throws {
            try lock.withLock {
                pending += objects
                if pending.count >= runLength { try spill() }
            }
        }

        private func spill() throws {
            guard !pending.isEmpty else { return }
            pending.sort { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            runs.append(try RunFile(path: "\(staging)/.listing-\(runs.count)", objects: pending))
            pending.removeAll(keepingCapacity: true)
        }

        func merge(isCancelled: () -> Bool, _ visit: (S3Client.ObjectInfo) throws -> Void) throws {
            if runs.isEmpty {
                pending.sort { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
                for object in pending { try visit(object) }
                return
            }
            try spill()
            var heads = try runs.map { try $0.next() }
            while true {
                var smallest: Int?
                for (index, head) in heads.enumerated() {
                    guard let head else { continue }
                    if let current = smallest, !head.key.utf8.lexicographicallyPrecedes(heads[current]!.key.utf8) { continue }
                    smallest = index
                }
                guard let index = smallest else { return }
                if isCancelled() { throw CancellationError() }
                try visit(heads[index]!)
                heads[index] = try runs[index].next()
            }
        }

        func removeRuns() {
            for run in runs { run.remove() }
        }
    }

    /// One sorted run on disk: per object the key's length and bytes, the size, the ETag's length and
    /// bytes, and LastModified in milliseconds (or -1).
    final class RunFile {
        let path: String
        private let reader: FileReader
        private var buffer: [UInt8] = []
        private var position = 0
        private let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 8)

        init(path: String, objects: [S3Client.ObjectInfo]) throws {
            self.path = path
            var bytes: [UInt8] = []
            for object in objects {
                Self.append(Array(object.key.utf8), to: &bytes)
                Self.append(object.size, to: &bytes)
                Self.append(Array((object.etag ?? "").utf8), to: &bytes)
                Self.append(object.lastModified.map { Int64(($0.timeIntervalSince1970 * 1000).rounded()) } ?? -1, to: &bytes)
            }
            _ = try AtomicFileWriter.write(bytes, to: path)
            reader = try FileReader(path: path)
        }

        deinit { chunk.deallocate() }

        func next() throws -> S3Client.ObjectInfo? {
            guard let key = try take(count: 4).map({ Int(UInt32(littleEndian: $0.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) })) }) else { return nil }
            guard let keyBytes = try take(count: key), let size = try takeInt64(), let etagLength = try take(count: 4),
                  let etag = try take(count: Int(UInt32(littleEndian: etagLength.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }))),
                  let modified = try takeInt64() else {
                throw BackupError(.io, "the sorted listing \(path) is cut short")
            }
            return S3Client.ObjectInfo(key: String(decoding: keyBytes, as: UTF8.self), size: size,
                                       lastModified: modified < 0 ? nil : Date(timeIntervalSince1970: Double(modified) / 1000),
                                       etag: etag.isEmpty ? nil : String(decoding: etag, as: UTF8.self))
        }

        func remove() { unlink(path) }

        private func takeInt64() throws -> Int64? {
            try take(count: 8).map { Int64(littleEndian: $0.withUnsafeBytes { $0.loadUnaligned(as: Int64.self) }) }
        }

        private func take(count: Int) throws -> [UInt8]? {
            while buffer.count - position < count {
                if position > 0 {
                    buffer.removeFirst(position)
                    position = 0
                }
                let read = try reader.read(into: chunk)
                if read == 0 { return nil }
                buffer += UnsafeRawBufferPointer(rebasing: chunk[0..<read])
            }
            defer { position += count }
            return Array(buffer[position..<(position + count)])
        }

        private static func append(_ bytes: [UInt8], to out: inout [UInt8]) {
            withUnsafeBytes(of: UInt32(bytes.count).littleEndian) { out += $0 }
            out += bytes
        }

        private static func append(_ value: Int64, to out: inout [UInt8]) {
            withUnsafeBytes(of: value.littleEndian) { out += $0 }
        }
    }
}
