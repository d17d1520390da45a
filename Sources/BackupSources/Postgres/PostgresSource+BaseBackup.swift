import BackupKit
import Foundation
import Glibc
import Synchronization

/// The base backup of a `pitr` source: `pg_basebackup` in tar format, streamed into the archive like
/// any artifact (`db_base_<set>.tar.gz`), with the server's `backup_manifest` inside the tar.
///
/// While it streams, the same bytes go to `tar -x` in a scratch directory under the staging area, and
/// `pg_verifybackup -n` checks that copy against the manifest (every file's size and SHA-256) before
/// the artifact counts. The manifest records what recovery needs: the start and stop LSN and WAL
/// segment, the timeline, the system identifier, and when the backup became consistent.
extension PostgresSource {
    static let baseSubject = "base"

    /// The base backup's artifact, after checking that the server archives its WAL.
    func baseBackupArtifact(_ connection: PostgresConnection, pitr: PITRSettings) throws -> SourceArtifact {
        let mode = try connection.value("SHOW archive_mode") ?? "off"
        guard mode == "on" || mode == "always" else {
            throw BackupError(.sourceFailed, "postgres source '\(name)' has pitr:, but the server's archive_mode is '\(mode)': a base backup without archived WAL cannot be recovered. Set archive_mode = on and archive_command (`backupctl pitr setup --print` prints the lines), then restart PostgreSQL.")
        }
        let segmentText = try connection.value("SELECT setting::bigint * (CASE unit WHEN '8kB' THEN 8192 WHEN 'MB' THEN 1048576 ELSE 1 END) FROM pg_settings WHERE name = 'wal_segment_size'") ?? ""
        guard let segmentSize = Int64(segmentText), segmentSize == pitr.segmentSize else {
            throw BackupError(.invalidPlan, "postgres source '\(name)': the server's wal_segment_size is \(segmentText) bytes, but pitr: segment_size is \(pitr.segmentSize); set segment_size to the server's")
        }
        let size = Int64(try connection.value("SELECT sum(pg_database_size(oid))::bigint FROM pg_database") ?? "0") ?? 0
        let system = try connection.value("SELECT system_identifier::text FROM pg_control_system()") ?? ""
        let tool = try tools.checkNotOlder("pg_basebackup", serverVersion: connection.serverVersion, source: name)
        return SourceArtifact(subject: Self.baseSubject, content: .stream(fileExtension: "tar"), expectedContentBytes: size,
                              details: ["kind": .string("base_backup"), "server_version": .string(PostgresTools.describe(connection.serverVersion)),
                                        "pg_basebackup_version": .string(tool.version), "system_identifier": .string(system),
                                        "wal_segment_size": .integer(segmentSize), "cluster_size": .integer(size)])
    }

