import BackupKit
import BackupSinks
import BackupSources
import Foundation
import Glibc
import Synchronization
import Testing

/// A run reads each sink's catalog once and hands it to every step; a plan's lock, state and staging
/// live in its state directory; a local sink sweeps its own leftovers.
@Suite struct OnePassTests {
    /// A local sink that counts how often it is listed.
    final class CountingSink: Sink {
        let base: LocalSink
        let name: String
        private let listings = Mutex(0)
        init(name: String, directory: String, failures: Int = 0) {
            self.name = name
            self.failures = failures
            base = LocalSink(name: name, directory: directory)
        }
        var capabilities: SinkCapabilities { base.capabilities }
        var listCount: Int { listings.withLock { $0 } }
        /// The local sink's own check, which probes without listing.
        func preflight() async throws { try await base.preflight() }
        func put(_ key: String, from file: StagedFile) async throws -> StoreReceipt { try await base.put(key, from: file) }
        func get(_ key: String, into output: ByteDestination) async throws { try await base.get(key, into: output) }
        /// The first `failures` listings fail as a network would.
        let failures: Int
        func list() async throws -> [StoredObject] {
            let count = listings.withLock { count in
                count += 1
                return count
            }
            if count <= failures { throw BackupError(.sinkFailed, "listing \(name) timed out", kind: .transient) }
            return try await base.list()
        }
        func delete(_ key: String) async throws { try await base.delete(key) }
    }

