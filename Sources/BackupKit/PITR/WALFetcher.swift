import Foundation
import Glibc
import Logging

/// `restore_command`'s side: finds a WAL file in the spool or the sinks, checks it, and writes it where
/// PostgreSQL asked. On a miss in its cache it fetches the asked file and the next segments of the same
/// timeline (``prefetchCount`` at once, in parallel) into the cache, so the following calls are local.
public struct WALFetcher: Sendable {
    public var plan: String
    public var source: String
    public var spool: WALSpool?
    public var sinks: [any Sink]
    public var identities: [AgeIdentity]
    /// Where prefetched, already checked files wait; nil: no prefetch.
    public var cacheDirectory: String?
    public var segmentSize: Int64
    public var logger: Logger
    public var prefetchCount = 8

    public init(plan: String, source: String, spool: WALSpool?, sinks: [any Sink], identities: [AgeIdentity], cacheDirectory: String?,
                segmentSize: Int64, logger: Logger) {
        self.plan = plan
        self.source = source
        self.spool = spool
        self.sinks = sinks
        self.identities = identities
        self.cacheDirectory = cacheDirectory
        self.segmentSize = segmentSize
        self.logger = logger
    }

    public enum Outcome: Sendable, Equatable {
        case found(from: String)
        /// No sink holds it: how recovery learns it reached the end of the archive.
        case missing
    }

    /// Fetches `name` into `destination` (temporary name, then rename). Throws when a copy exists but
    /// none passes its checks: the caller must make recovery stop, not end early.
    public func fetch(_ requested: String, to destination: String) async throws -> Outcome {
        guard let name = WALFileName(requested) else {
            throw BackupError(.usage, "'\(requested)' is not a WAL file name; restore_command must pass %f")
        }
        if let cacheDirectory {
            let cached = cacheDirectory + "/" + name.name
            if access(cached, F_OK) == 0 {
                try install(cached, at: destination)
                return .found(from: "prefetch cache")
            }
        }
        if let spool {
            let queued = spool.queueDirectory + "/" + name.name
            do {
                // Read once: the pusher may remove the file at any moment (it is then in every sink).
                let entry = WALSpool.Entry(name: name, path: queued, size: 0, modified: Date())
                let recorded = try spool.digest(of: entry)
                let bytes = try readWhole(queued)
                guard FileDigest.of(bytes).sha256 == recorded else {
                    // The pusher stops at this file too, so no sink has it: ending recovery here would
                    // silently lose everything after it.
                    throw BackupError(.verificationFailed, "the spooled copy of \(name.name) (\(queued)) does not match the SHA-256 recorded when it was spooled; the spool's disk may be failing")
                }
                try AtomicFileWriter.write(bytes, to: destination)
                return .found(from: "spool")
            } catch let error as BackupError where error.code == .notFound {
                // Not spooled, or pushed meanwhile: the sinks have it.
            }
        }
        let (catalog, unreachable) = await WALCatalog.load(sinks: sinks, plan: plan, source: source, segmentSize: segmentSize)
        guard catalog.has(name.name) else {
            if !unreachable.isEmpty {
                // An unreachable sink may hold it: ending recovery here would lose what follows, and at
                // promotion a history file reported missing lets PostgreSQL reuse a timeline ID.
                throw BackupError(.unreachable, "\(name.name) is in no reachable sink, and these could not be listed: \(unreachable.map { "\($0.key): \($0.value)" }.sorted().joined(separator: "; "))")
            }
            return .missing
        }
        var batch = [name]
        if cacheDirectory != nil, name.kind == .segment, let number = name.segmentNumber(segmentSize: segmentSize) {
            for next in (number + 1)..<(number + UInt64(prefetchCount)) {
                let following = WALFileName.segment(timeline: name.timeline, number: next, segmentSize: segmentSize)
                guard catalog.has(following.name), access(cacheDirectory! + "/" + following.name, F_OK) != 0 else { break }
                batch.append(following)
            }
        }
        let results = await withTaskGroup(of: (String, Result<[UInt8], BackupError>).self) { group in
            for file in batch {
                group.addTask { (file.name, await download(file, catalog: catalog)) }
            }
            var collected: [String: Result<[UInt8], BackupError>] = [:]
            for await (file, result) in group { collected[file] = result }
            return collected
        }
        for file in batch.dropFirst() {
            guard case .success(let bytes)? = results[file.name], let cacheDirectory else { continue }
            try? makeDirectory(cacheDirectory, mode: 0o700, purpose: "the WAL prefetch cache")
            _ = try? AtomicFileWriter.write(bytes, to: cacheDirectory + "/" + file.name)
        }
        switch results[name.name]! {
        case .success(let bytes):
            try AtomicFileWriter.write(bytes, to: destination)
            return .found(from: catalog.copies(of: name.name).first!.sink)
        case .failure(let error):
            throw error
        }
    }

    /// The checked bytes of a small archived file (a history file), or nil when no sink holds it.
    public func read(_ name: WALFileName, catalog: WALCatalog) async throws -> [UInt8]? {
        guard catalog.has(name.name) else { return nil }
        return try await download(name, catalog: catalog).get()
    }

    /// Downloads and checks one file, trying each sink that holds it in order.
    private func download(_ name: WALFileName, catalog: WALCatalog) async -> Result<[UInt8], BackupError> {
        var errors: [String] = []
        for copy in catalog.copies(of: name.name) {
            guard let sink = sinks.first(where: { $0.name == copy.sink }) else { continue }
            do {
                let (destination, bytes) = ByteDestination.memory()
                try await sink.get(copy.object.key, into: destination)
                return .success(try copy.object.decode(bytes(), identities: identities, sink: sink.name))
            } catch {
                errors.append(BackupError.wrap(error, as: .verificationFailed, "sink '\(copy.sink)'").message)
            }
        }
        return .failure(BackupError(.verificationFailed, "no good copy of \(name.name): " + errors.joined(separator: "; ")))
    }

    private func readWhole(_ path: String) throws -> [UInt8] {
        var bytes: [UInt8] = []
        try FileReader(path: path).forEachChunk { bytes.append(contentsOf: $0) }
        return bytes
    }

    /// Moves a prefetched file to where PostgreSQL asked (copied when they are on different file systems).
    private func install(_ path: String, at destination: String) throws {
        if rename(path, destination) == 0 { return }
        let writer = try AtomicFileWriter(finalPath: destination, mode: 0o600, computeDigest: false)
        try FileReader(path: path).forEachChunk { try writer.write($0) }
        try writer.commit()
        unlink(path)
    }
}
