import BackupKit
import Foundation
import Glibc

/// The one test suite every ``Sink`` passes, ours and yours. Run it from any test framework:
///
/// ```swift
/// @Test func conformance() async throws {
///     try await SinkConformanceSuite(scratchDirectory: dir) { MySink(...) }.run()
/// }
/// ```
///
/// It needs a sink that starts empty and healthy: its ``Sink/preflight()`` must pass, on the empty sink
/// and on one that holds a file, and leave the listing as it was (a probe goes under a temporary name).
/// It checks put, get, list and delete; not-found errors; overwrite;
/// streaming an artifact larger than memory would like; and that a failed put leaves nothing listed.
/// The first failed check throws a ``ConformanceFailure`` naming it.
///
/// Whether a sink that promises bounded memory keeps that promise is ``checkBoundedMemory()``. It measures
/// the whole process's resident memory, so it must run in a process of its own: with Swift Testing, an
/// exit test. Its body runs in a child copy of the test process, so build the suite there (captured
/// values must be `Sendable` and `Codable`, such as a path):
///
/// ```swift
/// @Test func streamsInBoundedMemory() async {
///     let root = NSTemporaryDirectory() + "my-sink-\(UUID().uuidString)"
///     await #expect(processExitsWith: .success) { [root = root as String] in
///         do {
///             try await SinkConformanceSuite(scratchDirectory: root + "/scratch") { MySink(root: root + "/sink") }.checkBoundedMemory()
///         } catch {
///             Issue.record("\(error)")
///         }
///     }
/// }
/// ```
///
/// (Issues recorded in the child are reported in the parent with their text; an error thrown out of the
/// body is not.)
public struct SinkConformanceSuite: Sendable {
    public var scratchDirectory: String
    /// The size of the large artifact. 128 MiB by default.
    public var largeArtifactSize: Int64
    /// How much a bounded-memory sink's resident memory may grow while it streams an artifact
    /// four times this size (or ``largeArtifactSize``, when that is larger) in ``checkBoundedMemory()``.
    public var memoryGrowthLimit: Int64
    public var makeSink: @Sendable () async throws -> any Sink

    public init(scratchDirectory: String, largeArtifactSize: Int64 = 128 << 20, memoryGrowthLimit: Int64 = 32 << 20,
                makeSink: @escaping @Sendable () async throws -> any Sink) {
        self.scratchDirectory = scratchDirectory
        self.largeArtifactSize = largeArtifactSize
        self.memoryGrowthLimit = memoryGrowthLimit
        self.makeSink = makeSink
    }

    /// The checks, in the order ``run()`` runs them.
    public static let checks: [ConformanceCheck] = [.preflight, .putGetListDelete, .notFound, .overwrite, .largeArtifact, .failedPut]

    public func run() async throws {
        try FileManager.default.createDirectory(atPath: scratchDirectory, withIntermediateDirectories: true)
        let sink = try await makeSink()
        let existing = try await sink.list()
        try expect(existing.isEmpty, .setup, "the sink must start empty, but lists \(existing.map(\.key))")
        try await preflight(sink)
        try await putGetListDelete(sink)
        try await notFound(sink)
        try await overwrite(sink)
        _ = try await streamLargeArtifact(through: sink, size: largeArtifactSize, check: .largeArtifact, measuringMemory: false)
        try await failedPut(sink)
    }

    /// Streams an artifact of at least four times ``memoryGrowthLimit`` through put and get, and throws
    /// a ``ConformanceFailure`` for ``ConformanceCheck/boundedMemory`` when this process's resident memory
    /// grew by more than the limit meanwhile, or when the sink does not promise bounded memory. Run it
    /// alone in a process (see above): other work in the same process grows its memory too.
    public func checkBoundedMemory() async throws {
        try FileManager.default.createDirectory(atPath: scratchDirectory, withIntermediateDirectories: true)
        let sink = try await makeSink()
        try expect(sink.capabilities.boundedMemory, .boundedMemory, "the sink's capabilities do not promise bounded memory; there is nothing to check")
        let size = max(largeArtifactSize, 4 * memoryGrowthLimit)
        let growth = try await streamLargeArtifact(through: sink, size: size, check: .boundedMemory, measuringMemory: true)
        try expect(growth <= memoryGrowthLimit, .boundedMemory,
                   "resident memory grew by \(growth >> 20) MiB while streaming \(size >> 20) MiB; the limit is \(memoryGrowthLimit >> 20) MiB for a sink that promises bounded memory")
    }

    func preflight(_ sink: any Sink) async throws {
        let check = ConformanceCheck.preflight
        do {
            try await sink.preflight()
        } catch {
            throw ConformanceFailure(check: check, message: "preflight() of a healthy, empty sink threw: \(error)")
        }
        let listed = try await sink.list()
        try expect(listed.isEmpty, check, "after preflight(), list() shows \(listed.map(\.key)); a probe must be written under a name list() leaves out, and removed")
        let key = "config_schedgen_20241130_010000.tar.gz"
        try await sink.put(key, from: try stage(Array("held\n".utf8), as: "held"))
        do {
            try await sink.preflight()
        } catch {
            throw ConformanceFailure(check: check, message: "preflight() of a healthy sink that holds a file threw: \(error)")
        }
        let after = try await sink.list()
        try expect(after.map(\.key) == [key], check, "after preflight() of a sink holding [\(key)], list() shows \(after.map(\.key))")
        try await sink.delete(key)
    }

