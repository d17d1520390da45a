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

    /// With staging on another file system the local sink copies instead of linking; that path conforms too.
    @Test func localSinkConformsAcrossFileSystems() async throws {
        let dir = try TemporaryDirectory("local-sink-xfs")
        defer { dir.remove() }
        let scratch = "/dev/shm/backupkit-scratch-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        try await SinkConformanceSuite(scratchDirectory: scratch, largeArtifactSize: 64 << 20) { LocalSink(directory: dir.sub("sink")) }.run()
    }

    /// The copy checks the bytes it copied, not just the size stat() reported: a FIFO reports 0 bytes
    /// and delivers 1 MiB.
    @Test func theCopyChecksTheBytesItCopied() async throws {
        let dir = try TemporaryDirectory("xfs-sink")
        defer { dir.remove() }
        let staging = "/dev/shm/backupkit-fifo-\(getpid())"
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: staging) }
        let fifo = staging + "/staged"
        #expect(mkfifo(fifo, 0o600) == 0)
        let writer = Thread {
            let fd = open(fifo, O_WRONLY)
            let bytes = [UInt8](repeating: 7, count: 1 << 20)
            _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
        }
        writer.start()
        let sink = LocalSink(directory: dir.sub("sink"))
        await #expect(throws: BackupError.self) {
            try await sink.put("a_b_20240101_000000.tar.gz", from: StagedFile(path: fifo, digest: FileDigest(size: 0, sha256: "")))
        }
        #expect(try await sink.list().isEmpty, "a copy that did not match the recorded size leaves nothing listed")
    }

    @Test func inMemorySinkConforms() async throws {
        let dir = try TemporaryDirectory("memory-sink")
        defer { dir.remove() }
        try await SinkConformanceSuite(scratchDirectory: dir.sub("scratch"), largeArtifactSize: 32 << 20) { InMemorySink() }.run()
        // It does not promise bounded memory, so there is nothing for the memory check to check.
        await expectConformanceFailure(.boundedMemory) {
            try await SinkConformanceSuite(scratchDirectory: dir.sub("scratch")) { InMemorySink() }.checkBoundedMemory()
        }
    }

    /// Every sink that promises bounded memory keeps the promise. The check measures resident memory, so
    /// it runs in a child process of its own (an exit test): the tests running in parallel in this
    /// process allocate tens of MiB too.
    @Test(arguments: BoundedMemorySink.allCases)
    func streamsInBoundedMemory(_ sink: BoundedMemorySink) async {
        await #expect(processExitsWith: .success) { [sink = sink as BoundedMemorySink] in
            await recordingErrors {
                let dir = try TemporaryDirectory("bounded-memory-\(sink.rawValue)")
                defer { dir.remove() }
                let suite = try sink.suite(in: dir)
                defer { try? FileManager.default.removeItem(atPath: suite.scratchDirectory) }
                try await suite.checkBoundedMemory()
            }
        }
    }

    /// The memory check must catch a sink that reads whole artifacts into memory, as that check.
    @Test func theMemoryCheckCatchesABufferingSink() async {
        await #expect(processExitsWith: .success) {
            await expectConformanceFailure(.boundedMemory) {
                let dir = try TemporaryDirectory("buffering-sink")
                defer { dir.remove() }
                try await SinkConformanceSuite(scratchDirectory: dir.sub("scratch")) {
                    BufferingSink(base: LocalSink(directory: dir.sub("sink")), scratchDirectory: dir.sub("scratch"))
                }.checkBoundedMemory()
            }
        }
    }

    /// The suite itself must catch a broken sink: one whose put is not atomic.
    @Test func theSuiteCatchesANonAtomicSink() async throws {
        let dir = try TemporaryDirectory("broken-sink")
        defer { dir.remove() }
        await expectConformanceFailure(.failedPut) {
            try await SinkConformanceSuite(scratchDirectory: dir.sub("scratch"), largeArtifactSize: 4 << 20) {
                NonAtomicSink(base: LocalSink(directory: dir.sub("sink")), directory: dir.sub("sink"))
            }.run()
        }
    }

    /// The suite catches a preflight that leaves its probe where list() shows it, and one that fails on
    /// a healthy sink.
    @Test(arguments: [PreflightFault.leavesItsProbe, .alwaysFails])
    func theSuiteCatchesABrokenPreflight(_ fault: PreflightFault) async throws {
        let dir = try TemporaryDirectory("broken-preflight")
        defer { dir.remove() }
        await expectConformanceFailure(.preflight) {
            try await SinkConformanceSuite(scratchDirectory: dir.sub("scratch"), largeArtifactSize: 1 << 20) {
                BrokenPreflightSink(base: LocalSink(directory: dir.sub("sink")), fault: fault)
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

enum PreflightFault: Sendable { case leavesItsProbe, alwaysFails }

/// A local sink whose preflight is wrong in one way.
struct BrokenPreflightSink: Sink {
    var base: LocalSink
    var fault: PreflightFault
    var name: String { "broken-preflight" }
    var capabilities: SinkCapabilities { base.capabilities }

    func preflight() async throws {
        switch fault {
        case .leavesItsProbe: try writeFile(base.directory + "/probe", "left behind\n")
        case .alwaysFails: throw BackupError(.sinkFailed, "the check is broken")
        }
    }
    func put(_ key: String, from file: StagedFile) async throws -> StoreReceipt { try await base.put(key, from: file) }
    func get(_ key: String, into output: ByteDestination) async throws { try await base.get(key, into: output) }
    func list() async throws -> [StoredObject] { try await base.list() }
    func delete(_ key: String) async throws { try await base.delete(key) }
}