    /// Streams `pg_basebackup -D - -Ft -X none` into `archive` and verifies the copy extracted beside it.
    func baseBackup(to archive: any ArchiveWriter, context: SourceContext) throws -> SourceReport {
        let connection = try connect()
        let major = connection.serverVersion / 10000
        let tool = tools.path("pg_basebackup", serverMajor: major)
        let scratch = context.stagingDirectory + "/basebackup-check-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let started = Date()
        let settings = configuration.connection
        let (status, total, stderr, extractStatus, extractError) = try settings.withToolLogin(environment: environment, stagingDirectory: context.stagingDirectory) { login in
            let extract = try ChildProcess(executable: "tar", arguments: ["-x", "-f", "-", "-C", scratch], environment: ProcessInfo.processInfo.environment,
                                           stdin: .pipe, stdout: .null)
            let child = try ChildProcess(executable: tool, arguments: ["-D", "-", "-F", "t", "-X", "none", "-c", "fast", "--manifest-checksums=SHA256",
                                                                        "-v", "--no-password"],
                                         environment: login.environment)
            let watchdog = ArchiveWaitWatchdog(child: child) {
                // Only archiving that fails stops the backup, not a backlog that drains slowly.
                let row = try? connection.query("SELECT (last_failed_time IS NOT NULL AND (last_archived_time IS NULL OR last_failed_time > last_archived_time))::text FROM pg_stat_archiver").first
                return row?[0] == "true"
            }
            defer { watchdog.stop() }
            let total = try child.forEachChunk { chunk in
                if context.isCancelled() {
                    child.terminate()
                    extract.terminate()
                    throw CancellationError()
                }
                try archive.write(chunk)
                try extract.writeInput(chunk)
                context.progress(Int64(chunk.count))
            }
            extract.closeInput()
            let status = try child.wait()
            let extractStatus = try extract.wait()
            if watchdog.fired {
                let failing = (try? connection.query("SELECT coalesce(last_failed_wal, '?'), coalesce(last_failed_time::text, '?') FROM pg_stat_archiver").first) ?? nil
                throw BackupError(.sourceFailed, "postgres source '\(name)': the base backup waits for WAL the server cannot archive (archive_command fails\(failing.map { ": last failed \($0[0] ?? "?") at \($0[1] ?? "?")" } ?? ""); see the server log). Check archive_command with `backupctl pitr setup` as the server's OS user. The base backup was stopped; without its WAL it could not be recovered.")
            }
            return (status, total, login.redact(child.stderrText), extractStatus, extract.stderrText)
        }
        let stopped = Date()
        let what = "pg_basebackup of the cluster (\(settings.describe(environment: environment)))"
        guard status == 0 else {
            throw BackupError(.sourceFailed, "postgres source '\(name)': \(what) exited with status \(status): \(stderr.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").suffix(4).joined(separator: " / "))")
        }
        guard total > 0 else { throw BackupError(.sourceFailed, "postgres source '\(name)': \(what) produced no output; an empty base backup is a failure") }
        guard extractStatus == 0 else {
            throw BackupError(.sourceFailed, "postgres source '\(name)': the base backup's tar stream does not extract (tar exited \(extractStatus): \(extractError.trimmingCharacters(in: .whitespacesAndNewlines))); it is damaged or cut short")
        }
        guard let manifestData = FileManager.default.contents(atPath: scratch + "/backup_manifest") else {
            throw BackupError(.sourceFailed, "postgres source '\(name)': the base backup holds no backup_manifest; use pg_basebackup 13 or newer")
        }
        // The manifest's "WAL-Ranges": [{"Timeline": 1, "Start-LSN": "0/3000028", "End-LSN": "0/3000100"}]
        struct ServerManifest: Decodable {
            struct Range: Decodable {
                var timeline: UInt32
                var start: String
                var end: String
                enum CodingKeys: String, CodingKey { case timeline = "Timeline", start = "Start-LSN", end = "End-LSN" }
            }
            var ranges: [Range]
            enum CodingKeys: String, CodingKey { case ranges = "WAL-Ranges" }
        }
        guard let range = (try? JSONDecoder().decode(ServerManifest.self, from: manifestData))?.ranges.first,
              let startLSN = LSN(range.start), let stopLSN = LSN(range.end) else {
            throw BackupError(.sourceFailed, "postgres source '\(name)': the base backup's backup_manifest has no WAL-Ranges entry to say where its WAL starts and ends")
        }
        let timeline = range.timeline
        let verify = try ChildProcess(executable: tools.path("pg_verifybackup", serverMajor: major), arguments: ["-n", "-q", scratch],
                                      environment: ProcessInfo.processInfo.environment, stdout: .null)
        guard try verify.wait(timeout: 3600) == 0 else {
            throw BackupError(.verificationFailed, "postgres source '\(name)': pg_verifybackup rejects the base backup: \(verify.stderrText.trimmingCharacters(in: .whitespacesAndNewlines).prefix(1000))")
        }
        let segmentSize = configuration.pitr?.segmentSize ?? 16 << 20
        return SourceReport(details: [
            "timeline": .integer(Int64(timeline)),
            "start_lsn": .string(startLSN.description),
            "stop_lsn": .string(stopLSN.description),
            "start_wal": .string(WALFileName.segment(timeline: timeline, containing: startLSN, segmentSize: segmentSize).name),
            "stop_wal": .string(WALFileName.segment(timeline: timeline, containing: stopLSN, segmentSize: segmentSize).name),
            "started_at": .number(started.timeIntervalSince1970),
            "consistent_at": .number(stopped.timeIntervalSince1970),
            "pg_verifybackup": .string("passed"),
        ])
    }
}

