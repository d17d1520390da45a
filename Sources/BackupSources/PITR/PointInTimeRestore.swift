import BackupKit
import Foundation
import Glibc
import Logging

/// Restores a `pitr` source's cluster to a moment: the newest base backup before the target into an
/// empty data directory, then `recovery.signal` and the recovery settings, with an explicit timeline
/// and our `wal fetch` as `restore_command`. With ``Options/start`` it starts the server and waits
/// until recovery stopped at the target and the server was promoted.
public struct PointInTimeRestore: Sendable {
    public struct Options: Sendable {
        public var target: RecoveryTarget
        /// Nil: the timeline current at the target (``RecoveryPlanner/choose(_:timeline:)``).
        public var timeline: UInt32?
        public var dataDirectory: String
        /// The plan file `restore_command` reads (absolute).
        public var planFile: String
        /// The identity files `restore_command` passes to `wal fetch` (for encrypted sinks).
        public var identityFiles: [String] = []
        public var start = false
        public var port: Int?
        /// Who runs the server (and `restore_command`) when this runs as root.
        public var osUser = "postgres"
        /// Keep the backup's `archive_mode`: the restored cluster, once promoted, archives its new
        /// timeline into the plan (the restore that replaces production). False, the default:
        /// `archive_mode = off`, so a copy made to look at old data never adds a timeline to the archive.
        public var archiving = false
        public var startTimeout: Double = 3600
        /// The `backupctl` that `restore_command` runs.
        public var executable: String

        public init(target: RecoveryTarget, dataDirectory: String, planFile: String, executable: String) {
            self.target = target
            self.dataDirectory = dataDirectory
            self.planFile = planFile
            self.executable = executable
        }
    }

    public struct Report: Sendable, Encodable {
        public var source: String
        public var baseBackup: String
        public var baseSet: String
        public var timeline: UInt32
        public var target: String
        public var firstSegment: String
        public var lastSegment: String
        public var segments: Int
        public var dataDirectory: String
        public var restoreSeconds: Double
        public var started: Bool
        /// From starting the server to the end of recovery (promotion).
        public var recoverySeconds: Double?
        /// The last transaction recovery replayed.
        public var recoveredTo: String?
        public var port: Int?
        /// No transaction after the target was archived: recovery went to the end of the archive.
        public var endOfArchive = false

        enum CodingKeys: String, CodingKey {
            case source, timeline, target, segments, started, port
            case endOfArchive = "end_of_archive"
            case baseBackup = "base_backup"
            case baseSet = "base_set"
            case firstSegment = "first_segment"
            case lastSegment = "last_segment"
            case dataDirectory = "data_directory"
            case restoreSeconds = "restore_seconds"
            case recoverySeconds = "recovery_seconds"
            case recoveredTo = "recovered_to"
        }
    }

    public var archive: WALArchive
    public var identities: [AgeIdentity]
    public var logger: Logger

    public init(archive: WALArchive, identities: [AgeIdentity], logger: Logger) {
        self.archive = archive
        self.identities = identities
        self.logger = logger
    }

    public func run(_ options: Options, say: @Sendable (String) -> Void = { _ in }) async throws -> Report {
        let directory = options.dataDirectory
        if let existing = try? FileManager.default.contentsOfDirectory(atPath: directory), !existing.isEmpty {
            throw BackupError(.restoreFailed, "\(directory) is not empty (\(existing.count) entries); a point-in-time restore needs an empty or new data directory. Choose another one, or move this one aside.")
        }
        if options.start, options.port == nil {
            throw BackupError(.usage, "--start needs --port N: the restored server must not take the port of the running one")
        }
        let planner = try await RecoveryPlanner.load(archive, identities: identities)
        let choice = try planner.choose(options.target, timeline: options.timeline)
        say("restoring base backup \(choice.base.artifact.name) (set \(choice.base.set)), timeline \(choice.timeline), WAL \(choice.firstSegment) … \(choice.lastSegment) (\(choice.segmentCount) segments), target \(choice.target)")
        let began = Date()
        var plan = archive.plan
        plan.identities += identities
        let restorer = Restorer(plan: plan, logger: logger)
        _ = try await restorer.restore(Restorer.Options(timestamp: choice.base.set, onlySources: [archive.source.name], subjects: ["base"],
                                                        destination: .directory(directory)))
        try writeRecoverySettings(choice, options)
        if geteuid() == 0 { try chownTree(directory, to: options.osUser) }
        var report = Report(source: archive.source.name, baseBackup: choice.base.artifact.name, baseSet: choice.base.set.description, timeline: choice.timeline,
                            target: choice.target.description, firstSegment: choice.firstSegment, lastSegment: choice.lastSegment,
                            segments: choice.segmentCount, dataDirectory: directory, restoreSeconds: Date().timeIntervalSince(began),
                            started: false, port: options.port)
        guard options.start, let port = options.port else { return report }
        say("starting PostgreSQL on port \(port) and waiting for recovery to reach the target")
        let recoveryStarted = Date()
        let server = RecoveredServer(dataDirectory: directory, port: port, osUser: options.osUser, source: archive.source, binDirectory: binDirectory)
        do {
            try server.start(timeout: options.startTimeout)
            report.recoveredTo = try server.waitForPromotion(timeout: options.startTimeout)
        } catch let error as BackupError where server.endedBeforeTarget && choice.target != .latest {
            // The archive holds no transaction that committed after the target, so its end is the
            // state at the target: recover to the end.
            logger.notice("recovery reached the end of the archive before the target: \(error.message)")
            server.stop()
            try appendSettings(["", "# No transaction committed after the target was archived: the end of the archive is the state at the target.",
                                "recovery_target_time = ''", "recovery_target_lsn = ''"], to: directory, owner: options.osUser)
            say("no transaction committed after the target is archived; recovering to the end of the archive, which is the state at the target")
            try server.start(timeout: options.startTimeout)
            report.recoveredTo = try server.waitForPromotion(timeout: options.startTimeout)
            report.endOfArchive = true
        }
        report.recoverySeconds = Date().timeIntervalSince(recoveryStarted)
        report.started = true
        return report
    }

