import BackupKit
import Foundation

extension RestoreDestination {
    /// A database on the source's server, created if missing (`--to-database NAME`).
    public static func database(_ name: String) -> RestoreDestination {
        RestoreDestination(kind: .database, value: name)
    }
}

extension PostgresSource {
    /// Restores a dump: into a database (`--to-database`), created when missing, refused when it holds
    /// data unless `--force` (load into it) or `--drop-existing` (replace it); or, to a directory, as the
    /// plain `.sql` / `.dump` file. Plain dumps stream into `psql -v ON_ERROR_STOP=1 --single-transaction`,
    /// restricted and through a ``PlainDumpGuard``, so a tampered dump cannot run psql meta-commands;
    /// custom dumps go through `pg_restore -j N`. The globals dump (roles) is loaded into the server,
    /// where roles that already exist are kept.
    /// The database it was dumped from (the artifact's subject), on the source's server; roles for a
    /// globals dump.
    public func defaultRestoreDestination(for artifact: ManifestArtifact) -> RestoreDestination? {
        .database(artifact.subject)
    }

    public func restore(_ request: RestoreRequest, from archive: any ArchiveReader, context: SourceContext) throws -> RestoreReport {
        let isGlobals = request.artifact.details["kind"] == .string("globals")
        switch request.destination.kind {
        case .directory:
            return try restoreToDirectory(request, from: archive)
        case .database where isGlobals:
            let bytes = try loadGlobals(from: archive, artifact: request.artifact.name, server: configuration.connection, context: context)
            return RestoreReport(artifact: request.artifact.name, destination: "roles on \(configuration.connection.describe(environment: environment))", entries: 0, bytes: bytes)
        case .database:
            let target = request.destination.value
            let server = configuration.connection
            // --drop-existing: load into a new database first, and replace the old one only once the load
            // succeeded, so a failed restore never leaves the user with no database at all.
            let replacing = try request.dropExisting && databaseHoldsData(target, server: server)
            let loadInto = replacing ? "\(target)_restore_\(UUID().uuidString.prefix(8).lowercased())" : target
            let created = try prepareDatabase(loadInto, server: server, force: request.force)
            do {
                let bytes = try load(request, from: archive, into: loadInto, server: server, context: context)
                if replacing { try swapInto(target, from: loadInto, server: server) }
                let tables = try PostgresConnection(settings: server.with(database: target), environment: environment, source: name).tableRowCounts()
                var report = RestoreReport(artifact: request.artifact.name, destination: "database '\(target)' on \(server.with(database: target).describe(environment: environment))",
                                           entries: tables.count, bytes: bytes)
                if case .object(let expected)? = request.artifact.details["tables"] {
                    report.check(rowCounts: tables, recorded: expected.compactMapValues(\.integerValue))
                }
                return report
            } catch {
                if created { try? dropDatabase(loadInto, server: server) }
                throw error
            }
        default:
            throw BackupError(.usage, "\(request.artifact.name) is a PostgreSQL dump; restore it with --to-database NAME, or --to DIR to write the dump file")
        }
    }

