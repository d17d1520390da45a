// An example of a sink of your own, written only against BackupKit's public API.
//
// It keeps each artifact in a subdirectory named after the set's month (`2024-11/db_app_20241130_020000.sql.gz`),
// which some NAS setups want. Like every sink it must be atomic, stream, and say `notFound` for missing
// keys; the conformance suite in BackupKitTesting checks all of that (see the tests beside this file).

import BackupKit
import Foundation

public struct ShardedDirectorySink: Sink {
    public let name: String
    public let root: String

    public init(name: String = "sharded", root: String) {
        self.name = name
        self.root = root
    }

    public var capabilities: SinkCapabilities { SinkCapabilities(boundedMemory: true) }

    /// `2024-11` for a key with a set timestamp, `other` for anything else.
    func shard(of key: String) -> String {
        guard let timestamp = ArtifactName.parse(key)?.timestamp else { return "other" }
        let text = timestamp.description
        return "\(text.prefix(4))-\(text.dropFirst(4).prefix(2))"
    }

    func path(of key: String) -> String { "\(root)/\(shard(of: key))/\(key)" }

    // Every requirement is async and called on Swift's cooperative pool; file I/O blocks, so each one
    // does its work inside runBlocking, on a thread of its own.

    public func put(_ key: String, from file: StagedFile) async throws -> StoreReceipt {
        let target = path(of: key)
        return try await runBlocking {
            try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            // AtomicFileWriter gives the temporary name, fsync and rename; it removes the temporary file on failure.
            let writer = try AtomicFileWriter(finalPath: target, mode: 0o600, computeDigest: false)
            try file.open().forEachChunk { try writer.write($0) }
            guard writer.bytesWritten == file.digest.size else {
                throw BackupError(.io, "\(file.path) held \(writer.bytesWritten) bytes, not \(file.digest.size)")
            }
            try writer.commit()
            return StoreReceipt(checks: ["size"])
        }
    }

    public func get(_ key: String, into output: ByteDestination) async throws {
        let source = path(of: key), name = name
        try await runBlocking {
            guard FileManager.default.fileExists(atPath: source) else { throw BackupError(.notFound, "\(name) has no \(key)") }
            try FileReader(path: source).forEachChunk { try output.write($0) }
        }
    }

    public func list() async throws -> [StoredObject] {
        let root = root
        return try await runBlocking {
            let shards = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
            return shards.flatMap { shard -> [StoredObject] in
                let names = (try? FileManager.default.contentsOfDirectory(atPath: "\(root)/\(shard)")) ?? []
                return names.filter { !$0.hasPrefix(".") }.compactMap { name in
                    let attributes = try? FileManager.default.attributesOfItem(atPath: "\(root)/\(shard)/\(name)")
                    return (attributes?[.size] as? NSNumber).map { StoredObject(key: name, size: $0.int64Value) }
                }
            }
        }
    }

    public func delete(_ key: String) async throws {
        let target = path(of: key), name = name
        try await runBlocking {
            guard FileManager.default.fileExists(atPath: target) else { throw BackupError(.notFound, "\(name) has no \(key)") }
            try FileManager.default.removeItem(atPath: target)
        }
    }
}

extension PlanRegistry {
    /// Makes `type: sharded-directory` usable in plan files:
    ///
    /// ```yaml
    /// sinks:
    ///   - { name: nas, type: sharded-directory, root: /mnt/nas/backups }
    /// ```
    public mutating func registerShardedDirectorySink() {
        registerSink(type: "sharded-directory") { definition, decoder in
            enum Keys: String, CodingKey, CaseIterable { case root }
            let container = try decoder.strictContainer(keyedBy: Keys.self, alsoAllowed: PlanKeys.sink)
            return ShardedDirectorySink(name: definition.name, root: definition.resolvePath(try container.decode(String.self, forKey: .root)))
        }
    }
}
