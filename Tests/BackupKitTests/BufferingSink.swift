import BackupKit
import BackupSinks
import Foundation

/// A deliberately broken sink: it promises bounded memory but reads each artifact whole into memory
/// before storing it.
struct BufferingSink: Sink {
    var base: LocalSink
    var scratchDirectory: String
    var name: String { "buffering" }
    var capabilities: SinkCapabilities { SinkCapabilities(boundedMemory: true) }

    func put(_ key: String, from file: StagedFile) async throws -> StoreReceipt {
        let bytes = readFile(file.path) ?? []
        let copy = try StagedFile(writing: bytes, to: scratchDirectory + "/buffered-" + key)
        return try await base.put(key, from: copy)
    }
    func get(_ key: String, into output: ByteDestination) async throws { try await base.get(key, into: output) }
    func list() async throws -> [StoredObject] { try await base.list() }
    func delete(_ key: String) async throws { try await base.delete(key) }
}