    /// Restores the dump into a scratch database, compares every table's row count with the manifest,
    /// and drops the scratch database again.
    public func restoreDrill(_ request: RestoreRequest, from archive: any ArchiveReader, context: SourceContext) throws -> RestoreDrillResult? {
        guard request.artifact.details["kind"] == .string("database") else { return nil }
        guard case .object(let expected)? = request.artifact.details["tables"] else {
            return RestoreDrillResult(passed: false, summary: "the manifest records no row counts to compare with", durationSeconds: 0)
        }
        let started = Date()
        let server = configuration.restoreTestServer ?? configuration.connection
        let scratch = "backupkit_drill_\(UUID().uuidString.prefix(8).lowercased())"
        _ = try prepareDatabase(scratch, server: server, force: false)
        defer { try? dropDatabase(scratch, server: server) }
        do {
            _ = try load(request, from: archive, into: scratch, server: server, context: context)
        } catch let error as BackupError where error.code == .restoreFailed {
            // A dump that does not load (refused by the guard, or failed in psql or pg_restore) fails the drill.
            return RestoreDrillResult(passed: false, summary: "the dump did not load into a scratch database: \(error.message)",
                                      durationSeconds: Date().timeIntervalSince(started))
        }
        let actual = try PostgresConnection(settings: server.with(database: scratch), environment: environment, source: name).tableRowCounts()
        var differences: [String] = []
        for (table, value) in expected.sorted(by: { $0.key < $1.key }) {
            guard case .integer(let count) = value else { continue }
            if let restored = actual[table] {
                if restored != count { differences.append("\(table): \(restored) rows restored, \(count) dumped") }
            } else {
                differences.append("\(table): missing after restore")
            }
        }
        for table in actual.keys.sorted() where expected[table] == nil { differences.append("\(table): not in the manifest") }
        let rows = actual.values.reduce(0, +)
        let duration = Date().timeIntervalSince(started)
        if differences.isEmpty {
            return RestoreDrillResult(passed: true, summary: "restored into a scratch database: \(actual.count) tables, \(rows) rows, all counts match the manifest",
                                      durationSeconds: duration, details: ["tables": .integer(Int64(actual.count)), "rows": .integer(rows)])
        }
        return RestoreDrillResult(passed: false, summary: "\(differences.count) table(s) differ: \(differences.prefix(5).joined(separator: "; "))",
                                  durationSeconds: duration, details: ["differences": .array(differences.map { .string($0) })])
    }

    // MARK: Steps

    /// A connection to the server's maintenance database (`postgres`, else `template1`), for creating and
    /// dropping databases: the database being restored may not exist yet.
    func maintenanceConnection(_ server: PostgresConnectionSettings) throws -> PostgresConnection {
        do {
            return try PostgresConnection(settings: server.with(database: "postgres"), environment: environment, source: name)
        } catch let error as BackupError where error.code == .databaseMissing {
            return try PostgresConnection(settings: server.with(database: "template1"), environment: environment, source: name)
        }
    }

    /// Whether a database exists and holds user objects.
    func databaseHoldsData(_ target: String, server: PostgresConnectionSettings) throws -> Bool {
        try databaseHoldsData(target, server: server, maintenance: maintenanceConnection(server)) == true
    }

    /// Nil when the database does not exist, else whether it holds user objects.
    private func databaseHoldsData(_ target: String, server: PostgresConnectionSettings, maintenance: PostgresConnection) throws -> Bool? {
        guard try maintenance.value("SELECT 1 FROM pg_database WHERE datname = $1", [target]) != nil else { return nil }
        return try PostgresConnection(settings: server.with(database: target), environment: environment, source: name).holdsUserObjects()
    }

    /// Drops `target` and renames the freshly loaded `source` database to its name.
    func swapInto(_ target: String, from source: String, server: PostgresConnectionSettings) throws {
        let maintenance = try maintenanceConnection(server)
        try maintenance.query("DROP DATABASE IF EXISTS \(maintenance.quoted(target)) WITH (FORCE)")
        try maintenance.query("ALTER DATABASE \(maintenance.quoted(source)) RENAME TO \(maintenance.quoted(target))")
    }

    /// Creates the database, or checks an existing one: empty is fine, data needs `force`. Returns
    /// whether it created the database.
    func prepareDatabase(_ target: String, server: PostgresConnectionSettings, force: Bool) throws -> Bool {
        let maintenance = try maintenanceConnection(server)
        switch try databaseHoldsData(target, server: server, maintenance: maintenance) {
        case nil:
            try maintenance.query("CREATE DATABASE \(maintenance.quoted(target)) TEMPLATE template0")
            return true
        case true? where !force:
            throw BackupError(.restoreFailed, "the database '\(target)' exists and is not empty. Pass --drop-existing to replace it, or --force to load the dump into it as it is.")
        default:
            return false
        }
    }

