import BackupKit
import BackupSinks
import BackupSources
import BackupTransport
import Foundation
import Glibc
import Synchronization
import Testing

/// Phase progress as an embedding service sees it: the run's ``BackupEvent/phaseProgress(_:)`` events
/// and the `onProgress` of ``Restorer`` and ``StoredSetVerifier``: every phase starts running, reports
/// at most five times a second, ends exactly once, and counts the bytes it handled.
@Suite(.serialized) struct PhaseProgressTests {
    /// A source that writes `chunks` entries of 64 KiB, `pause` seconds apart, and says so up front.
    struct PacedSource: BackupSource {
        let name = "paced"
        var type: String { "paced" }
        var chunks = 20
        var pause = 0.05
        var bytes: Int64 { Int64(chunks) << 16 }

        func prepare(_ context: SourceContext) async throws -> [SourceArtifact] {
            [SourceArtifact(subject: "data", content: .tree, expectedContentBytes: bytes)]
        }

        func write(_ artifact: SourceArtifact, to archive: any ArchiveWriter, context: SourceContext) throws -> SourceReport {
            for index in 0..<chunks {
                try context.checkCancellation()
                usleep(useconds_t(pause * 1_000_000))
                let chunk = pseudoRandomBytes(1 << 16, seed: UInt64(index))
                try archive.beginEntry(ArchiveEntry(path: RawPath("part-\(index)"), kind: .file, size: Int64(chunk.count)))
                try chunk.withUnsafeBytes { try archive.write($0) }
                try archive.endEntry()
                context.progress(Int64(chunk.count))
            }
            return SourceReport()
        }

        func restore(_ request: RestoreRequest, from archive: any ArchiveReader, context: SourceContext) throws -> RestoreReport {
            try TreeRestore.restore(request, from: archive, context: context)
        }
    }

    /// Progress reports as they arrive.
    final class Recorder: Sendable {
        private let reports = Mutex<[PhaseProgress]>([])

        func record(_ progress: PhaseProgress) { reports.withLock { $0.append(progress) } }

        /// Each phase's reports, in order, by phase.
        func phases() -> [String: [PhaseProgress]] {
            Dictionary(grouping: reports.withLock { $0 }) { "\($0.phase)" }
        }
    }

