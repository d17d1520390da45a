import BackupKit
import BackupNotifiers
import BackupSinks
import BackupSources
import Foundation
import Testing

/// Backs up and restores a tree with every kind of entry, through the runner and the restorer, in
/// both tar formats, and checks that GNU tar, gunzip and zstd accept what we wrote.
@Suite struct TreeRoundTripTests {
    @Test(arguments: [Compression.gzip, Compression.zstd])
    func treeComesBackIdentical(compression: Compression) async throws {
        let dir = try TemporaryDirectory("tree")
        defer { dir.remove() }
        let source = dir.sub("source")
        try TreeFixture.build(at: source)
        let sink = LocalSink(directory: dir.sub("backups"))
        let plan = BackupPlan(
            name: "tree", sources: [PlanSource(DirectorySource(name: "data", configuration: .init(path: source)))],
            sinks: [sink], archive: ArchiveSettings(compression: compression)
        )
        let report = await BackupRunner(plan: plan, logger: testLogger).run()
        #expect(report.status == .succeeded, "\(String(describing: report.error))")
        #expect(report.warnings.isEmpty, "\(report.warnings)")
        let artifact = try #require(report.artifacts.first)
        #expect(artifact.name.hasSuffix(compression == .gzip ? ".tar.gz" : ".tar.zst"))

        let restored = dir.sub("restored")
        let reports = try await Restorer(plan: plan, logger: testLogger).restore(.init(destination: .directory(restored)))
        #expect(reports.count == 1)

        let before = TreeFixture.snapshot(source), after = TreeFixture.snapshot(restored)
        #expect(before.keys.sorted() == after.keys.sorted())
        for (path, node) in before {
            #expect(after[path] == node, "\(path): archived \(node), restored \(String(describing: after[path]))")
        }
        #expect(TreeFixture.hardlinkGroups(restored) == [["data/original", "other/hardlink"]])
        #expect(before[TreeFixture.longName] != nil && before["d1/d2/d3/d4/d5/d6/d7/d8/d9/d10/d11/d12/d13/d14/d15/d16/d17/d18/d19/d20/d21/d22/d23/d24/d25/d26/d27/d28/d29/d30/bottom.txt"] != nil)

        // Other tools read what we wrote.
        let path = dir.sub("backups/\(artifact.name)")
        if compression == .gzip {
            #expect(try runProcess("/bin/gunzip", ["-t", path]).status == 0)
            let listing = try runProcess("/bin/tar", ["tzf", path])
            #expect(listing.status == 0, "\(listing.stderr)")
            let names = Set(listing.stdout.split(separator: "\n").map { String($0).trimmingSuffixSlash() })
            #expect(names.contains(TreeFixture.longName))
            for name in TreeFixture.unicodeNames { #expect(names.contains(name), "GNU tar lists \(name)") }
            #expect(listing.stderr.isEmpty, "GNU tar warned: \(listing.stderr)")
        } else {
            #expect(try runProcess("/usr/bin/zstd", ["-q", "-t", path]).status == 0)
            let listing = try runProcess("/bin/tar", ["--zstd", "-tf", path])
            #expect(listing.status == 0 && listing.stderr.isEmpty, "\(listing.stderr)")
        }
    }

    @Test func gnuTarExtractsWhatWeWrote() async throws {
        let dir = try TemporaryDirectory("gnutar")
        defer { dir.remove() }
        let source = dir.sub("source")
        try TreeFixture.build(at: source)
        let plan = BackupPlan(name: "tree", sources: [DirectorySource(name: "data", configuration: .init(path: source))],
                              sinks: [LocalSink(directory: dir.sub("backups"))])
        let report = await BackupRunner(plan: plan, logger: testLogger).run()
        let artifact = try #require(report.artifacts.first)
        try FileManager.default.createDirectory(atPath: dir.sub("gnu"), withIntermediateDirectories: true)
        let extract = try runProcess("/bin/tar", ["xzf", dir.sub("backups/\(artifact.name)"), "-C", dir.sub("gnu")])
        #expect(extract.status == 0, "\(extract.stderr)")
        let before = TreeFixture.snapshot(source), after = TreeFixture.snapshot(dir.sub("gnu"))
        for (path, node) in before where node.type == "file" {
            #expect(after[path]?.content == node.content && after[path]?.mode == node.mode, "\(path)")
        }
    }
}

extension String {
    func trimmingSuffixSlash() -> String { hasSuffix("/") ? String(dropLast()) : self }
}
