import BackupKit
import BackupTransport
import Foundation
import Glibc

/// A bucket's objects in the byte order of their keys, whatever order the server lists them in (AWS
/// lists in byte order; SeaweedFS, for one, lists directory by directory), with bounded memory: the
/// listing is cut into runs of ``runLength`` objects, each sorted in memory and written to a file in
/// the staging directory, then the runs are merged.
struct SortedObjectListing {
    var client: S3Client
    var prefix: String
    var staging: String
    /// Objects sorted in memory at a time (about 10 MB at the default).
    var runLength = 50_000

    /// Calls `visit` with every object under the prefix, in byte order of the keys.
    func forEach(isCancelled: () -> Bool, _ visit: (S3Client.ObjectInfo) throws -> Void) throws {
        var runs: [RunFile] = []
        defer { for run in runs { run.remove() } }
        var pending: [S3Client.ObjectInfo] = []
        func spill() throws {
            guard !pending.isEmpty else { return }
            pending.sort { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            runs.append(try RunFile(path: "\(staging)/.listing-\(runs.count)", objects: pending))
            pending.removeAll(keepingCapacity: true)
        }
        try client.list(prefix: prefix) { page in
            if isCancelled() { throw CancellationError() }
            pending += page
            if pending.count >= runLength { try spill() }
        }
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
