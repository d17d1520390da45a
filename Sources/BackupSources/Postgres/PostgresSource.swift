import BackupKit
import Foundation

/// Backs up PostgreSQL databases with `pg_dump`, streamed straight into the archive: never staged
/// uncompressed, never with a password on a command line.
///
/// Before anything is written it connects through libpq and tells apart missing credentials, wrong
/// credentials, an unreachable server and a missing database; refuses a `pg_dump` older than the server;
/// and reads each database's size (for progress and the disk-space check). Each dump runs in an exported
/// snapshot, and every table's row count is taken in that same snapshot and recorded in the manifest, so
/// a restore can be checked against it. A dump whose `pg_dump` fails, that is empty, or that lacks
/// `pg_dump`'s completion trailer fails the run.
///
/// ```yaml
/// - name: db
///   type: postgres
///   url: ${DATABASE_URL}                 # or host/port/user/database/sslmode fields, or PG* variables
///   password_file: /run/secrets/pg_password
///   databases: [schedgen]                # or "all"; default: the database of the URL or fields
///   format: plain                        # .sql.gz; "custom" writes .dump for pg_restore -j
///   globals: true                        # roles and tablespaces, with pg_dumpall --globals-only
///   lock_wait_timeout: 5m                # how long a dump waits for a table lock before it fails
/// ```
public struct PostgresSource: BackupSource {
    public enum DumpFormat: String, Sendable, Hashable, Codable {
        case plain
        case custom
    }

    public enum DatabaseSelection: Sendable, Hashable {
        /// The database the connection settings name (or libpq's default).
        case configured
        case list([String])
        /// Every database that accepts connections, except templates.
        case all
    }

    public struct Configuration: Sendable, Hashable {
        public var connection: PostgresConnectionSettings
        public var databases: DatabaseSelection
        public var format: DumpFormat
        public var globals: Bool
        /// Where `pg_dump` and friends live; default: the server's major version under /usr/lib/postgresql.
        public var binDirectory: String?
        /// The server for restore drills; nil: the source's own server.
        public var restoreTestServer: PostgresConnectionSettings?
        /// Parallel jobs for `pg_restore`; nil: one per core.
        public var jobs: Int?
        /// How long a dump waits for a table lock (held by a session with an ACCESS EXCLUSIVE lock, such
        /// as a migration's `ALTER TABLE`) before it fails naming the table and that session; 5 minutes
        /// by default, between 1 second and 24 hours.
        public var lockWaitTimeout: PlanDuration
        /// Continuous WAL archiving and base backups for point-in-time recovery; nil: off.
        public var pitr: PITRSettings?

        public init(connection: PostgresConnectionSettings = PostgresConnectionSettings(), databases: DatabaseSelection = .configured,
                    format: DumpFormat = .plain, globals: Bool = false, binDirectory: String? = nil,
                    restoreTestServer: PostgresConnectionSettings? = nil, jobs: Int? = nil,
                    lockWaitTimeout: PlanDuration = Self.defaultLockWaitTimeout, pitr: PITRSettings? = nil) {
            self.connection = connection
            self.databases = databases
            self.format = format
            self.globals = globals
            self.binDirectory = binDirectory
            self.restoreTestServer = restoreTestServer
            self.jobs = jobs
            self.lockWaitTimeout = lockWaitTimeout
            self.pitr = pitr
        }

        /// The ``lockWaitTimeout`` of a plan that sets none: 5 minutes.
        public static let defaultLockWaitTimeout = PlanDuration(seconds: 300)
        /// The `lock_wait_timeout` a plan may set: a shorter wait fails a dump over a lock about to be
        /// released, and a longer one lets one lock hold up the next day's run.
        static let lockWaitTimeoutBounds: ClosedRange<Double> = 1...86400

        /// ``lockWaitTimeout`` in whole milliseconds, as `lock_timeout` and `pg_dump --lock-wait-timeout` take it.
        var lockWaitTimeoutMilliseconds: Int { Int((lockWaitTimeout.seconds * 1000).rounded()) }
    }

    public let name: String
    public let configuration: Configuration
    /// The environment libpq and the child tools see; the process's own by default.
    public let environment: [String: String]
    /// The plan file's `type:` for this source.
    public static let typeName = "postgres"
    public var type: String { Self.typeName }

    public init(name: String, configuration: Configuration, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.name = name
        self.configuration = configuration
        self.environment = environment
    }

    static let globalsSubject = "globals"
    var tools: PostgresTools { PostgresTools(binDirectory: configuration.binDirectory) }
    var fileExtension: String { configuration.format == .plain ? "sql" : "dump" }

