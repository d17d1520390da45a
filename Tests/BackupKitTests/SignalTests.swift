import BackupKit
import BackupSinks
import Foundation
import Glibc
import Synchronization
import Testing

/// `backupctl run` stopped by SIGTERM or SIGINT, as systemd and Ctrl-C stop it: the first signal stops
/// at a safe point with the after_backup hooks, an alert, the state and a clean staging area; a second
/// signal ends the process at once.
@Suite(.serialized) struct SignalTests {
    static func start(_ arguments: [String], in directory: String, stderr: String? = nil) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: backupctlPath)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("BACKUP_") }
        process.standardOutput = FileHandle.nullDevice
        if let stderr {
            _ = FileManager.default.createFile(atPath: stderr, contents: nil)
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderr))
        } else {
            process.standardError = FileHandle.nullDevice
        }
        try process.run()
        return process
    }

    @Test(arguments: [SIGTERM, SIGINT])
    func theFirstSignalStopsAtASafePointWithHooksAlertAndState(signal: Int32) throws {
        let dir = try TemporaryDirectory("signal")
        defer { dir.remove() }
        let receiver = try TestHTTPReceiver.load()
        let path = TestHTTPReceiver.uniquePath("interrupted")
        let random = try #require(FileHandle(forReadingAtPath: "/dev/urandom"))
        for index in 0..<12 { try writeFile(dir.sub("data/big-\(index).bin"), Array(random.readData(ofLength: 25 << 20))) }
        try writeFile(dir.sub("backup.yml"), """
            name: demo
            sources: [{ name: minio, type: directory, path: ./data }]
            sinks: [{ name: local, type: local, path: ./backups }]
            hooks: { after_backup: ["echo $BACKUP_STATUS > after-backup-ran"] }
            notify: [{ name: hook, type: webhook, url: "\(receiver.url)\(path)" }]
            """)
        let process = try Self.start(["run"], in: dir.path)
        let staging = dir.sub("backups/.staging/demo")
        let writing = waitUntil(timeout: 30) {
            let partial = ((try? FileManager.default.contentsOfDirectory(atPath: staging)) ?? []).filter { $0.contains(".tmp-") }
            guard let name = partial.first, let size = (try? FileManager.default.attributesOfItem(atPath: staging + "/" + name))?[.size] as? Int else { return false }
            return size > 5 << 20
        }
        #expect(writing, "the run was writing the archive when the signal came")
        kill(process.processIdentifier, signal)
        process.waitUntilExit()

        #expect(process.terminationReason == .exit && process.terminationStatus == 16, "exit \(process.terminationStatus) (\(process.terminationReason))")
        #expect(readFile(dir.sub("after-backup-ran")).map { String(decoding: $0, as: UTF8.self) } == "failed\n", "after_backup ran with BACKUP_STATUS=failed")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: staging)) ?? []).isEmpty, "staging is clean")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: dir.sub("backups"))) ?? []).filter { !$0.hasPrefix(".") }.isEmpty, "nothing under a final name")
        let alerts = receiver.requests(pathPrefix: path)
        #expect(alerts.count == 1 && alerts.first?.text.contains("interrupted") == true, "\(alerts.map(\.text))")
        let status = try backupctl(["status", "--json"], in: dir.path)
        #expect(status.stdout.contains("interrupted"), "the run state records the interrupted run: \(status.stdout)")
        #expect(try backupctl(["run"], in: dir.path).status == 0, "the lock was released")
    }

    /// A plan that backs up `dir/data` to a local sink, with `extra` lines.
    static func writeDirectoryPlan(in dir: TemporaryDirectory, extra: String = "") throws {
        try writeFile(dir.sub("backup.yml"), """
            name: demo
            sources: [{ name: files, type: directory, path: ./data }]
            sinks: [{ name: local, type: local, path: ./backups }]
            \(extra)
            """)
    }

    /// Starts backupctl with a terminal as its stderr (stdout to `dir/stdout`), sends SIGINT once the
    /// transcript shows what `ready` looks for (its progress, not a fixed wait), and waits for the end.
    static func interruptOnTerminal(_ arguments: [String], in dir: TemporaryDirectory, once ready: (String) -> Bool,
                                    sourceLocation: SourceLocation = #_sourceLocation) throws -> (process: Process, transcript: String) {
        let terminal = try PseudoTerminal()
        let process = try terminal.startBackupctl(arguments, in: dir.path, stdout: dir.sub("stdout"))
        let showed = terminal.wait(timeout: 60, until: ready)
        #expect(showed, "the progress showed: \(terminal.transcript.suffix(300).debugDescription)", sourceLocation: sourceLocation)
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        return (process, terminal.finish())
    }

    /// The transcript of a terminal: the progress was erased (`\r ESC[J`) after the last bar it drew
    /// (`bar`) and before `message`; after a `last` message, no bar was drawn again.
    static func expectClearedBefore(_ message: String, bar: String, in transcript: String, last: Bool = true,
                                    sourceLocation: SourceLocation = #_sourceLocation) {
        guard let at = transcript.range(of: message) else {
            Issue.record("no \(message.debugDescription) in \(transcript.suffix(600).debugDescription)", sourceLocation: sourceLocation)
            return
        }
        let before = transcript[..<at.lowerBound]
        let lastBar = before.range(of: bar, options: .backwards)?.lowerBound
        // An erase: back to the start of the line, up over the board's other lines, clear to the end.
        let lastErase = before.ranges(of: /\r(\x{1B}\[\d+A)?\x{1B}\[J/).last?.lowerBound
        #expect(lastBar != nil, "a bar was drawn before the message", sourceLocation: sourceLocation)
        if let lastBar { #expect(lastErase.map { $0 > lastBar } == true, "the bar was erased before the message", sourceLocation: sourceLocation) }
        if last { #expect(!transcript[at.upperBound...].contains(bar), "no bar after the message", sourceLocation: sourceLocation) }
    }

    /// Ctrl-C on a terminal while the archive is written: the bar is erased, the message says the run was
    /// interrupted and stopped cleanly, exit 16, and nothing is left in staging or in the sink.
    @Test func ctrlCDuringABackupOnATerminalSaysSoAndLeavesNothing() throws {
        let dir = try TemporaryDirectory("signal-tty")
        defer { dir.remove() }
        try writeRandomFiles(in: dir.sub("data"), count: 12, size: 25 << 20)
        try Self.writeDirectoryPlan(in: dir)
        // Once the archive's bar is on the screen, with bytes counted: the run is writing.
        let (process, transcript) = try Self.interruptOnTerminal(["run"], in: dir) { $0.contains("tar.gz  archive  ") && $0.contains(" MiB  ") }

        #expect(process.terminationReason == .exit && process.terminationStatus == 16, "exit \(process.terminationStatus) (\(process.terminationReason))")
        // The first message goes above the bars, which stay until the run has stopped.
        Self.expectClearedBefore("backupctl: SIGINT: stopping at the next safe point", bar: "  archive  ", in: transcript, last: false)
        Self.expectClearedBefore("backupctl: interrupted by SIGINT: the run stopped cleanly: no staging file is left and no sink holds a partial artifact (exit 16)",
                                 bar: "  archive  ", in: transcript)
        let staging = dir.sub("backups/.staging/demo")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: staging)) ?? []).isEmpty, "staging is clean")
        let sinkFiles = (try? FileManager.default.contentsOfDirectory(atPath: dir.sub("backups"))) ?? []
        // Only the plan's own files (state, lock, signing key, staging): no artifact under a final name, no temporary one.
        #expect(sinkFiles.allSatisfy { $0.hasPrefix(".") && !$0.contains(".tmp-") }, "no artifact, whole or partial, in the sink: \(sinkFiles)")
    }

    /// Ctrl-C while a restore writes into a new directory: the restore stops, the temporary directory
    /// beside the target is removed, the target does not appear, the download staging is gone; exit 16
    /// with a message that says so. The same restore then runs to its end.
    @Test func ctrlCDuringARestoreLeavesTheTargetAsItWas() throws {
        let dir = try TemporaryDirectory("signal-restore")
        defer { dir.remove() }
        try writeRandomFiles(in: dir.sub("data"), count: 40, size: 8 << 20)
        try Self.writeDirectoryPlan(in: dir, extra: "hooks: { after_restore: [\"echo $BACKUP_RESTORE_STATUS > after-restore-ran\"] }")
        #expect(try backupctl(["run"], in: dir.path).status == 0)
        try FileManager.default.createDirectory(atPath: dir.sub("target"), withIntermediateDirectories: false)
        let (process, transcript) = try Self.interruptOnTerminal(["restore", "--to", dir.sub("target/restored")], in: dir) {
            $0.contains("tar.gz  restore  [")
        }

        #expect(process.terminationReason == .exit && process.terminationStatus == 16, "exit \(process.terminationStatus): \(transcript.suffix(400))")
        Self.expectClearedBefore("backupctl: interrupted by SIGINT: the restore stopped cleanly: \(dir.sub("target/restored")) is as it was, and the files restored so far were removed (exit 16)",
                                 bar: "  restore  ", in: transcript)
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: dir.sub("target"))) ?? ["?"]).isEmpty,
                "neither the target nor its temporary directory is there: \(listTree(dir.sub("target")).prefix(5))")
        #expect(!FileManager.default.fileExists(atPath: dir.sub("backups/.staging/demo-restore")), "the restore's staging is gone")
        #expect(readFile(dir.sub("after-restore-ran")).map { String(decoding: $0, as: UTF8.self) } == "failed\n", "after_restore ran with failed")
        #expect(readFile(dir.sub("stdout")).map { String(decoding: $0, as: UTF8.self) } == "", "nothing on stdout: nothing was restored")

        let again = try backupctl(["restore", "--to", dir.sub("target/restored")], in: dir.path)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(listTree(dir.sub("target/restored")).count == 40)
    }

    /// A verification of a remote copy downloads it into the staging directory first: Ctrl-C there stops
    /// it, says so and removes the download.
    @Test func ctrlCDuringAVerificationRemovesItsDownloads() throws {
        let s3 = try TestS3.load()
        let bucket = try s3.makeBucket("signal-verify")
        let dir = try TemporaryDirectory("signal-verify")
        defer { dir.remove() }
        try writeRandomFiles(in: dir.sub("data"), count: 40, size: 8 << 20)
        try writeFile(dir.sub("backup.yml"), """
            name: demo
            sources: [{ name: files, type: directory, path: ./data }]
            sinks:
              - { name: local, type: local, path: ./backups }
              - { name: offsite, type: s3, endpoint: "\(s3.endpoint)", region: "\(s3.region)", bucket: \(bucket), access_key: "\(s3.accessKey)", secret_key: "\(s3.secretKey)" }
            """)
        let backup = try backupctl(["run"], in: dir.path)
        #expect(backup.status == 0, "\(backup.stderr)")
        let (process, transcript) = try Self.interruptOnTerminal(["verify", "--sink", "offsite", "--latest"], in: dir) {
            $0.contains("  download offsite  [")
        }

        #expect(process.terminationReason == .exit && process.terminationStatus == 16, "exit \(process.terminationStatus): \(transcript.suffix(400))")
        Self.expectClearedBefore("backupctl: interrupted by SIGINT: the verification stopped; its downloads were removed and no set was changed (exit 16)",
                                 bar: "  download offsite  ", in: transcript)
        #expect(!FileManager.default.fileExists(atPath: dir.sub("backups/.staging/demo-verify")), "the verification's staging is gone")
        let again = try backupctl(["verify", "--sink", "offsite", "--latest"], in: dir.path)
        #expect(again.status == 0, "\(again.stderr)")
    }

    @Test func aSecondSignalEndsTheRunAtOnce() throws {
        let dir = try TemporaryDirectory("signal-twice")
        defer { dir.remove() }
        try writeFile(dir.sub("data/a.txt"), "alpha\n")
        try writeFile(dir.sub("backup.yml"), """
            name: demo
            sources: [{ name: minio, type: directory, path: ./data }]
            sinks: [{ name: local, type: local, path: ./backups }]
            hooks: { before_backup: ["touch before-started; exec sleep 59.7"] }
            """)
        let log = dir.sub("stderr.log")
        let process = try Self.start(["run"], in: dir.path, stderr: log)
        #expect(waitUntil(timeout: 30) { FileManager.default.fileExists(atPath: dir.sub("before-started")) })
        let sent = Date()
        kill(process.processIdentifier, SIGTERM)
        // The first signal waits for the hook; once the process says it is stopping, send the second.
        let handled = waitUntil(timeout: 10) { readFile(log).map { String(decoding: $0, as: UTF8.self).contains("stopping at the next safe point") } ?? false }
        #expect(handled, "the first signal was handled")
        kill(process.processIdentifier, SIGTERM)
        // Foundation's wait also waits for the hook the process left behind, so watch the process itself.
        let pid = process.processIdentifier
        let ended = waitUntil(timeout: 20) {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
            return stat.split(separator: ")").last?.split(separator: " ").first == "Z"
        }
        #expect(ended, "the second signal ended the process at once")
        _ = try? runProcess("/usr/bin/pkill", ["-f", "sleep 59.7"])
        process.waitUntilExit()
        let endedBySignal = (process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGTERM)
            || (process.terminationReason == .exit && process.terminationStatus == 128 + SIGTERM)
        #expect(endedBySignal, "\(process.terminationReason) \(process.terminationStatus)")
        #expect(Date().timeIntervalSince(sent) < 30, "it did not wait for the hook")
    }

    /// A source that writes until the run is cancelled.
    struct EndlessSource: BackupSource {
        let name = "endless"
        var type: String { "endless" }
        func prepare(_ context: SourceContext) async throws -> [SourceArtifact] { [SourceArtifact(subject: "data", content: .tree)] }
        func write(_ artifact: SourceArtifact, to archive: any ArchiveWriter, context: SourceContext) throws -> SourceReport {
            let chunk = [UInt8](repeating: 7, count: 1 << 16)
            var index = 0
            while !context.isCancelled() {
                try archive.beginEntry(ArchiveEntry(path: RawPath("part-\(index)"), kind: .file, size: Int64(chunk.count)))
                try chunk.withUnsafeBytes { try archive.write($0) }
                try archive.endEntry()
                index += 1
            }
            throw CancellationError()
        }
        func restore(_ request: RestoreRequest, from archive: any ArchiveReader, context: SourceContext) throws -> RestoreReport {
            RestoreReport(artifact: "", destination: "", entries: 0, bytes: 0)
        }
    }

    /// Remembers whether each alert was sent from a cancelled task (where network calls and retries stop).
    final class CancellationProbe: Notifier {
        let name = "probe"
        let sentFromCancelledTask = Mutex<[Bool]>([])
        func send(_ alert: Alert) async throws { sentFromCancelledTask.withLock { $0.append(Task.isCancelled) } }
    }

    @Test func aCancelledRunEndsOutsideTheCancellation() async throws {
        let dir = try TemporaryDirectory("cancelled-run")
        defer { dir.remove() }
        let probe = CancellationProbe()
        let plan = BackupPlan(name: "app", sources: [EndlessSource()], sinks: [LocalSink(directory: dir.sub("backups"))], notifiers: [probe])
        let writing = Mutex(false)
        let task = Task {
            await BackupRunner(plan: plan, logger: testLogger).run { event in
                if case .artifactStarted = event { writing.withLock { $0 = true } }
            }
        }
        #expect(await waitUntilAsync(timeout: 30) { writing.withLock { $0 } })
        task.cancel()
        let report = await task.value
        #expect(report.status == .failed && report.error?.code == .cancelled && report.error?.message.contains("interrupted") == true,
                "\(String(describing: report.error))")
        #expect(probe.sentFromCancelledTask.withLock { $0 } == [false], "the failure alert went out, and not from the cancelled task")
    }
}

/// `waitUntil` for async callers: polls `condition` until it holds or `timeout` seconds pass.
func waitUntilAsync(timeout: Double, _ condition: () -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while !condition() {
        guard Date() < deadline else { return false }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return true
}