    func putGetListDelete(_ sink: any Sink) async throws {
        let check = ConformanceCheck.putGetListDelete
        let key = "db_schedgen_20241130_020000.sql.gz"
        let content = Array("-- a small artifact\n".utf8) + (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let file = try stage(content, as: "small")
        try await sink.put(key, from: file)
        let listed = try await sink.list()
        try expect(listed.map(\.key) == [key], check, "after one put, list() should show exactly [\(key)], got \(listed.map(\.key))")
        try expect(listed[0].size == Int64(content.count), check, "list() reports size \(listed[0].size), the artifact has \(content.count) bytes")
        let read = try await get(key, from: sink)
        try expect(read == content, check, "get() returned \(read.count) bytes that differ from the \(content.count) put")
        try await sink.delete(key)
        let after = try await sink.list()
        try expect(after.isEmpty, check, "after delete(), list() still shows \(after.map(\.key))")
    }

    func notFound(_ sink: any Sink) async throws {
        let check = ConformanceCheck.notFound
        let key = "minio_missing_20241130_020000.tar.gz"
        do {
            _ = try await get(key, from: sink)
            throw ConformanceFailure(check: check, message: "get() of a missing key returned instead of throwing")
        } catch let error as BackupError {
            try expect(error.code == .notFound, check, "get() of a missing key threw code \(error.code), expected not_found")
        }
        do {
            try await sink.delete(key)
            throw ConformanceFailure(check: check, message: "delete() of a missing key returned instead of throwing")
        } catch let error as BackupError {
            try expect(error.code == .notFound, check, "delete() of a missing key threw code \(error.code), expected not_found")
        }
    }

    func overwrite(_ sink: any Sink) async throws {
        let check = ConformanceCheck.overwrite
        let key = "manifest_schedgen_20241130_020000.json"
        try await sink.put(key, from: try stage(Array(repeating: 1, count: 10_000), as: "first"))
        let second = Array("{\"second\": true}\n".utf8)
        try await sink.put(key, from: try stage(second, as: "second"))
        let listed = try await sink.list()
        try expect(listed.map(\.key) == [key], check, "after two puts of one key, list() shows \(listed.map(\.key))")
        try expect(listed[0].size == Int64(second.count), check, "after overwrite, list() reports \(listed[0].size) bytes, expected \(second.count)")
        let read = try await get(key, from: sink)
        try expect(read == second, check, "after overwrite, get() returned the old or mixed content (\(read.count) bytes)")
        try await sink.delete(key)
    }

    /// Puts, lists, gets and deletes a large artifact; returns how much resident memory grew during the
    /// put and the get when `measuringMemory`, else 0.
    func streamLargeArtifact(through sink: any Sink, size: Int64, check: ConformanceCheck, measuringMemory: Bool) async throws -> Int64 {
        let key = "minio_large_20241130_020000.tar.gz"
        let file = try stageLarge(size: size)
        defer { unlink(file.path) }
        let sampler = measuringMemory ? MemorySampler() : nil
        sampler?.start()
        try await sink.put(key, from: file)
        let destination = ByteDestination { _ in }
        try await sink.get(key, into: destination)
        let growth = sampler?.stop() ?? 0
        let listed = try await sink.list()
        try expect(listed.first { $0.key == key }?.size == file.digest.size, check, "list() does not report the large artifact's \(file.digest.size) bytes")
        try expect(destination.digest == file.digest, check, "get() of the large artifact returned \(destination.digest.size) bytes with a different SHA-256")
        try await sink.delete(key)
        return growth
    }

    func failedPut(_ sink: any Sink) async throws {
        let check = ConformanceCheck.failedPut
        let key = "config_schedgen_20241130_020000.tar.gz"
        // A staged file that ends before its recorded size: the put must notice and fail.
        var file = try stage(Array(repeating: 7, count: 3 << 20), as: "short")
        file.digest.size = 5 << 20
        try await expectFailure(check, "put() of a staged file shorter than its recorded size succeeded") {
            try await sink.put(key, from: file)
        }
        let missing = StagedFile(path: scratchDirectory + "/does-not-exist", digest: FileDigest(size: 10, sha256: ""))
        try await expectFailure(check, "put() of a missing staged file succeeded") {
            try await sink.put(key, from: missing)
        }
        let listed = try await sink.list()
        try expect(listed.isEmpty, check, "after failed puts, list() shows \(listed.map(\.key)); a failed put must leave nothing listed")
    }

    // MARK: helpers

    private func get(_ key: String, from sink: any Sink) async throws -> [UInt8] {
        let (destination, contents) = ByteDestination.memory()
        try await sink.get(key, into: destination)
        return contents()
    }

    private func stage(_ bytes: [UInt8], as name: String) throws -> StagedFile {
        try StagedFile(writing: bytes, to: scratchDirectory + "/" + name)
    }

    private func stageLarge(size: Int64) throws -> StagedFile {
        let writer = try AtomicFileWriter(finalPath: scratchDirectory + "/large")
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var written: Int64 = 0
        while written < size {
            for index in stride(from: 0, to: chunk.count, by: 8) {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                withUnsafeBytes(of: state) { raw in
                    for offset in 0..<8 { chunk[index + offset] = raw[offset] }
                }
            }
            let count = Int(min(Int64(chunk.count), size - written))
            try chunk[0..<count].withUnsafeBytes { try writer.write($0) }
            written += Int64(count)
        }
        let digest = try writer.finishWriting()!
        try writer.commit()
        return StagedFile(path: writer.finalPath, digest: digest)
    }

    private func expectFailure(_ check: ConformanceCheck, _ message: String, _ body: () async throws -> Void) async throws {
        var failed = false
        do { try await body() } catch { failed = true }
        try expect(failed, check, message)
    }
}
