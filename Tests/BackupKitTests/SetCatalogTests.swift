import BackupKit
import BackupSinks
import BackupSources
import Foundation
import Glibc
import Testing

/// What a sink's listing says about a plan's sets, when plans share a directory and manifests go bad.
@Suite struct SetCatalogTests {
    static func plan(_ name: String, source: String, dir: TemporaryDirectory, retention: RetentionPolicy = RetentionPolicy(keepLast: 1)) -> BackupPlan {
        BackupPlan(name: name, sources: [PlanSource(DirectorySource(name: source, configuration: .init(path: dir.sub("data"), subject: name)))],
                   sinks: [LocalSink(directory: dir.sub("backups"))], retention: retention)
    }

    /// Two plans with a source of the same name share a directory: one's unfinished files are never
    /// the other's to delete.
    @Test func anotherPlansUnfinishedSetIsLeftAlone() async throws {
        let dir = try TemporaryDirectory("catalog-shared")
        defer { dir.remove() }
        try writeFile(dir.sub("data/a.txt"), "a")
        let app = Self.plan("app", source: "db", dir: dir), billing = Self.plan("billing", source: "db", dir: dir)
        #expect(await BackupRunner(plan: app, logger: testLogger).run().status == .succeeded)
        // app's next run is still uploading elsewhere: its local file has no manifest yet, and is old.
        let orphan = dir.sub("backups/db_app_20240101_000000.tar.gz")
        try writeFile(orphan, "still uploading", mode: 0o600)
        var old = [timespec(tv_sec: 1_700_000_000, tv_nsec: 0), timespec(tv_sec: 1_700_000_000, tv_nsec: 0)]
        utimensat(AT_FDCWD, orphan, &old, 0)
        for _ in 0..<2 { #expect(await BackupRunner(plan: billing, logger: testLogger).run().status == .succeeded) }
        #expect(FileManager.default.fileExists(atPath: orphan), "billing's retention left app's file alone")
        // app's own prune does take its old, manifest-less leftovers.
        #expect(try await app.catalog(in: LocalSink(directory: dir.sub("backups"))).sets.contains { $0.manifest == nil })
        _ = await Pruner(plan: app, logger: testLogger).prune(LocalSink(directory: dir.sub("backups")), dryRun: false)
        #expect(!FileManager.default.fileExists(atPath: orphan))
    }

    @Test func aSetWithAnUndecodableManifestIsKept() async throws {
        let dir = try TemporaryDirectory("catalog-bad-manifest")
        defer { dir.remove() }
        try writeFile(dir.sub("data/a.txt"), "a")
        let plan = Self.plan("app", source: "files", dir: dir)
        // The first set a minute back, on the runner's clock, so the second run's set is newer.
        let earlier = Date().addingTimeInterval(-60)
        let first = await BackupRunner(plan: plan, logger: testLogger, now: { earlier }).run()
        let manifestPath = dir.sub("backups/manifest_app_\(try #require(first.set)).json")
        try writeFile(manifestPath, "{ this is not json", mode: 0o600)
        #expect(await BackupRunner(plan: plan, logger: testLogger).run().status == .succeeded)
        #expect(FileManager.default.fileExists(atPath: manifestPath), "kept for inspection, not pruned by keep_last: 1")
        let catalog = try await plan.catalog(in: LocalSink(directory: dir.sub("backups")))
        #expect(catalog.sets.first?.problem == "unreadable manifest" && catalog.sets.first?.protection != nil)
    }
}
