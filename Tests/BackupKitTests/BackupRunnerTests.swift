import BackupKit
import BackupNotifiers
import BackupSinks
import BackupSources
import Foundation
import Synchronization
import Testing

/// The runner's steps and its fail-closed rules, on real files.
@Suite struct BackupRunnerTests {
    static func plan(_ dir: TemporaryDirectory, sinks: [any Sink]? = nil, notifiers: [any Notifier] = [],
                     verification: VerificationPolicy = VerificationPolicy(), retention: RetentionPolicy = .standard) -> BackupPlan {
        BackupPlan(
            name: "app",
            sources: [DirectorySource(name: "minio", configuration: .init(path: dir.sub("data"), subject: "pdfs")),
                      FilesSource(name: "config", configuration: .init(paths: [dir.sub("etc/app.env")]))],
            sinks: sinks ?? [LocalSink(directory: dir.sub("backups"))], notifiers: notifiers,
            verification: verification, retention: retention
        )
    }

    static func fill(_ dir: TemporaryDirectory, bytes: Int = 300_000) throws {
        try writeFile(dir.sub("data/blob.bin"), pseudoRandomBytes(bytes))
        try writeFile(dir.sub("etc/app.env"), "A=1\n")
    }

    @Test func eventsComeInOrderAndEndWithTheReport() async throws {
        let dir = try TemporaryDirectory("events")
        defer { dir.remove() }
        try Self.fill(dir)
        var events: [String] = []
        let report = await BackupRunner(plan: Self.plan(dir), logger: testLogger).run { event in
            switch event {
            case .started: events.append("started")
            case .artifactStarted(let source, _): events.append("start \(source)")
            case .verified(_, let passed, _): events.append("verified \(passed)")
            case .stored(_, let sink): events.append("stored \(sink)")
            case .manifestWritten: events.append("manifest")
            case .finished: events.append("finished")
            default: break
            }
        }
        #expect(events == ["started", "start minio", "verified true", "start config", "verified true", "stored local", "stored local", "manifest", "finished"])
        #expect(report.status == .succeeded)
        #expect(report.artifacts.map(\.source) == ["minio", "config"])
        #expect(report.artifacts.allSatisfy { $0.verification.status == .passed && $0.sha256.count == 64 })
    }

    @Test func aShrunkArtifactFailsVerificationAndIsNotStored() async throws {
        let dir = try TemporaryDirectory("shrink")
        defer { dir.remove() }
        try Self.fill(dir, bytes: 400_000)
        let recorder = RecordingNotifier()
        let plan = Self.plan(dir, notifiers: [recorder], verification: VerificationPolicy(maxShrinkPercent: 50))
        #expect(await BackupRunner(plan: plan, logger: testLogger).run().status == .succeeded)
        try writeFile(dir.sub("data/blob.bin"), pseudoRandomBytes(100_000))
        let second = await BackupRunner(plan: plan, logger: testLogger).run()
        #expect(second.status == .failed)
        #expect(second.error?.code == .verificationFailed)
        #expect(second.error?.message.contains("smaller than the previous good set") == true, "\(String(describing: second.error))")
        let listed = try await LocalSink(directory: dir.sub("backups")).list()
        #expect(listed.count == 3, "only the first set is stored: \(listed.map(\.key))")
        #expect(recorder.alerts.map(\.event) == [.verificationFailure], "one alert, of the right kind")
    }

    @Test func minSizeAndEmptySourcesFail() async throws {
        let dir = try TemporaryDirectory("minsize")
        defer { dir.remove() }
        try Self.fill(dir)
        let small = await BackupRunner(plan: Self.plan(dir, verification: VerificationPolicy(minSize: ByteSize(1 << 30))), logger: testLogger).run()
        #expect(small.error?.code == .verificationFailed && small.error?.message.contains("below the plan's min_size") == true)
        try FileManager.default.removeItem(atPath: dir.sub("data/blob.bin"))
        let empty = await BackupRunner(plan: Self.plan(dir), logger: testLogger).run()
        #expect(empty.error?.code == .verificationFailed, "\(String(describing: empty.error))")
        #expect(empty.error?.message.contains("empty") == true)
        #expect(try await LocalSink(directory: dir.sub("backups")).list().isEmpty)
    }

    @Test func aFailingSinkDegradesTheRunAndTheOthersStillGetTheSet() async throws {
        let dir = try TemporaryDirectory("degraded")
        defer { dir.remove() }
        try Self.fill(dir)
        let recorder = RecordingNotifier()
        let local = LocalSink(directory: dir.sub("backups"))
        let report = await BackupRunner(plan: Self.plan(dir, sinks: [FailingSink(), local], notifiers: [recorder]), logger: testLogger).run()
        #expect(report.status == .degraded)
        #expect(report.sinks.map(\.sink) == ["broken", "local"] && report.sinks.map(\.status) == [.failed, .stored])
        #expect(report.sinks[0].error?.contains("disk on fire") == true)
        let catalog = try await Self.plan(dir).catalog(in: local)
        let manifest = try #require(catalog.newestGood?.manifest)
        #expect(manifest.sinks.first { $0.sink == "broken" }?.status == .failed, "the manifest records every sink's outcome")
        #expect(recorder.alerts.map(\.event) == [.degraded])
    }