    var binDirectory: String? {
        let path = PostgresTools(binDirectory: archive.source.configuration.binDirectory).path("pg_ctl", serverMajor: nil)
        return path.contains("/") ? String(path.dropLast("/pg_ctl".count)) : nil
    }

    /// The cache `wal fetch` prefetches into, inside the data directory (PostgreSQL ignores it).
    static func prefetchDirectory(_ dataDirectory: String) -> String { dataDirectory + "/backupctl_wal_prefetch" }

    func writeRecoverySettings(_ choice: RecoveryChoice, _ options: Options) throws {
        let directory = options.dataDirectory
        let cache = Self.prefetchDirectory(directory)
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var fetch = [options.executable, "wal", "fetch", "--config", options.planFile, "--source", archive.source.name, "--cache", cache]
        for file in options.identityFiles { fetch += ["--identity", file] }
        // PostgreSQL replaces %f and %p: a literal % in a path is written %%.
        let command = fetch.map(shellQuote).joined(separator: " ").replacingOccurrences(of: "%", with: "%%") + " %f %p"
        var lines = ["", "# Point-in-time recovery, written by backupctl restore at \(RecoveryPlanner.describe(Date())):",
                     "# base backup \(choice.base.artifact.name), timeline \(choice.timeline), WAL \(choice.firstSegment) … \(choice.lastSegment)",
                     "restore_command = \(configQuote(command))",
                     "recovery_end_command = \(configQuote("rm -rf " + shellQuote(cache)))",
                     "recovery_target_timeline = '\(choice.timeline)'",
                     "recovery_target_action = 'promote'"]
        switch choice.target {
        case .time(let date): lines.append("recovery_target_time = '\(Self.postgresTime(date))'")
        case .lsn(let lsn): lines.append("recovery_target_lsn = '\(lsn)'")
        case .latest: break
        }
        if let port = options.port { lines.append("port = \(port)") }
        if !options.archiving { lines.append("archive_mode = off") }
        try writeMissingConfiguration(in: directory)
        try appendSettings(lines, to: directory, owner: options.osUser)
        try AtomicFileWriter.write([], to: directory + "/recovery.signal")
        unlink(directory + "/standby.signal")
    }

    /// A cluster whose configuration lives outside its data directory (Debian keeps it in
    /// /etc/postgresql/<major>/<cluster>) has none in its base backup: the restored directory gets a
    /// minimal postgresql.conf (no TCP; the socket and port come from the start) and a pg_hba.conf that
    /// lets local socket connections in, so the copy starts. Existing files are never touched.
    func writeMissingConfiguration(in directory: String) throws {
        let files = [
            ("postgresql.conf", "# Written by backupctl restore: the base backup held no postgresql.conf (it lived outside the data directory).\nlisten_addresses = ''\n"),
            ("pg_hba.conf", "# Written by backupctl restore: the base backup held no pg_hba.conf. Socket connections only.\nlocal all all trust\n"),
            ("pg_ident.conf", "# Written by backupctl restore.\n"),
        ]
        for (name, text) in files where !FileManager.default.fileExists(atPath: directory + "/" + name) {
            try AtomicFileWriter.write(Array(text.utf8), to: directory + "/" + name)
        }
    }

    /// Appends lines to the data directory's postgresql.auto.conf (later lines win).
    func appendSettings(_ lines: [String], to directory: String, owner: String) throws {
        let auto = directory + "/postgresql.auto.conf"
        let existing = (try? String(contentsOfFile: auto, encoding: .utf8)) ?? ""
        try AtomicFileWriter.write(Array((existing + lines.joined(separator: "\n") + "\n").utf8), to: auto)
        if geteuid() == 0, let user = getpwnam(owner) { chown(auto, user.pointee.pw_uid, user.pointee.pw_gid) }
    }

    /// `2026-12-02 10:41:00.123456+00`: microseconds, as PostgreSQL's timestamps have.
    static func postgresTime(_ date: Date) -> String {
        var seconds = floor(date.timeIntervalSince1970)
        var micros = Int(((date.timeIntervalSince1970 - seconds) * 1_000_000).rounded())
        if micros == 1_000_000 {
            seconds += 1
            micros = 0
        }
        let base = RecoveryPlanner.describe(Date(timeIntervalSince1970: seconds)).dropLast(3)
        return "\(base).\(String(format: "%06d", micros))+00"
    }
}

/// `'text'` for a postgresql.conf value.
func configQuote(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }

/// A word for `/bin/sh`, quoted only when it needs to be (single quotes: `$` and backquotes stay literal).
public func shellQuote(_ text: String) -> String {
    if !text.isEmpty, text.allSatisfy({ $0.isLetter || $0.isNumber || "/._-=:@+,".contains($0) }) { return text }
    return "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// Gives a restored data directory to the user the server runs as.
func chownTree(_ path: String, to user: String) throws {
    guard let entry = getpwnam(user) else {
        throw BackupError(.usage, "there is no OS user '\(user)' to run PostgreSQL as; pass --os-user NAME")
    }
    let child = try ChildProcess(executable: "chown", arguments: ["-R", "\(entry.pointee.pw_uid):\(entry.pointee.pw_gid)", path],
                                 environment: ProcessInfo.processInfo.environment, stdout: .null)
    guard try child.wait() == 0 else { throw BackupError(.restoreFailed, "cannot give \(path) to \(user): \(child.stderrText)") }
}