    func connect(_ database: String? = nil) throws -> PostgresConnection {
        let settings = database.map { configuration.connection.with(database: $0) } ?? configuration.connection
        return try PostgresConnection(settings: settings, environment: environment, source: name)
    }

    // MARK: Preflight

    public func prepare(_ context: SourceContext) async throws -> [SourceArtifact] {
        try await runBlocking { try preflight() }
    }

    func preflight() throws -> [SourceArtifact] {
        let first = try connect()
        let serverVersion = first.serverVersion
        let databases: [String]
        switch configuration.databases {
        case .configured: databases = [try first.value("SELECT current_database()") ?? "postgres"]
        case .list(let names): databases = names
        case .all:
            databases = try first.query("SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY datname").compactMap { $0[0] }
        }
        if configuration.globals, databases.contains(Self.globalsSubject) {
            throw BackupError(.invalidPlan, "postgres source '\(name)': a database named '\(Self.globalsSubject)' clashes with the globals dump's name; set globals: false or leave that database out")
        }
        if configuration.pitr != nil, databases.contains(Self.baseSubject) {
            throw BackupError(.invalidPlan, "postgres source '\(name)': a database named '\(Self.baseSubject)' clashes with the base backup's name; back it up through a second source")
        }
        let dump = try tools.checkNotOlder("pg_dump", serverVersion: serverVersion, source: name)
        var artifacts: [SourceArtifact] = []
        if let pitr = configuration.pitr { artifacts.append(try baseBackupArtifact(first, pitr: pitr)) }
        if configuration.globals {
            let dumpall = try tools.checkNotOlder("pg_dumpall", serverVersion: serverVersion, source: name)
            artifacts.append(SourceArtifact(subject: Self.globalsSubject, content: .stream(fileExtension: "sql"),
                                            details: ["kind": .string("globals"), "server_version": .string(PostgresTools.describe(serverVersion)),
                                                      "pg_dumpall_version": .string(dumpall.version)]))
        }
        for database in databases {
            let connection = try connect(database)
            let size = Int64(try connection.value("SELECT pg_database_size(current_database())") ?? "0") ?? 0
            artifacts.append(SourceArtifact(
                subject: database, content: .stream(fileExtension: fileExtension), expectedContentBytes: size,
                details: ["kind": .string("database"), "database": .string(database), "format": .string(configuration.format.rawValue),
                          "server_version": .string(PostgresTools.describe(serverVersion)), "pg_dump_version": .string(dump.version),
                          "database_size": .integer(size)],
                compression: configuration.format == .custom ? Compression.none : nil
            ))
        }
        return artifacts
    }

    // MARK: Dump

    public func write(_ artifact: SourceArtifact, to archive: any ArchiveWriter, context: SourceContext) throws -> SourceReport {
        if artifact.details["kind"] == .string("base_backup") { return try baseBackup(to: archive, context: context) }
        if artifact.details["kind"] == .string("globals") {
            try dumpGlobals(to: archive, context: context)
            return SourceReport()
        }
        return try dump(database: artifact.subject, to: archive, context: context)
    }