    func dropDatabase(_ target: String, server: PostgresConnectionSettings) throws {
        let maintenance = try maintenanceConnection(server)
        try maintenance.query("DROP DATABASE IF EXISTS \(maintenance.quoted(target)) WITH (FORCE)")
    }

    /// Loads a database dump into `target`; returns the bytes fed.
    func load(_ request: RestoreRequest, from archive: any ArchiveReader, into target: String, server: PostgresConnectionSettings,
              context: SourceContext) throws -> Int64 {
        let settings = server.with(database: target)
        let serverMajor = try PostgresConnection(settings: settings, environment: environment, source: name).serverVersion / 10000
        return try settings.withToolLogin(environment: environment, stagingDirectory: context.stagingDirectory) { login in
            if request.artifact.details["format"] == .string("custom") {
                guard let path = request.artifactPath else { throw BackupError(.restoreFailed, "pg_restore needs the dump as a file") }
                let jobs = request.jobs ?? configuration.jobs ?? availableProcessors()
                let child = try ChildProcess(executable: tools.path("pg_restore", serverMajor: serverMajor),
                                             arguments: ["--no-password", "--exit-on-error", "--jobs=\(jobs)", "--dbname=\(target)", path],
                                             environment: login.environment, stdout: .null)
                try check(child, status: try child.wait(), what: "pg_restore into '\(target)'", login: login)
                return request.artifact.size
            }
            // psql runs restricted (no meta-commands but \unrestrict) under a key of ours, and the guard
            // refuses any meta-command pg_dump does not write before psql reads it.
            let dumpGuard = PlainDumpGuard(policy: .databaseDump)
            let child = try restrictedPsql(dumpGuard, serverMajor: serverMajor, login: login, options: ["--set=ON_ERROR_STOP=1", "--single-transaction"])
            let bytes = try feed(archive, to: child, through: dumpGuard, artifact: request.artifact.name, context: context,
                                 onRefusal: "psql was stopped before reading that line, so its transaction was rolled back and nothing from the dump was committed")
            try check(child, status: try child.wait(), what: "psql into '\(target)'", login: login)
            return bytes
        }
    }

    /// Loads the globals dump (roles, tablespaces) into the server. Roles that already exist stay as
    /// they are; any other error fails the restore.
    func loadGlobals(from archive: any ArchiveReader, artifact: String, server: PostgresConnectionSettings, context: SourceContext) throws -> Int64 {
        let server = server.with(database: try maintenanceConnection(server).value("SELECT current_database()") ?? "postgres")
        let serverMajor = try PostgresConnection(settings: server, environment: environment, source: name).serverVersion / 10000
        return try server.withToolLogin(environment: environment, stagingDirectory: context.stagingDirectory) { login in
            let dumpGuard = PlainDumpGuard(policy: .globalsDump)
            let child = try restrictedPsql(dumpGuard, serverMajor: serverMajor, login: login, options: [])
            let bytes = try feed(archive, to: child, through: dumpGuard, artifact: artifact, context: context,
                                 onRefusal: "psql was stopped before reading that line; statements before it may have run (the globals load is not one transaction)")
            let status = try child.wait()
            // Server errors other than roles that exist fail the load, and so do psql's own (": error: ",
            // such as a meta-command its restrict mode refused).
            let errors = child.stderrText.split(separator: "\n").filter {
                ($0.contains("ERROR:") && !$0.contains("already exists")) || $0.contains(": error: ")
            }
            guard status == 0, errors.isEmpty else {
                throw BackupError(.restoreFailed, "loading the globals (roles) failed: \(login.redact(errors.joined(separator: "; ")))")
            }
            return bytes
        }
    }