    /// Every phase started running, never went backwards, and ended with exactly one `finished` report,
    /// its last, with `bytes` done (and `total`, when given, as its total).
    static func expectWellFormed(_ reports: [PhaseProgress]?, _ phase: String, bytes: Int64, total: Int64? = nil,
                                 sourceLocation: SourceLocation = #_sourceLocation) {
        guard let reports, let last = reports.last else {
            Issue.record("no report of phase \(phase)", sourceLocation: sourceLocation)
            return
        }
        #expect(reports.first?.state == .running, "\(phase) starts running", sourceLocation: sourceLocation)
        #expect(reports.dropLast().allSatisfy { $0.state == .running } && last.state == .finished,
                "\(phase): one end, last: \(reports.map(\.state))", sourceLocation: sourceLocation)
        #expect(zip(reports, reports.dropFirst()).allSatisfy { $0.bytesDone <= $1.bytesDone }, "\(phase) never goes back",
                sourceLocation: sourceLocation)
        #expect(last.bytesDone == bytes, "\(phase) ends with \(last.bytesDone) bytes, not \(bytes)", sourceLocation: sourceLocation)
        if let total { #expect(last.totalBytes == total && !last.totalIsEstimate, "\(phase) total", sourceLocation: sourceLocation) }
        #expect(Set(reports.map(\.startedAt)).count == 1, "\(phase) keeps its start time", sourceLocation: sourceLocation)
    }

    @Test func aRunReportsEachPhaseAtMostFiveTimesASecondAndEndsIt() async throws {
        let dir = try TemporaryDirectory("phase-progress")
        defer { dir.remove() }
        let source = PacedSource()
        let plan = BackupPlan(name: "app", sources: [source], sinks: [LocalSink(directory: dir.sub("backups")), InMemorySink(name: "memory")])
        let recorder = Recorder()
        let report = await BackupRunner(plan: plan, logger: testLogger).run { event in
            if case .phaseProgress(let progress) = event { recorder.record(progress) }
        }
        #expect(report.status == .succeeded, "\(String(describing: report.error))")
        let size = try #require(report.artifacts.first?.size)
        let phases = recorder.phases()
        #expect(Set(phases.keys) == ["archive", "verify", "upload(sink: \"local\")", "upload(sink: \"memory\")"], "\(phases.keys)")

        let archive = try #require(phases["archive"])
        Self.expectWellFormed(archive, "archive", bytes: source.bytes)
        #expect(archive.allSatisfy { $0.totalBytes == source.bytes && $0.totalIsEstimate }, "the source's estimate is the total")
        // About a second of writing (as the run timed it: the events may be read later, in a burst):
        // several reports, and no more than five a second.
        let running = archive.filter { $0.state == .running }
        let seconds = try #require(report.artifacts.first?.durationSeconds)
        #expect(seconds > 0.8, "\(seconds)")
        #expect(running.count >= 3 && Double(running.count) <= seconds * 5 + 2, "\(running.count) reports in \(seconds) s")
        #expect(running.dropFirst().contains { $0.bytesDone > 0 && $0.bytesDone < source.bytes }, "reports on the way")

        Self.expectWellFormed(phases["verify"], "verify", bytes: size, total: size)
        Self.expectWellFormed(phases["upload(sink: \"local\")"], "upload local", bytes: size, total: size)
        Self.expectWellFormed(phases["upload(sink: \"memory\")"], "upload memory", bytes: size, total: size)
    }

    @Test func aRestoreAndAVerificationReportTheirPhases() async throws {
        let dir = try TemporaryDirectory("phase-restore")
        defer { dir.remove() }
        let memory = InMemorySink(name: "memory")
        var plan = BackupPlan(name: "app", sources: [PacedSource(chunks: 8, pause: 0)], sinks: [memory])
        plan.stateDirectory = dir.path
        let report = await BackupRunner(plan: plan, logger: testLogger).run()
        let size = try #require(report.artifacts.first?.size)

        // The memory sink keeps no files here: the artifact is downloaded, checked, then restored.
        let restoring = Recorder()
        let restorer = Restorer(plan: plan, logger: testLogger, onProgress: restoring.record)
        _ = try await restorer.restore(Restorer.Options(destination: .directory(dir.sub("restored"))))
        let restored = restoring.phases()
        #expect(Set(restored.keys) == ["download(sink: \"memory\")", "verify", "restore"], "\(restored.keys)")
        Self.expectWellFormed(restored["download(sink: \"memory\")"], "download", bytes: size, total: size)
        Self.expectWellFormed(restored["verify"], "verify", bytes: size, total: size)
        Self.expectWellFormed(restored["restore"], "restore", bytes: size, total: size)

        let verifying = Recorder()
        let result = try await StoredSetVerifier(plan: plan, logger: testLogger, onProgress: verifying.record).verify(sink: memory, timestamp: nil)
        #expect(result.passed)
        let verified = verifying.phases()
        #expect(Set(verified.keys) == ["download(sink: \"memory\")", "verify"], "\(verified.keys)")
        Self.expectWellFormed(verified["verify"], "verify", bytes: size, total: size)
    }

    @Test func aFailedPhaseEndsFailed() async throws {
        let recorder = Recorder()
        await #expect(throws: CancellationError.self) {
            try await withPhaseProgress(.restore, artifact: "a.tar.gz", total: 10, report: recorder.record) { counter in
                counter.add(4)
                throw CancellationError()
            }
        }
        let reports = recorder.phases()["restore"] ?? []
        #expect(reports.map(\.state) == [.running, .failed] && reports.last?.bytesDone == 4, "\(reports)")
    }

    /// Counting happens in ``StagedFile/open()``: a sink needs no change to report its upload, and the
    /// S3 sink, which reads each part twice (to hash it, then to send it), counts each byte once.
    @Test func sinksReadingTheStagedFileCountEachByteOnce() async throws {
        let dir = try TemporaryDirectory("upload-count")
        defer { dir.remove() }
        let bytes = pseudoRandomBytes(12 << 20)
        var file = try StagedFile(writing: bytes, to: dir.sub("artifact.bin"))
        let s3 = try TestS3.load()
        let bucket = try s3.makeBucket("progress")
        let sinks: [any Sink] = [InMemorySink(), S3Sink(name: "offsite", settings: s3.settings(bucket: bucket, partSize: 5 << 20), environment: [:])]
        for sink in sinks {
            let counter = ByteCounter()
            file.progress = counter
            try await sink.put("artifact.bin", from: file)
            #expect(counter.value == Int64(bytes.count), "sink '\(sink.name)' counted \(counter.value) of \(bytes.count) bytes")
        }
        // An encrypted copy counts the ciphertext, which is what the sink stores.
        let identity = AgeIdentity.generate()
        var sealed = try file.encrypted(to: [identity.recipient])
        let counter = ByteCounter()
        sealed.progress = counter
        try await InMemorySink().put("artifact.bin.age", from: sealed)
        #expect(counter.value == sealed.digest.size)
    }
}
