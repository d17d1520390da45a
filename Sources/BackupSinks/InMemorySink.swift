import BackupKit
import Foundation
import Synchronization

/// A sink that keeps everything in memory: the reference implementation of ``Sink`` for tests and
/// examples. It holds whole artifacts in memory, so its capabilities say `boundedMemory: false`.
public final class InMemorySink: Sink {
    public let name: String
    private let objects = Mutex<[String: (bytes: [UInt8], modified: Date)]>([:])

    public init(name: String = "memory") { self.name = name }

    public var capabilities: SinkCapabilities { SinkCapabilities(boundedMemory: false) }

    @discardableResult
    public func put(_ key: String, from file: StagedFile) async throws -> StoreReceipt {
        var bytes: [UInt8] = []
        try file.open().forEachChunk { chunk in
            try Task.checkCancellation()
            bytes.append(contentsOf: chunk)
        }
        guard Int64(bytes.count) == file.digest.size else {
            throw BackupError(.io, "the staged file \(file.path) held \(bytes.count) bytes, not the \(file.digest.size) it was written with")
        }
        objects.withLock { $0[key] = (bytes, Date()) }
        return StoreReceipt(checks: ["size"])
    }

    public func get(_ key: String, into output: ByteDestination) async throws {
        guard let bytes = objects.withLock({ $0[key]?.bytes }) else {
            throw BackupError(.notFound, "memory sink '\(name)' has no \(key)")
        }
        var offset = 0
        repeat {
            let end = min(bytes.count, offset + (1 << 20))
            try bytes[offset..<end].withUnsafeBytes { try output.write($0) }
            offset = end
        } while offset < bytes.count
    }

    public func list() async throws -> [StoredObject] {
        objects.withLock { $0.map { StoredObject(key: $0.key, size: Int64($0.value.bytes.count), modified: $0.value.modified) } }
    }

    public func delete(_ key: String) async throws {
        guard objects.withLock({ $0.removeValue(forKey: key) }) != nil else {
            throw BackupError(.notFound, "memory sink '\(name)' has no \(key)")
        }
    }
}
