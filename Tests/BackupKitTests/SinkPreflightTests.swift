import BackupKit
import BackupNotifiers
import BackupSinks
import BackupSources
import BackupTransport
import Foundation
import Glibc
import Synchronization
import Testing

/// Sinks are checked before a run writes anything (issue 12): a broken one is reported with what to fix
/// and left out, the healthy ones still get the set and the run ends degraded; with
/// `require_all_sinks: true`, or when no sink is healthy, the run ends before a byte is staged. Real
/// servers, misconfigured: a bucket that does not exist, a port nothing listens on, a directory the
/// user may not write.
@Suite struct SinkPreflightTests {
    let s3: TestS3

    init() throws { s3 = try TestS3.load() }

    /// A bucket name no test creates.
    static func missingBucket() -> String { "bk-missing-\(UUID().uuidString.prefix(8).lowercased())" }

    /// The S3 test server's `host:port`, as messages name it.
    var s3Host: String { String(s3.endpoint.dropFirst("http://".count)) }

    /// An `s3` sink entry for BackupctlTests.workspace's sink list.
    func s3SinkEntry(bucket: String, endpoint: String? = nil) -> String {
        """
          - name: offsite
            type: s3
            endpoint: \(endpoint ?? s3.endpoint)
            bucket: \(bucket)
            path_style: true
            access_key: \(s3.accessKey)
            secret_key: \(s3.secretKey)
            max_attempts: 1
        """
    }

    /// Both output streams, for messages that show on either.
    static func output(_ result: ProcessResult) -> String { result.stdout + result.stderr }

    /// What no message may show: Foundation's and libcurl's own texts.
    static func expectNoRawErrors(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        for raw in ["NSCocoaErrorDomain", "Code=", "Error Domain", "Couldn't connect to server", "Failed to connect", "The operation could not be completed"] {
            #expect(!text.contains(raw), "raw error text '\(raw)' in:\n\(text)", sourceLocation: sourceLocation)
        }
    }

    // MARK: Through backupctl

    @Test func aMissingBucketIsReportedAndTheHealthySinkStillGetsTheSet() throws {
        let bucket = Self.missingBucket()
        let dir = try BackupctlTests.workspace("preflight-bucket", plan: s3SinkEntry(bucket: bucket))
        defer { dir.remove() }
        let result = try backupctl(["run", "--log-level", "debug"], in: dir.path)
        let output = Self.output(result)
        #expect(result.status == 4, "degraded: \(output)")
        #expect(result.stderr.contains("sink 'offsite' failed its check before the run"), "\(result.stderr)")
        #expect(output.contains("the bucket '\(bucket)' does not exist at \(s3Host). Create it"), "\(output)")
        #expect(output.contains("or fix bucket: in the plan"), "\(output)")
        #expect(result.stdout.contains("degraded"), "\(result.stdout)")
        #expect(!result.stderr.contains("operation=put sink=offsite"), "nothing was sent to the broken sink: \(result.stderr)")
        let names = BackupctlTests.finalNames(dir.sub("backups"))
        #expect(names.count == 3 && names.contains { $0.hasPrefix("manifest_demo_") }, "the local sink has the set: \(names)")
        #expect(try S3Client(settings: s3.settings(bucket: bucket), environment: [:], component: "test").bucketExists() == false)
        Self.expectNoRawErrors(output)
    }

    @Test func requireAllSinksEndsTheRunBeforeAnythingIsWritten() throws {
        let bucket = Self.missingBucket()
        let dir = try BackupctlTests.workspace("preflight-require", plan: s3SinkEntry(bucket: bucket) + """

        require_all_sinks: true
        hooks:
          after_backup: ["ls -A ./backups/.staging/demo > ./staging-at-end.txt"]
        """)
        defer { dir.remove() }
        let result = try backupctl(["run", "--log-level", "debug"], in: dir.path)
        let output = Self.output(result)
        #expect(result.status == 1, "a sink failure, before writing: \(output)")
        #expect(result.stderr.contains("require_all_sinks: true and a sink failed the check before the run, so nothing was written"), "\(result.stderr)")
        #expect(result.stderr.contains("the bucket '\(bucket)' does not exist at \(s3Host)"), "\(result.stderr)")
        #expect(!result.stderr.contains("artifactStarted") && !result.stderr.contains("operation=put"), "nothing was staged or stored: \(result.stderr)")
        #expect(BackupctlTests.finalNames(dir.sub("backups")).isEmpty, "the healthy local sink got nothing either")
        let staged = try #require(try? String(contentsOfFile: dir.sub("staging-at-end.txt"), encoding: .utf8), "the after_backup hook listed staging")
        #expect(staged.isEmpty, "no staging file was written: \(staged)")
        Self.expectNoRawErrors(output)
    }

