import BackupKit
import Foundation
import Glibc
import Logging

/// The PITR drill: the newest base backup plus archived WAL, recovered to a random moment inside the
/// recovery window in a scratch data directory on a free port; then `amcheck` on every B-tree index
/// (where the extension is installed) and a row count of every table in every database; the measured
/// recovery time (RTO) and the target are recorded on the base backup in its set's manifest; the
/// scratch cluster is stopped and removed whatever happened.
public struct PITRDrill: Sendable {
    public struct Result: Sendable, Encodable {
        public var passed: Bool
        public var source: String
        public var baseBackup: String?
        public var target: String?
        public var timeline: UInt32?
        public var segments: Int?
        /// Restore of the base backup plus recovery to the target: the recovery time objective measured.
        public var rtoSeconds: Double?
        public var databases: Int = 0
        public var tables: Int = 0
        public var rows: Int64 = 0
        public var indexesChecked: Int = 0
        public var amcheck: String = "not run"
        public var error: String?
        public var recordedIn: [String] = []

        enum CodingKeys: String, CodingKey {
            case passed, source, target, timeline, segments, databases, tables, rows, amcheck, error
            case baseBackup = "base_backup"
            case rtoSeconds = "rto_seconds"
            case indexesChecked = "indexes_checked"
            case recordedIn = "recorded_in"
        }

        public var summary: String {
            guard passed else { return "PITR drill FAILED\(target.map { " (target \($0))" } ?? ""): \(error ?? "unknown error")" }
            return "PITR drill passed: recovered to \(target ?? "?") on timeline \(timeline ?? 0) from \(baseBackup ?? "?") (\(segments ?? 0) WAL segments) in \(String(format: "%.1f", rtoSeconds ?? 0)) s; \(databases) database(s), \(tables) tables, \(rows) rows counted; amcheck: \(amcheck)"
        }
    }

    public var archive: WALArchive
    public var identities: [AgeIdentity]
    public var identityFiles: [String]
    public var planFile: String
    public var executable: String
    public var logger: Logger
    public var osUser = "postgres"

    public init(archive: WALArchive, identities: [AgeIdentity], identityFiles: [String], planFile: String, executable: String, logger: Logger) {
        self.archive = archive
        self.identities = identities
        self.identityFiles = identityFiles
        self.planFile = planFile
        self.executable = executable
        self.logger = logger
    }

    public func run<G: RandomNumberGenerator>(using generator: inout G) async -> Result {
        var result = Result(passed: false, source: archive.source.name)
        let scratch = NSTemporaryDirectory() + "/backupctl-pitr-drill-\(UUID().uuidString.prefix(8))"
        let dataDirectory = scratch + "/data"
        var server: RecoveredServer?
        defer {
            server?.stop()
            try? FileManager.default.removeItem(atPath: scratch)
        }
        do {
            try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            let planner = try await RecoveryPlanner.load(archive, identities: identities)
            let timeline = planner.latestTimeline
            guard let window = planner.window(timeline: timeline), let newest = planner.bases.last(where: { planner.isOnPath($0, planner.history(of: timeline)) }) else {
                throw BackupError(.notFound, "there is no recovery window yet: it needs a good base backup followed by archived WAL")
            }
            let from = max(newest.consistentAt, window.start).timeIntervalSince1970
            let to = window.end.timeIntervalSince1970
            let moment = Date(timeIntervalSince1970: to > from ? Double.random(in: from...to, using: &generator) : to)
            var options = PointInTimeRestore.Options(target: .time(moment), dataDirectory: dataDirectory, planFile: planFile, executable: executable)
            options.timeline = timeline
            options.identityFiles = identityFiles
            options.start = true
            options.port = try Self.freePort()
            options.osUser = osUser
            options.archiving = false
            options.startTimeout = 3600
            result.target = RecoveryPlanner.describe(moment)
            let restore = PointInTimeRestore(archive: archive, identities: identities, logger: logger)
            let began = Date()
            server = RecoveredServer(dataDirectory: dataDirectory, port: options.port!, osUser: osUser, source: archive.source, binDirectory: restore.binDirectory)
            let report: PointInTimeRestore.Report
            do {
                report = try await restore.run(options)
            } catch {
                throw BackupError(.verificationFailed, BackupError.wrap(error, as: .verificationFailed, "recovery").message + fetchErrors(dataDirectory))
            }
            result.rtoSeconds = Date().timeIntervalSince(began)
            result.baseBackup = report.baseBackup
            result.timeline = report.timeline
            result.segments = report.segments
            try check(server!, into: &result)
            result.passed = true
            let record = RestoreDrillResult(passed: true, summary: result.summary, durationSeconds: result.rtoSeconds ?? 0,
                                            details: ["pitr_target": .string(result.target ?? ""), "rto_seconds": .number(result.rtoSeconds ?? 0),
                                                      "timeline": .integer(Int64(report.timeline)), "rows": .integer(result.rows)])
            result.recordedIn = await StoredSetVerifier.recordDrill(record, artifact: newest.artifact.name, set: newest.set, plan: archive.plan, logger: logger)
        } catch {
            result.error = BackupError.wrap(error, as: .verificationFailed, "PITR drill").message
        }
        return result
    }

    /// amcheck and row counts on every database of the recovered server.
    func check(_ server: RecoveredServer, into result: inout Result) throws {
        let first = try server.connect()
        let databases = try first.query("SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY datname").compactMap { $0[0] }
        let amcheckInstalled = (try first.value("SELECT count(*) FROM pg_available_extensions WHERE name = 'amcheck'")) == "1"
        var amcheckFailures: [String] = []
        for database in databases {
            let connection = try server.connect(database: database)
            let counts = try connection.tableRowCounts()
            result.databases += 1
            result.tables += counts.count
            result.rows += counts.values.reduce(0, +)
            guard amcheckInstalled else { continue }
            try connection.query("CREATE EXTENSION IF NOT EXISTS amcheck")
            let indexes = try connection.query("""
                SELECT c.oid::text, n.nspname || '.' || c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_am a ON a.oid = c.relam
                WHERE a.amname = 'btree' AND i.indisvalid AND c.relpersistence <> 't'
                """)
            for index in indexes {
                guard let oid = index[0] else { continue }
                do {
                    try connection.query("SELECT bt_index_check(\(oid)::regclass, true)")
                    result.indexesChecked += 1
                } catch {
                    amcheckFailures.append("\(database): \(index[1] ?? oid): \(error)")
                }
            }
        }
        if !amcheckInstalled {
            result.amcheck = "not installed (install postgresql-contrib for index checks)"
        } else if amcheckFailures.isEmpty {
            result.amcheck = "\(result.indexesChecked) B-tree indexes passed bt_index_check"
        } else {
            result.amcheck = "\(amcheckFailures.count) index(es) failed"
            throw BackupError(.verificationFailed, "amcheck found damaged indexes: \(amcheckFailures.prefix(5).joined(separator: "; "))")
        }
    }

    /// What `wal fetch` recorded as failures during the recovery, for the drill's error.
    func fetchErrors(_ dataDirectory: String) -> String {
        guard let text = try? String(contentsOfFile: PointInTimeRestore.prefetchDirectory(dataDirectory) + "/fetch-errors", encoding: .utf8), !text.isEmpty else { return "" }
        return " wal fetch reported: " + text.split(separator: "\n").prefix(3).joined(separator: "; ")
    }

    /// A TCP port nobody listens on now (the kernel's choice for port 0).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BackupError(.io, "cannot open a socket to find a free port") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw BackupError(.io, "cannot find a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
