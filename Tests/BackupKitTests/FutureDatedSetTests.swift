import BackupKit
import BackupSinks
import BackupSources
import Foundation
import Testing

/// A set dated ahead of the clock (a host whose clock was a year off, a tampered manifest) never counts
/// as fresh or as the newest set, and retention never deletes it nor the real sets because of it.
@Suite(.serialized) struct FutureDatedSetTests {
    static let aYear: TimeInterval = 365 * 86400

    static func loadPlan(_ dir: TemporaryDirectory) throws -> BackupPlan {
        try PlanLoader(registry: standardRegistry(), environment: [:])
            .load(yaml: String(decoding: readFile(dir.sub("backup.yml")) ?? [], as: UTF8.self), origin: "backup.yml", baseDirectory: dir.path)
    }

    static func sinkStatus(_ output: String) throws -> [String: Any] {
        let report = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        return try #require((report["sinks"] as? [[String: Any]])?.first)
    }

    @Test func aSetDatedAYearAheadIsFlaggedAndNeverFreshOrLatest() async throws {
        let dir = try OperationsTests.workspace("future", extra: "retention: { keep_last: 1 }")
        defer { dir.remove() }
        let plan = try Self.loadPlan(dir)
        try writeFile(dir.sub("data/readme.txt"), "from the future\n")
        let ahead = Date().addingTimeInterval(Self.aYear)
        let future = try #require(await BackupRunner(plan: plan, logger: testLogger, now: { ahead }).run().set)
        let futureManifest = dir.sub("backups/manifest_ops_\(future).json")
        #expect(FileManager.default.fileExists(atPath: futureManifest))

        // Only the future set: no good set, so stale, and `list` says why.
        let alone = try backupctl(["status", "--max-age", "1h"], in: dir.path)
        #expect(alone.status == 15, "a set a year ahead is not fresh: \(alone.stdout)")
        #expect(alone.stdout.contains("no good set") && alone.stdout.contains("\(future)") && alone.stdout.contains("in the future"), "\(alone.stdout)")
        let listed = try backupctl(["list"], in: dir.path)
        let futureLine = listed.stdout.split(separator: "\n").first { $0.contains("\(future)  ") }
        #expect(futureLine?.contains(" bad ") == true && listed.stdout.contains("in the future"), "\(listed.stdout)")
        let refused = try backupctl(["restore", "--latest", "--to", dir.sub("restore/none")], in: dir.path)
        #expect(refused.status != 0 && listTree(dir.sub("restore/none")).isEmpty, "\(refused.stdout)\(refused.stderr)")

        // A normal run warns of it, is the newest good set, and keep_last: 1 deletes neither.
        try writeFile(dir.sub("data/readme.txt"), "from today\n")
        let normal = await BackupRunner(plan: plan, logger: testLogger).run()
        #expect(normal.status == .succeeded)
        let present = try #require(normal.set)
        #expect(normal.warnings.contains { $0.contains("\(future)") && $0.contains("in the future") }, "\(normal.warnings)")
        #expect(FileManager.default.fileExists(atPath: futureManifest), "the future set is kept for inspection")
        #expect(FileManager.default.fileExists(atPath: dir.sub("backups/manifest_ops_\(present).json")), "the real set is not pruned for it")

        let status = try backupctl(["status", "--max-age", "1h", "--json"], in: dir.path)
        #expect(status.status == 0, "judged by the normal set: \(status.stdout)")
        let sink = try Self.sinkStatus(status.stdout)
        #expect(sink["newest_good_set"] as? String == present.description)
        #expect((sink["age_seconds"] as? Double ?? -1) >= 0)
        #expect(sink["future_dated_sets"] as? [String] == [future.description])

        let target = dir.sub("restore/latest")
        let restore = try backupctl(["restore", "--latest", "--to", target], in: dir.path)
        #expect(restore.status == 0, "\(restore.stdout)\(restore.stderr)")
        let restored = listTree(target).filter { $0.hasSuffix("readme.txt") }
        #expect(restored.count == 1 && restored.allSatisfy { String(decoding: readFile(target + "/" + $0) ?? [], as: UTF8.self) == "from today\n" },
                "the normal set is restored: \(listTree(target))")
        let verify = try backupctl(["verify"], in: dir.path)
        #expect(verify.status == 0 && verify.stdout.contains("\(present)"), "verify checks the normal set: \(verify.stdout)\(verify.stderr)")

        // Another run: keep_last: 1 now deletes the older normal set, never the future one.
        try await Task.sleep(for: .seconds(1.1))
        let next = await BackupRunner(plan: plan, logger: testLogger).run()
        #expect(next.status == .succeeded && next.pruned.flatMap(\.deleted) == [present], "\(next.pruned)")
        #expect(FileManager.default.fileExists(atPath: futureManifest))
    }

    /// Clocks of hosts sharing a sink may disagree by minutes: within ``SetCatalog/futureTolerance``
    /// a set is still good.
    @Test func aSetWithinTheClockSkewToleranceIsGood() async throws {
        let dir = try TemporaryDirectory("future-tolerance")
        defer { dir.remove() }
        try writeFile(dir.sub("data/a.txt"), "a")
        let plan = SetCatalogTests.plan("app", source: "files", dir: dir)
        let set = try #require(await BackupRunner(plan: plan, logger: testLogger).run().set)
        let sink = LocalSink(directory: dir.sub("backups"))
        let skewed = try await plan.catalog(in: sink, now: set.date.addingTimeInterval(-SetCatalog.futureTolerance / 2))
        #expect(skewed.newestGood?.timestamp == set)
        let ahead = try await plan.catalog(in: sink, now: set.date.addingTimeInterval(-SetCatalog.futureTolerance - 60))
        #expect(ahead.newestGood == nil && ahead.futureDated.map(\.timestamp) == [set])
        #expect(ahead.sets.first?.protection != nil, "retention keeps it")
        if case .futureDated(let by) = ahead.sets.first?.health { #expect(by > SetCatalog.futureTolerance) } else { Issue.record("not flagged") }
    }
}