    @Test func anUnreachableEndpointNamesTheHostAndPortAndTheFix() throws {
        let port = try closedPort()
        let dir = try BackupctlTests.workspace("preflight-unreachable", plan: s3SinkEntry(bucket: "bk-any", endpoint: "http://127.0.0.1:\(port)"))
        defer { dir.remove() }
        let result = try backupctl(["run"], in: dir.path)
        let output = Self.output(result)
        #expect(result.status == 4, "\(output)")
        #expect(output.contains("cannot reach 127.0.0.1:\(port) (connection refused): is the server running, and are the host and port in the endpoint or URL right?"), "\(output)")
        #expect(output.contains("s3 sink 'offsite'"), "the message says which sink: \(output)")
        #expect(BackupctlTests.finalNames(dir.sub("backups")).count == 3)
        Self.expectNoRawErrors(output)
    }

    /// A local sink whose directory cannot be made: under a parent the user may not write (the
    /// "NSCocoaErrorDomain Code=513" of the issue), or under a regular file. Root may write anywhere, so
    /// as root backupctl runs as `nobody` (setpriv) for the first case.
    @Test(arguments: ["read-only-parent", "parent-is-a-file"])
    func anUnusableLocalDirectoryIsNamedWithItsFix(_ kind: String) throws {
        let dir = try BackupctlTests.workspace("preflight-local-\(kind)", plan: """
          - { name: broken, type: local, path: ./blocked/backups }
        state_dir: ./state
        """)
        defer {
            chmod(dir.sub("blocked"), 0o755)
            dir.remove()
        }
        // Whoever runs backupctl (nobody, for root) reads the workspace and writes the state and the healthy sink.
        chmod(dir.path, 0o755)
        try FileManager.default.createDirectory(atPath: dir.sub("state"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir.sub("backups"), withIntermediateDirectories: true)
        chmod(dir.sub("state"), 0o777)
        chmod(dir.sub("backups"), 0o777)
        let expected: String
        if kind == "read-only-parent" {
            try FileManager.default.createDirectory(atPath: dir.sub("blocked"), withIntermediateDirectories: true)
            chmod(dir.sub("blocked"), 0o555)
            expected = "cannot create the local sink directory \(dir.sub("blocked/backups")): permission denied. Give the user running backupctl"
        } else {
            try writeFile(dir.sub("blocked"), "a file where a directory should be\n")
            expected = "cannot create the local sink directory \(dir.sub("blocked/backups")): \(dir.sub("blocked")) is a file, not a directory. Fix the path."
        }
        let result = try backupctlUnprivileged(["run"], in: dir.path)
        let output = Self.output(result)
        #expect(result.status == 4, "\(output)")
        #expect(output.contains(expected), "\(output)")
        if kind == "read-only-parent" {
            #expect(output.contains("access to \(dir.sub("blocked")) (chown or chmod), or choose another path"), "\(output)")
        }
        #expect(BackupctlTests.finalNames(dir.sub("backups")).count == 3, "the healthy sink has the set")
        Self.expectNoRawErrors(output)
    }

    // MARK: The runner

    /// Nothing reaches a sink that failed its check, retention leaves it alone, and the alert is
    /// `degraded`.
    @Test func aBrokenSinkGetsNoWritesAndNoRetention() async throws {
        let dir = try TemporaryDirectory("preflight-runner")
        defer { dir.remove() }
        try BackupRunnerTests.fill(dir)
        let broken = CountingSink(base: S3Sink(name: "offsite", settings: s3.settings(bucket: Self.missingBucket(), maxAttempts: 1), environment: [:]))
        let recorder = RecordingNotifier()
        let plan = BackupRunnerTests.plan(dir, sinks: [LocalSink(directory: dir.sub("backups")), broken], notifiers: [recorder],
                                          retention: RetentionPolicy(keepLast: 1))
        var events: [BackupEvent] = []
        let report = await BackupRunner(plan: plan, logger: testLogger).run { events.append($0) }
        #expect(report.status == .degraded, "\(String(describing: report.error))")
        #expect(ExitCodes.code(for: report) == ExitCodes.degraded)
        #expect(report.sinks.map(\.status) == [.stored, .failed])
        #expect(report.sinks[1].error?.contains("does not exist") == true, "\(report.sinks)")
        #expect(broken.writes.withLock { $0 } == 0, "no put or delete reached the broken sink")
        #expect(report.pruned.map(\.sink) == ["local"], "retention never runs for a sink that was left out")
        #expect(recorder.alerts.map(\.event) == [.degraded])
        let reported = events.compactMap { event -> String? in if case .sinkPreflightFailed(let sink, _, _) = event { sink } else { nil } }
        #expect(reported == ["offsite"])
    }

    /// With no healthy sink the run fails before it stages anything, with a sink failure's exit code.
    @Test func whenNoSinkIsHealthyTheRunFailsBeforeStaging() async throws {
        let dir = try TemporaryDirectory("preflight-none")
        defer { dir.remove() }
        try BackupRunnerTests.fill(dir)
        let port = try closedPort()
        var plan = BackupRunnerTests.plan(dir, sinks: [
            S3Sink(name: "offsite", settings: s3.settings(bucket: Self.missingBucket(), maxAttempts: 1), environment: [:]),
            S3Sink(name: "other", settings: s3.settings(bucket: "bk-any", endpoint: "http://127.0.0.1:\(port)", maxAttempts: 1), environment: [:]),
        ])
        plan.stateDirectory = dir.sub("state")
        plan.hooks.afterBackup = ["ls -A '\(dir.sub("state/.staging/app"))' > '\(dir.sub("staging-at-end.txt"))'"]
        var events: [BackupEvent] = []
        let report = await BackupRunner(plan: plan, logger: testLogger).run { events.append($0) }
        #expect(report.status == .failed)
        #expect(report.error?.code == .sinkFailed && ExitCodes.code(for: report) == ExitCodes.failure, "\(String(describing: report.error))")
        #expect(report.error?.message.contains("no sink can take the set, so nothing was written") == true, "\(String(describing: report.error))")
        #expect(report.artifacts.isEmpty && report.sinks.map(\.status) == [.failed, .failed], "\(report.sinks)")
        #expect(report.sinks[1].errorCode == .unreachable, "\(report.sinks)")
        #expect(!events.contains { if case .artifactStarted = $0 { true } else { false } }, "no artifact was started")
        #expect(try String(contentsOfFile: dir.sub("staging-at-end.txt"), encoding: .utf8).isEmpty, "staging was empty when the run ended")
    }
}

/// Forwards to a sink and counts the calls that would change it (puts and deletes).
final class CountingSink: Sink {
    let base: any Sink
    let writes = Mutex(0)

    init(base: any Sink) { self.base = base }

    var name: String { base.name }
    var capabilities: SinkCapabilities { base.capabilities }
    func preflight() async throws { try await base.preflight() }
    func put(_ key: String, from file: StagedFile) async throws -> StoreReceipt {
        writes.withLock { $0 += 1 }
        return try await base.put(key, from: file)
    }
    func get(_ key: String, into output: ByteDestination) async throws { try await base.get(key, into: output) }
    func list() async throws -> [StoredObject] { try await base.list() }
    func delete(_ key: String) async throws {
        writes.withLock { $0 += 1 }
        try await base.delete(key)
    }
}

/// A loopback TCP port nothing listens on: bound, read back, and closed again.
func closedPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw BackupError(.io, "socket failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw BackupError(.io, "bind failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Runs backupctl as `nobody` when the tests run as root (root may write anywhere, so a permission
/// check needs another user), else as this user.
func backupctlUnprivileged(_ arguments: [String], in directory: String) throws -> ProcessResult {
    guard geteuid() == 0 else { return try backupctl(arguments, in: directory) }
    let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("BACKUP_") }
    return try runProcess("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", backupctlPath] + arguments,
                          environment: environment, directory: directory)
}