    /// Dumps one database in an exported snapshot, with every table's exact row count in that same
    /// snapshot. The snapshot's transaction first locks every table (ACCESS SHARE), so no DDL slips in
    /// before `pg_dump` takes its own locks. A plain dump's rows are then counted as it streams past
    /// (``CopyRowCounter``), which costs the server nothing; a custom-format dump's by `count(*)` while
    /// `pg_dump` runs, on the snapshot's own connection, which the dump does not use. Both wait for table
    /// locks within ``Configuration/lockWaitTimeout``: the snapshot's transaction through `lock_timeout`,
    /// `pg_dump` through `--lock-wait-timeout`.
    func dump(database: String, to archive: any ArchiveWriter, context: SourceContext) throws -> SourceReport {
        let connection = try connect(database)
        try connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        let milliseconds = configuration.lockWaitTimeoutMilliseconds
        try connection.query("SET LOCAL lock_timeout = \(milliseconds)")
        guard let row = try connection.query("SELECT pg_export_snapshot(), pg_backend_pid()").first, let snapshot = row[0], let session = row[1] else {
            throw BackupError(.sourceFailed, "postgres source '\(name)': the server returned no snapshot for '\(database)'")
        }
        let counts: [String: Int64]
        let tool = tools.path("pg_dump", serverMajor: connection.serverVersion / 10000)
        do {
            let tables = try connection.userTables()
            try connection.lockForDump(tables)
            let streamed = configuration.format == .plain ? CopyRowCounter() : nil
            let canceller = connection.makeCanceller()
            let counting = streamed == nil ? BackgroundWork { try connection.rowCounts(of: tables) } : nil
            do {
                try stream(tool: tool, arguments: ["--format=\(configuration.format.rawValue)", "--snapshot=\(snapshot)", "--no-password",
                                                   "--lock-wait-timeout=\(milliseconds)ms"],
                           database: database, to: archive, context: context,
                           trailer: configuration.format == .plain ? "-- PostgreSQL database dump complete" : nil,
                           header: configuration.format == .custom ? "PGDMP" : nil, observe: streamed?.consume)
            } catch {
                // The dump's own error says more than the counts' (which wait on the same locks); a
                // count still scanning a large table is cancelled, not waited for.
                canceller?.cancel()
                _ = try? counting?.value()
                throw error
            }
            // A table whose COPY the counter did not see (none should be missing) is counted by the server.
            counts = try counting?.value() ?? connection.rowCounts(of: tables, known: streamed?.rows ?? [:])
        } catch let wait as LockWait {
            throw wait.failure(source: self, database: database, dumpSession: session)
        }
        try connection.query("COMMIT")
        return SourceReport(details: ["tables": .object(counts.mapValues { .integer($0) }),
                                      "table_count": .integer(Int64(counts.count)),
                                      "row_count": .integer(counts.values.reduce(0, +))])
    }

    func dumpGlobals(to archive: any ArchiveWriter, context: SourceContext) throws {
        let connection = try connect()
        let tool = tools.path("pg_dumpall", serverMajor: connection.serverVersion / 10000)
        let database = try connection.value("SELECT current_database()") ?? "postgres"
        try stream(tool: tool, arguments: ["--globals-only", "--no-password", "--database=\(database)"], database: database,
                   to: archive, context: context, trailer: "-- PostgreSQL database cluster dump complete", header: nil)
    }

    /// Runs a dump tool and streams its standard output into the archive, checking its exit status, its
    /// size, and the header or trailer that proves it is complete.
    private func stream(tool: String, arguments: [String], database: String, to archive: any ArchiveWriter, context: SourceContext,
                        trailer: String?, header: String?, observe: ((UnsafeRawBufferPointer) -> Void)? = nil) throws {
        let settings = configuration.connection.with(database: database)
        var head: [UInt8] = []
        var tail: [UInt8] = []
        let (status, total, stderr) = try settings.withToolLogin(environment: environment, stagingDirectory: context.stagingDirectory) { login in
            let child = try ChildProcess(executable: tool, arguments: arguments, environment: login.environment)
            let total = try child.forEachChunk { chunk in
                if context.isCancelled() {
                    child.terminate()
                    throw CancellationError()
                }
                try archive.write(chunk)
                observe?(chunk)
                if head.count < 16 { head += chunk.prefix(16 - head.count) }
                // The buffer's own slice: Sequence.suffix would walk the whole chunk.
                tail += chunk[max(0, chunk.count - 256)...]
                if tail.count > 256 { tail.removeFirst(tail.count - 256) }
                context.progress(Int64(chunk.count))
            }
            let status = try child.wait()
            return (status, total, login.redact(child.stderrText.trimmingCharacters(in: .whitespacesAndNewlines)))
        }
        let what = "\(URL(fileURLWithPath: tool).lastPathComponent) of '\(database)' (\(settings.describe(environment: environment)))"
        guard status == 0 else {
            if let wait = LockWait(dumpError: stderr) { throw wait }
            throw BackupError(.sourceFailed, "postgres source '\(name)': \(what) exited with status \(status): \(stderr.isEmpty ? "no message" : stderr)")
        }
        if !stderr.isEmpty { context.warn("\(what) said: \(stderr)") }
        guard total > 0 else {
            throw BackupError(.sourceFailed, "postgres source '\(name)': \(what) produced no output; an empty dump is a failure")
        }
        if let header, !head.starts(with: Array(header.utf8)) {
            throw BackupError(.sourceFailed, "postgres source '\(name)': \(what) does not start with '\(header)'; the dump is not a valid custom-format archive")
        }
        if let trailer, !String(decoding: tail, as: UTF8.self).contains(trailer) {
            throw BackupError(.sourceFailed, "postgres source '\(name)': \(what) ends without pg_dump's completion trailer ('\(trailer)'); the dump is truncated")
        }
    }
}