extension PostgresSource {
    /// Extracts a base backup into a data directory that is empty or does not exist (mode 0700, as
    /// PostgreSQL requires). Recovery settings are the caller's (``PointInTimeRestore``).
    func restoreBaseBackup(_ request: RestoreRequest, from archive: any ArchiveReader) throws -> RestoreReport {
        let directory = request.destination.value
        if let existing = try? FileManager.default.contentsOfDirectory(atPath: directory), !existing.isEmpty {
            throw BackupError(.restoreFailed, "\(directory) is not empty (\(existing.count) entries); a base backup is restored into an empty or new data directory. Choose another directory, or move this one aside.")
        }
        try makeDirectory(directory, mode: 0o700, purpose: "the data directory", as: .restoreFailed)
        chmod(directory, 0o700)
        let extract = try ChildProcess(executable: "tar", arguments: ["-x", "-f", "-", "-C", directory, "--no-same-owner"],
                                       environment: ProcessInfo.processInfo.environment, stdin: .pipe, stdout: .null)
        guard try archive.nextEntry() != nil else { throw BackupError(.restoreFailed, "the base backup artifact is empty") }
        var bytes: Int64 = 0
        do {
            try archive.forEachChunk { chunk in
                try extract.writeInput(chunk)
                bytes += Int64(chunk.count)
            }
        } catch {
            extract.terminate()
            throw error
        }
        extract.closeInput()
        guard try extract.wait() == 0 else {
            throw BackupError(.restoreFailed, "extracting the base backup into \(directory) failed: \(extract.stderrText.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        _ = try archive.nextEntry()
        let entries = (try? FileManager.default.subpathsOfDirectory(atPath: directory).count) ?? 0
        return RestoreReport(artifact: request.artifact.name, destination: directory, entries: entries, bytes: bytes)
    }
}

/// Stops a base backup that waits for WAL archiving which keeps failing: with `-X none` the server
/// holds `pg_basebackup` until the backup's last segment is archived, and says every 60 s that it is
/// "still waiting for all required WAL segments to be archived". When it says so and the server's
/// archiver reports its last attempt failed (`isArchivingFailing`), the backup is stopped instead of
/// waiting for ever; a backlog that is still draining is waited for.
final class ArchiveWaitWatchdog: @unchecked Sendable {
    private let state = Mutex<(stopped: Bool, fired: Bool)>((false, false))

    init(child: ChildProcess, isArchivingFailing: @escaping () -> Bool) {
        let processID = child.processID
        // Only stderrText is read here, and it is thread-safe (a Mutex-guarded capture); the check runs
        // on this thread only, while the backup's own thread waits for the child.
        nonisolated(unsafe) let child = child
        nonisolated(unsafe) let isArchivingFailing = isArchivingFailing
        Thread.detachNewThread { [self] in
            var warningsSeen = 0
            while true {
                usleep(500_000)
                let warnings = child.stderrText.components(separatedBy: "still waiting for all required WAL segments to be archived").count - 1
                guard warnings > warningsSeen else {
                    if state.withLock({ $0.stopped }) { return }
                    continue
                }
                warningsSeen = warnings
                let failing = isArchivingFailing()
                let stop = state.withLock { state -> Bool in
                    guard !state.stopped, failing else { return false }
                    state.fired = true
                    return true
                }
                if stop { kill(-processID, SIGTERM) }
                if state.withLock({ $0.stopped || $0.fired }) { return }
            }
        }
    }

    var fired: Bool { state.withLock { $0.fired } }

    func stop() { state.withLock { $0.stopped = true } }
}
