import BackupKit
import BackupKitTesting
import BackupSinks
import Foundation
import Glibc
import Testing

/// The local and in-memory sinks pass the one conformance suite every sink runs.
@Suite struct SinkConformanceTests {
    @Test func localSinkConforms() async throws {
        let dir = try TemporaryDirectory("local-sink")
        defer { dir.remove() }
        try await SinkConformanceSuite(scratchDirectory: dir.sub("scratch")) { LocalSink(directory: dir.sub("sink")) }.run()
    }

    @Test func inMemorySinkConforms() async throws {
        let dir = try TemporaryDirectory("memory-sink")
        defer { dir.remove() }
        try await SinkConformanceSuite(scratchDirectory: dir.sub("scratch"), largeArtifactSize: 32 << 20) { InMemorySink() }.run()
    }

    /// The suite itself must catch a broken sink: one whose put is not atomic.
    @Test func theSuiteCatchesANonAtomicSink() async throws {
        let dir = try TemporaryDirectory("broken-sink")
        defer { dir.remove() }
        await #expect(throws: ConformanceFailure.self) {
            try await SinkConformanceSuite(scratchDirectory: dir.sub("scratch"), largeArtifactSize: 4 << 20) {
                NonAtomicSink(base: LocalSink(directory: dir.sub("sink")), directory: dir.sub("sink"))
            }.run()
        }
    }

    @Test func localSinkModes() async throws {
        let dir = try TemporaryDirectory("modes")
        defer { dir.remove() }
        umask(0o022)
        let sink = LocalSink(directory: dir.sub("new/backups"))
        try writeFile(dir.sub("staged"), "x", mode: 0o644)
        try await sink.put("a_b_20240101_000000.tar.gz", from: StagedFile(path: dir.sub("staged"), digest: FileDigest(size: 1, sha256: "")))
        var info = stat()
        stat(dir.sub("new/backups"), &info)
        #expect(info.st_mode & 0o777 == 0o700)
    }
}

/// A deliberately broken sink: it writes straight to the final name, so a failed put leaves a partial file.
struct NonAtomicSink: Sink {
    var base: LocalSink
    var directory: String
    var name: String { "broken" }
    var capabilities: SinkCapabilities { base.capabilities }

    func put(_ key: String, from file: StagedFile) async throws -> StoreReceipt {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let bytes = readFile(file.path) ?? []
        try writeFile(directory + "/" + key, bytes)
        if Int64(bytes.count) != file.digest.size { throw BackupError(.io, "short") }
        return StoreReceipt()
    }
    func get(_ key: String, into output: ByteDestination) async throws { try await base.get(key, into: output) }
    func list() async throws -> [StoredObject] { try await base.list() }
    func delete(_ key: String) async throws { try await base.delete(key) }
}
