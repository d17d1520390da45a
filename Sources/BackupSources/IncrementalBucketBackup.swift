import BackupKit
import BackupTransport
import Crypto
import Foundation
import Glibc

/// Writes one incremental set of a bucket (docs/incremental-sets.md): lists the objects in byte order
/// of their keys (``SortedObjectListing``) beside the previous set's index, takes an object whose size, ETag and LastModified did not
/// change from the previous set without reading it, and downloads the others once. The ETag is only a
/// signal of change, never a checksum (a multipart or encrypted object's is not an MD5): the content's
/// SHA-256 is computed from the bytes.
///
/// An object of up to 1 MiB is held in memory; a larger one is spooled to a file in the staging
/// directory while it is hashed (a second download would cost more than the disk), then copied into
/// its pack and removed.
final class IncrementalBucketBackup {
    static let smallObjectLimit = 1 << 20

    private let source: S3BucketSource
    private let client: S3Client
    private let session: IncrementalSession
    private let context: SourceContext

    init(source: S3BucketSource, client: S3Client, session: IncrementalSession, context: SourceContext) {
        self.source = source
        self.client = client
        self.session = session
        self.context = context
    }

    func backUp(into index: any ArchiveWriter) throws -> SourceReport {
        let settings = source.settings
        let writer = try IncrementalWriter(session: session, context: context, root: "s3://\(settings.bucket)/\(settings.prefix) at \(settings.endpoint)",
                                           order: .bytes, output: index)
        var objects: Int64 = 0
        let listing = SortedObjectListing(makeClient: { [source] in try source.client() }, prefix: settings.prefix, staging: session.staging)
        try listing.forEach(isCancelled: context.isCancelled) { object in
            try writer.add(try record(for: object, writer: writer))
            objects += 1
        }
        return try writer.finish(details: ["objects": .integer(objects)])
    }

    private func record(for object: S3Client.ObjectInfo, writer: IncrementalWriter) throws -> IndexRecord {
        let modified = Self.fileTime(object.lastModified)
        var record = IndexRecord(path: RawPath(object.key), kind: .file, mode: 0o644, size: object.size, modified: modified, changed: modified)
        record.etag = object.etag
        let previous = try writer.previous(of: record.path)
        if object.key.hasSuffix("/") {
            // A folder marker: an empty object whose key ends in a slash.
            record.kind = .directory
            record.mode = 0o755
            record.size = 0
            record.etag = nil
            record.attributes = [S3BucketSource.folderMarkerAttribute: "true"]
            return record
        }
        if (try? EntrySafety.checkPath(record.path)) == nil {
            context.warn("the key '\(object.key)' is not a safe file path; it can be restored to a bucket but not to a directory")
        }
        if writer.reuse(&record, from: previous) {
            record.attributes = previous?.attributes ?? [:]
            return record
        }
        return try download(object, into: record, writer: writer)
    }

    /// Downloads the object, hashes it and stores it unless a pack holds its content already.
    private func download(_ object: S3Client.ObjectInfo, into record: IndexRecord, writer: IncrementalWriter) throws -> IndexRecord {
        var record = record
        var held: [UInt8] = []
        var spool: AtomicFileWriter?
        var hasher = SHA256()
        var expected: Int64 = object.size
        var received: Int64 = 0
        writer.noteRead(bytes: 0, newFile: true)
        try client.get(object.key, onHeaders: { size, headers in
            if size >= 0 { expected = size }
            var attributes: [String: String] = [:]
            for name in S3BucketSource.keptHeaders { if let value = headers[name] { attributes[S3BucketSource.attributePrefix + name] = value } }
            for (header, value) in headers where header.hasPrefix("x-amz-meta-") {
                attributes[S3BucketSource.attributePrefix + "meta." + header.dropFirst("x-amz-meta-".count)] = value
            }
            record.attributes = attributes
            if expected >= Int64(Self.smallObjectLimit) {
                spool = try AtomicFileWriter(finalPath: self.session.staging + "/.object-spool", mode: 0o600, computeDigest: false)
            }
        }, onData: { chunk in
            hasher.update(bufferPointer: chunk)
            if let spool { try spool.write(chunk) } else { held += chunk }
            received += Int64(chunk.count)
            writer.noteRead(bytes: chunk.count)
        })
        guard received == expected else {
            throw BackupError(.sourceFailed, "s3-bucket source '\(source.name)': \(object.key) delivered \(received) of its \(expected) bytes")
        }
        let hash = hasher.finalize().hexString
        record.size = received
        record.hash = hash
        record.entry = hash
        if let spool {
            _ = try spool.finishWriting()
            let path = spool.temporaryPath
            let pack = try writer.store(hash: hash, size: received) { write in
                let reader = try FileReader(path: path)
                var copied = SHA256()
                try reader.forEachChunk { chunk in
                    copied.update(bufferPointer: chunk)
                    try write(chunk)
                }
                return copied.finalize().hexString
            }
            guard let pack else {
                throw BackupError(.sourceFailed, "s3-bucket source '\(source.name)': the staged copy of \(object.key) changed on disk; the staging directory is not safe to use")
            }
            record.pack = pack
        } else {
            record.pack = try held.withUnsafeBytes { try writer.store(hash: hash, bytes: $0) }
        }
        return record
    }

    /// LastModified to the millisecond S3 gives, as a file time.
    static func fileTime(_ date: Date?) -> FileTime {
        let interval = (date ?? Date(timeIntervalSince1970: 0)).timeIntervalSince1970
        let seconds = interval.rounded(.down)
        return FileTime(seconds: Int64(seconds), nanoseconds: Int32(min(999, ((interval - seconds) * 1000).rounded())) * 1_000_000)
    }
}