    /// psql reading a dump on its standard input, restricted from the start (no meta-commands but
    /// `\unrestrict` with `dumpGuard`'s key), with `options` such as `--single-transaction`.
    private func restrictedPsql(_ dumpGuard: PlainDumpGuard, serverMajor: Int, login: PostgresToolLogin, options: [String]) throws -> ChildProcess {
        try ChildProcess(executable: tools.path("psql", serverMajor: serverMajor),
                         arguments: ["--no-password", "--no-psqlrc", "--quiet"] + options + ["--command=\\restrict \(dumpGuard.restrictKey)", "--file=-"],
                         environment: login.environment, stdin: .pipe, stdout: .null)
    }

    /// Streams the dump into psql through `dumpGuard`. When the guard refuses a line, psql is stopped
    /// before its input is closed (closing it would let `--single-transaction` commit) and the restore
    /// fails with an error naming the artifact, the line and the meta-command.
    private func feed(_ archive: any ArchiveReader, to child: ChildProcess, through dumpGuard: PlainDumpGuard, artifact: String,
                      context: SourceContext, onRefusal consequence: String) throws -> Int64 {
        guard try archive.nextEntry() != nil else { throw BackupError(.restoreFailed, "the dump artifact is empty") }
        var dumpGuard = dumpGuard
        let total: Int64
        do {
            total = try archive.forEachChunk { chunk in
                if context.isCancelled() {
                    child.terminate()
                    throw CancellationError()
                }
                try dumpGuard.feed(chunk) { try child.writeInput($0) }
            }
            try dumpGuard.finish { try child.writeInput($0) }
        } catch let refusal as PlainDumpGuard.Refusal {
            child.terminate()
            throw BackupError(.restoreFailed, "\(artifact) was refused at \(refusal). The dump was changed after the backup, or is not a pg_dump "
                              + "plain dump; \(consequence). Restore another set (--set), or write the dump out with --to DIR to inspect it.")
        } catch {
            child.terminate()
            throw error
        }
        child.closeInput()
        _ = try archive.nextEntry()
        return total
    }

    private func check(_ child: ChildProcess, status: Int32, what: String, login: PostgresToolLogin) throws {
        guard status == 0 else {
            let message = login.redact(child.stderrText.trimmingCharacters(in: .whitespacesAndNewlines))
            throw BackupError(.restoreFailed, "\(what) failed with status \(status): \(message.suffix(2000))")
        }
    }

    /// Writes the dump as a file: `DIR/<database>.sql` (or `.dump`), refused unless the subject is a
    /// valid subject and the file lands inside `DIR`.
    func restoreToDirectory(_ request: RestoreRequest, from archive: any ArchiveReader) throws -> RestoreReport {
        if request.artifact.details["kind"] == .string("base_backup") { return try restoreBaseBackup(request, from: archive) }
        let directory = request.destination.value
        let subject = request.artifact.subject
        guard ArtifactName.isValidSubject(subject) else {
            throw BackupError(.restoreFailed, "\(request.artifact.name): the subject '\(subject)' is not a valid subject (letters, digits, '.', '-' and '_'); refusing to make a file name of it in \(directory)")
        }
        let fileExtension = request.artifact.details["format"] == .string("custom") ? "dump" : "sql"
        let path = try RestorePath.checked("\(directory)/\(subject).\(fileExtension)", inside: directory, followingLast: false)
        try makeDirectory(directory, purpose: "the restore directory", as: .restoreFailed)
        if FileManager.default.fileExists(atPath: path) && !request.force {
            throw BackupError(.restoreFailed, "\(path) exists. Choose another directory, or pass --force to replace it.")
        }
        let writer = try AtomicFileWriter(finalPath: path, mode: 0o600, computeDigest: false)
        guard try archive.nextEntry() != nil else { throw BackupError(.restoreFailed, "the dump artifact is empty") }
        try archive.forEachChunk { try writer.write($0) }
        _ = try archive.nextEntry()
        try writer.commit()
        return RestoreReport(artifact: request.artifact.name, destination: path, entries: 1, bytes: writer.bytesWritten)
    }
}