    @Test func eachSinkIsListedOncePerRunAndRetentionSeesTheNewSet() async throws {
        let dir = try TemporaryDirectory("one-pass")
        defer { dir.remove() }
        try BackupRunnerTests.fill(dir)
        let local = CountingSink(name: "local", directory: dir.sub("backups"))
        let other = CountingSink(name: "other", directory: dir.sub("other"))
        let plan = BackupRunnerTests.plan(dir, sinks: [local, other], retention: RetentionPolicy(keepLast: 2))
        var sets: [SetTimestamp] = []
        for minutesAgo in [3, 2, 1] {
            let at = Date().addingTimeInterval(Double(-60 * minutesAgo))
            let before = (local.listCount, other.listCount)
            let report = await BackupRunner(plan: plan, logger: testLogger, now: { at }).run()
            #expect(report.status == .succeeded, "\(String(describing: report.error))")
            sets.append(try #require(report.set))
            // The shrink check, the timestamp and retention share one listing of the local sink; the
            // other sink is listed once, for retention.
            #expect(local.listCount - before.0 == 1 && other.listCount - before.1 == 1, "listed \(local.listCount - before.0) and \(other.listCount - before.1) times")
        }
        for sink in [local.base, LocalSink(name: "other", directory: dir.sub("other"))] {
            let catalog = try await plan.catalog(in: sink)
            // keep_last 2 counted the set just stored, although the local catalog was read before it existed.
            #expect(catalog.sets.map(\.timestamp) == Array(sets.suffix(2)), "\(sink.name): \(catalog.sets.map(\.timestamp))")
        }
    }

    @Test func aBeforeBackupHookMakesTheRunReadTheSinksAgain() async throws {
        let dir = try TemporaryDirectory("one-pass-hook")
        defer { dir.remove() }
        try BackupRunnerTests.fill(dir)
        let local = CountingSink(name: "local", directory: dir.sub("backups"))
        var plan = BackupRunnerTests.plan(dir, sinks: [local], retention: RetentionPolicy(keepLast: 1))
        plan.hooks = HookSettings(beforeBackup: ["true"])
        let report = await BackupRunner(plan: plan, logger: testLogger).run()
        #expect(report.status == .succeeded, "\(String(describing: report.error))")
        // Once for the timestamp and the shrink check, once more after the hook (which may have mounted
        // or changed the sink) for retention.
        #expect(local.listCount == 2, "listed \(local.listCount) times")
    }

    @Test func aSinkThatCouldNotBeListedIsListedAgainForRetention() async throws {
        let dir = try TemporaryDirectory("one-pass-retry")
        defer { dir.remove() }
        try BackupRunnerTests.fill(dir)
        let earlier = Date().addingTimeInterval(-60)
        let plan = BackupRunnerTests.plan(dir, retention: RetentionPolicy(keepLast: 1))
        #expect(await BackupRunner(plan: plan, logger: testLogger, now: { earlier }).run().status == .succeeded)
        let flaky = CountingSink(name: "local", directory: dir.sub("backups"), failures: 1)
        let report = await BackupRunner(plan: BackupRunnerTests.plan(dir, sinks: [flaky], retention: RetentionPolicy(keepLast: 1)), logger: testLogger).run()
        #expect(report.status == .succeeded, "\(String(describing: report.error))")
        #expect(report.warnings.contains { $0.contains("cannot read sink 'local'") }, "\(report.warnings)")
        #expect(flaky.listCount == 2, "the failed listing was tried again for retention")
        #expect(report.pruned.first?.error == nil && report.pruned.first?.deleted.count == 1, "\(report.pruned)")
    }

    @Test func theLockStateAndStagingLiveInTheStateDirectory() async throws {
        let dir = try TemporaryDirectory("state-dir")
        defer { dir.remove() }
        try writeFile(dir.sub("data/a.txt"), "alpha\n")
        try writeFile(dir.sub("backup.yml"), """
            name: app
            state_dir: ./state
            sources: [{ name: files, type: directory, path: ./data }]
            sinks: [{ name: local, type: local, path: ./backups }]
            """)
        let plan = try PlanLoader(registry: standardRegistry(), environment: [:]).load(file: dir.sub("backup.yml"))
        #expect(plan.lockPath == dir.sub("state/.backupctl-app.lock"))
        #expect(plan.statePath == dir.sub("state/.backupctl-app.state.json"))
        #expect(plan.resolvedStagingDirectory == dir.sub("state/.staging"))
        let run = try backupctl(["run"], in: dir.path)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(FileManager.default.fileExists(atPath: dir.sub("state/.backupctl-app.state.json")))
        let hidden = try FileManager.default.contentsOfDirectory(atPath: dir.sub("backups")).filter { $0.hasPrefix(".") }
        #expect(hidden.isEmpty, "nothing of the plan's own is left in the sink: \(hidden)")
        let status = try backupctl(["status", "--json"], in: dir.path)
        #expect(status.status == 0 && status.stdout.contains("succeeded"), "status reads the state from the state directory: \(status.stdout)")

        // Without state_dir, the first local sink's directory keeps them, as before.
        let plain = BackupRunnerTests.plan(dir)
        #expect(plain.lockPath == dir.sub("backups/.backupctl-app.lock") && plain.resolvedStagingDirectory == dir.sub("backups/.staging"))
    }

    @Test func aLocalSinkSweepsItsOwnStaleTemporaryFilesWhenListed() async throws {
        let dir = try TemporaryDirectory("sweep")
        defer { dir.remove() }
        try writeFile(dir.sub("db_app_20240101_000000.sql.gz"), "x")
        let leftover = dir.sub(".db_app_20240102_000000.sql.gz.tmp-old"), other = dir.sub(".not-ours")
        for path in [leftover, other] { try writeFile(path, "partial") }
        // A put that hard-links a staged file into place gives its temporary name the staged file's old
        // mtime; the link's ctime is what shows that the put is recent.
        let twoDaysAgo = timespec(tv_sec: time(nil) - 2 * 86400, tv_nsec: 0)
        #expect(utimensat(AT_FDCWD, leftover, [twoDaysAgo, twoDaysAgo], 0) == 0)

        let today = LocalSink(name: "local", directory: dir.path, now: { Date() })
        #expect(try await today.list().map(\.key) == ["db_app_20240101_000000.sql.gz"])
        #expect(FileManager.default.fileExists(atPath: leftover), "changed less than a day ago (ctime): it may belong to a put in progress")

        let twoDaysLater = LocalSink(name: "local", directory: dir.path, now: { Date().addingTimeInterval(2 * 86400) })
        #expect(try await twoDaysLater.list().map(\.key) == ["db_app_20240101_000000.sql.gz"])
        #expect(!FileManager.default.fileExists(atPath: leftover), "a temporary file a day old is gone")
        #expect(FileManager.default.fileExists(atPath: other), "files that are not the sink's own temporary files stay")
    }
}
