import BackupKit
@testable import BackupSources
import Foundation
import Glibc
import Testing

/// Files that change or vanish while they are read, exclude patterns, and the files source's globs.
@Suite struct TreeArchiverTests {
    /// Records entries and, when told, changes the source files at chosen moments.
    final class InterferingWriter: ArchiveWriter {
        var entries: [ArchiveEntry] = []
        var bytes: [String: Int64] = [:]
        var current: String?
        var onBegin: [String: () -> Void] = [:]
        var onFirstWrite: [String: () -> Void] = [:]
        var entryCount: Int { entries.count }
        var contentBytes: Int64 { bytes.values.reduce(0, +) }

        func beginEntry(_ entry: ArchiveEntry) throws {
            entries.append(entry)
            current = entry.path.description
            onBegin.removeValue(forKey: entry.path.description)?()
        }
        func write(_ data: UnsafeRawBufferPointer) throws {
            if let current { onFirstWrite.removeValue(forKey: current)?() }
            bytes[current ?? "", default: 0] += Int64(data.count)
        }
        func endEntry() throws { current = nil }
        func finish() throws {}
    }

    final class Warnings: @unchecked Sendable {
        let lock = NSLock()
        var items: [String] = []
        func add(_ text: String) { lock.withLock { items.append(text) } }
    }

    func context(_ warnings: Warnings) -> SourceContext {
        SourceContext(planName: "p", logger: testLogger, stagingDirectory: "/tmp", warn: { warnings.add($0) })
    }

    @Test func aFileThatShrinksWhileReadIsPaddedAndNamed() throws {
        let dir = try TemporaryDirectory("shrinks")
        defer { dir.remove() }
        try writeFile(dir.sub("data/big.bin"), pseudoRandomBytes(5 << 20))
        let writer = InterferingWriter()
        writer.onFirstWrite["big.bin"] = { truncate(dir.sub("data/big.bin"), 1 << 20) }
        let warnings = Warnings()
        let source = DirectorySource(name: "d", configuration: .init(path: dir.sub("data")))
        _ = try source.write(SourceArtifact(subject: "s", content: .tree), to: writer, context: context(warnings))
        #expect(writer.bytes["big.bin"] == 5 << 20, "the entry keeps its declared size")
        #expect(warnings.items.count == 1 && warnings.items[0].contains("big.bin") && warnings.items[0].contains("shrank"), "\(warnings.items)")
    }

    @Test func aFileThatGrowsWhileReadIsNamed() throws {
        let dir = try TemporaryDirectory("grows")
        defer { dir.remove() }
        try writeFile(dir.sub("data/big.bin"), pseudoRandomBytes(3 << 20))
        let writer = InterferingWriter()
        writer.onFirstWrite["big.bin"] = {
            let handle = FileHandle(forWritingAtPath: dir.sub("data/big.bin"))!
            handle.seekToEndOfFile()
            handle.write(Data(repeating: 1, count: 1000))
            try? handle.close()
        }
        let warnings = Warnings()
        _ = try DirectorySource(name: "d", configuration: .init(path: dir.sub("data")))
            .write(SourceArtifact(subject: "s", content: .tree), to: writer, context: context(warnings))
        #expect(writer.bytes["big.bin"] == 3 << 20)
        #expect(warnings.items.contains { $0.contains("big.bin") && $0.contains("changed while it was read") }, "\(warnings.items)")
    }

    @Test func aFileThatDisappearsIsSkippedWithAWarning() throws {
        let dir = try TemporaryDirectory("vanishes")
        defer { dir.remove() }
        try writeFile(dir.sub("data/a.txt"), "a")
        try writeFile(dir.sub("data/b.txt"), "b")
        let writer = InterferingWriter()
        writer.onBegin["a.txt"] = { unlink(dir.sub("data/b.txt")) }
        let warnings = Warnings()
        _ = try DirectorySource(name: "d", configuration: .init(path: dir.sub("data")))
            .write(SourceArtifact(subject: "s", content: .tree), to: writer, context: context(warnings))
        #expect(writer.entries.map(\.path) == ["a.txt"])
        #expect(warnings.items.count == 1 && warnings.items[0].contains("b.txt") && warnings.items[0].contains("disappeared"))
    }

    @Test func excludePatterns() throws {
        let dir = try TemporaryDirectory("exclude")
        defer { dir.remove() }
        for path in [".minio.sys/tmp/x/part.1", ".minio.sys/format.json", "bucket/a.pdf", "bucket/cache.tmp", "bucket/deep/b.tmp", "logs/app.log"] {
            try writeFile(dir.sub("data/\(path)"), "x")
        }
        let writer = InterferingWriter()
        let source = DirectorySource(name: "d", configuration: .init(path: dir.sub("data"), exclude: [".minio.sys/tmp/**", "*.tmp", "logs/"]))
        _ = try source.write(SourceArtifact(subject: "s", content: .tree), to: writer, context: context(Warnings()))
        #expect(writer.entries.map(\.path) == [".minio.sys", ".minio.sys/format.json", ".minio.sys/tmp", "bucket", "bucket/a.pdf", "bucket/deep"])
    }

    @Test func globPatterns() {
        #expect(GlobPattern(".minio.sys/tmp/**").matches(".minio.sys/tmp/a/b", isDirectory: false))
        #expect(!GlobPattern(".minio.sys/tmp/**").matches(".minio.sys/tmp", isDirectory: true))
        #expect(GlobPattern("*.log").matches("a/b/c.log", isDirectory: false))
        #expect(!GlobPattern("/a/*.log").matches("b/a/c.log", isDirectory: false))
        #expect(GlobPattern("**/cache/*").matches("x/y/cache/z", isDirectory: false))
        #expect(GlobPattern("cache/").matches("x/cache", isDirectory: true) && !GlobPattern("cache/").matches("x/cache", isDirectory: false))
        #expect(GlobPattern("file[0-9].txt").matches("file7.txt", isDirectory: false))
    }

    @Test func filesSourceGlobsAndMissingFiles() async throws {
        let dir = try TemporaryDirectory("files")
        defer { dir.remove() }
        try writeFile(dir.sub("nginx/a.conf"), "a")
        try writeFile(dir.sub("nginx/b.conf"), "b")
        try writeFile(dir.sub(".env"), "X=1")
        let source = FilesSource(name: "config", configuration: .init(paths: [dir.sub(".env"), dir.sub("nginx/*.conf"), dir.sub("nginx/a.conf")]))
        let writer = InterferingWriter()
        _ = try source.write(SourceArtifact(subject: "s", content: .tree), to: writer, context: context(Warnings()))
        let prefix = String(dir.path.dropFirst())
        #expect(writer.entries.map(\.path.description) == ["\(prefix)/.env", "\(prefix)/nginx/a.conf", "\(prefix)/nginx/b.conf"])
        let missing = FilesSource(name: "config", configuration: .init(paths: [dir.sub("nope.yml")]))
        await #expect(throws: BackupError.self) { try await missing.prepare(context(Warnings())) }
        let noMatch = FilesSource(name: "config", configuration: .init(paths: [dir.sub("*.nothing")]))
        await #expect(throws: BackupError.self) { try await noMatch.prepare(context(Warnings())) }
    }
}