    @Test func aFailedRunAlertsOncePerNotifierAndNeverPrunes() async throws {
        let dir = try TemporaryDirectory("failed")
        defer { dir.remove() }
        try Self.fill(dir)
        let plan = Self.plan(dir, retention: RetentionPolicy(keepLast: 1))
        // The first set a minute back, on the runner's clock, so the two sets' timestamps differ.
        let earlier = Date().addingTimeInterval(-60)
        #expect(await BackupRunner(plan: plan, logger: testLogger, now: { earlier }).run(.init(prune: false)).status == .succeeded)
        #expect(await BackupRunner(plan: plan, logger: testLogger).run(.init(prune: false)).status == .succeeded)
        let before = try await LocalSink(directory: dir.sub("backups")).list().count
        #expect(before == 6)

        try FileManager.default.removeItem(atPath: dir.sub("etc/app.env"))
        let first = RecordingNotifier(name: "first"), second = RecordingNotifier(name: "second")
        var failing = plan
        failing.notifiers = [FilteredNotifier(first), FilteredNotifier(second), FilteredNotifier(BrokenNotifier())]
        let report = await BackupRunner(plan: failing, logger: testLogger).run()
        #expect(report.status == .failed)
        #expect(report.error?.message.contains("app.env") == true, "\(String(describing: report.error))")
        #expect(first.alerts.map(\.event) == [.failure] && second.alerts.map(\.event) == [.failure])
        #expect(first.alerts.first?.summary.contains("FAILED") == true)
        #expect(report.notifications.contains { $0.notifier == "broken" && $0.error != nil }, "a broken notifier is recorded")
        #expect(try await LocalSink(directory: dir.sub("backups")).list().count == before, "retention never runs after a failure")
        #expect(report.pruned.isEmpty)
    }

    @Test func retentionRunsAfterSuccessAndKeepsTheNewest() async throws {
        let dir = try TemporaryDirectory("retention")
        defer { dir.remove() }
        try Self.fill(dir)
        let plan = Self.plan(dir, retention: RetentionPolicy(keepLast: 2))
        var sets: [SetTimestamp] = []
        for _ in 0..<3 {
            let report = await BackupRunner(plan: plan, logger: testLogger).run()
            #expect(report.status == .succeeded)
            sets.append(try #require(report.set))
        }
        #expect(Set(sets).count == 3, "runs in the same second get distinct sets")
        let catalog = try await Self.plan(dir).catalog(in: LocalSink(directory: dir.sub("backups")))
        #expect(catalog.sets.map(\.timestamp) == Array(sets.suffix(2)))
    }

    @Test func onlyAndTagMakeAPartialTaggedSet() async throws {
        let dir = try TemporaryDirectory("only")
        defer { dir.remove() }
        try Self.fill(dir)
        let report = await BackupRunner(plan: Self.plan(dir), logger: testLogger).run(.init(onlySources: ["config"], tag: "pre-deploy"))
        #expect(report.status == .succeeded && report.artifacts.map(\.source) == ["config"])
        let catalog = try await Self.plan(dir).catalog(in: LocalSink(directory: dir.sub("backups")))
        #expect(catalog.newestGood?.manifest?.tag == "pre-deploy")
        #expect(catalog.newestGood?.manifest?.isPartial == true)
        let bad = await BackupRunner(plan: Self.plan(dir), logger: testLogger).run(.init(onlySources: ["nope"]))
        #expect(bad.error?.code == .usage)
    }
}

/// A sink whose every put fails, as a remote that is down would.
struct FailingSink: Sink {
    var name: String { "broken" }
    var capabilities: SinkCapabilities { SinkCapabilities() }
    func put(_ key: String, from file: StagedFile) async throws -> StoreReceipt { throw BackupError(.sinkFailed, "disk on fire", kind: .transient) }
    func get(_ key: String, into output: ByteDestination) async throws { throw BackupError(.notFound, "nothing here") }
    func list() async throws -> [StoredObject] { [] }
    func delete(_ key: String) async throws { throw BackupError(.notFound, "nothing here") }
}

/// A notifier that always fails.
struct BrokenNotifier: Notifier {
    var name: String { "broken" }
    func send(_ alert: Alert) async throws { throw BackupError(.io, "connection refused") }
}
