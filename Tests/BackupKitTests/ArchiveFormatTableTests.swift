import BackupKit
import BackupSinks
import BackupSources
import Foundation
import Testing

/// Formats come from one table in the registry: a user's own format is named in a plan, written,
/// recorded in the manifest, and read back for verification and restores, like the standard ones.
@Suite struct ArchiveFormatTableTests {
    /// A user's format: uncompressed tar under its own name and suffix.
    struct PlainTarFormat: ArchiveFormat {
        var name: String { "tar.plain" }
        var layout: ArchiveLayout { .tree }
        var fileExtension: String { "tarp" }
        func makeWriter(output: @escaping ByteOutput) throws -> any ArchiveWriter { try TarFormat(compression: .none).makeWriter(output: output) }
        func makeReader(input: @escaping ByteInput) throws -> any ArchiveReader { try TarFormat(compression: .none).makeReader(input: input) }
    }

    static func registry() -> PlanRegistry {
        var registry = standardRegistry()
        registry.registerFormat(PlainTarFormat(), aliases: ["plain"], streamFormat: "raw")
        return registry
    }

    @Test func aRegisteredFormatIsWrittenVerifiedAndRestored() async throws {
        let dir = try TemporaryDirectory("custom-format")
        defer { dir.remove() }
        try writeFile(dir.sub("data/a.txt"), "alpha\n")
        let plan = try PlanLoader(registry: Self.registry(), environment: [:]).load(yaml: """
            name: formats
            archive: { format: plain }
            sources: [{ name: data, type: directory, path: ./data }]
            sinks: [{ name: local, type: local, path: ./backups }]
            """, origin: "backup.yml", baseDirectory: dir.path)
        #expect(plan.archive.format == "tar.plain", "an alias is stored under the format's own name")

        let report = await BackupRunner(plan: plan, logger: testLogger).run()
        #expect(report.status == .succeeded, "\(String(describing: report.error))")
        let artifact = try #require(report.artifacts.first)
        #expect(artifact.name.hasSuffix(".tarp"), "\(artifact.name)")
        #expect(artifact.format == "tar.plain")
        #expect(try runProcess("/bin/tar", ["tf", dir.sub("backups/\(artifact.name)")]).stdout.contains("a.txt"))

        let restored = try await Restorer(plan: plan, logger: testLogger).restore(.init(destination: .directory(dir.sub("restored"))))
        #expect(restored.map(\.entries) == [1])
        #expect(readFile(dir.sub("restored/a.txt")) == Array("alpha\n".utf8))
    }

    @Test func anUnknownFormatNamesTheRegisteredOnes() throws {
        let error = #expect(throws: BackupError.self) {
            try PlanLoader(registry: Self.registry(), environment: [:]).load(yaml: """
                archive: { format: tar.lz4 }
                sources: [{ name: data, type: directory, path: ./data }]
                sinks: [{ name: local, type: local, path: ./backups }]
                """, origin: "backup.yml", baseDirectory: "/srv")
        }
        let message = error?.message ?? ""
        #expect(message.contains("unknown format 'tar.lz4'") && message.contains("tar.plain") && message.contains("tar.zst"), "\(message)")
    }

    @Test func aStreamSourceTakesTheTreeFormatsStreamFormat() throws {
        let table = Self.registry().formats
        #expect(table.format(named: "tgz")?.name == "tar.gz")
        #expect(table.format(named: "gz")?.layout == .stream)
        #expect(table.format(named: "lz4") == nil)
        for (name, meant) in [("gz", "tar.gz"), ("zst", "tar.zst"), ("tgz", "tar.gz"), ("plain", "tar.plain")] {
            let plan = try PlanLoader(registry: Self.registry(), environment: [:]).load(yaml: """
                archive: { format: \(name) }
                sources: [{ name: data, type: directory, path: ./data }]
                sinks: [{ name: local, type: local, path: ./backups }]
                """, origin: "backup.yml", baseDirectory: "/srv")
            #expect(plan.archive.format == meant, "format: \(name)")
        }
        var lonely = ArchiveFormatTable()
        lonely.register(PlainTarFormat())
        let dump = SourceArtifact(subject: "app", content: .stream(fileExtension: "sql"))
        let error = #expect(throws: BackupError.self) {
            _ = try ArchiveSettings(format: "tar.plain").format(for: dump, in: lonely)
        }
        #expect(error?.message.contains("names no format for streams") == true, "\(String(describing: error))")
        let planned = try ArchiveSettings(format: "tar.zst", level: 5).format(for: dump, in: .standard)
        #expect(planned.name == "zst" && planned.fileExtension == "zst")
    }
}
