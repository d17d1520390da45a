import BackupKit
import CLibPQ
import Foundation

/// One libpq connection, owned by this object and closed in `deinit`. Connection failures are sorted
/// into the errors operators act on differently: missing credentials, wrong credentials, a server that
/// cannot be reached, a database that does not exist.
final class PostgresConnection {
    private let handle: OpaquePointer
    let description: String
    /// The SQLSTATE of the last query that failed on the server, such as `55P03` (lock not available).
    private(set) var lastErrorState: String?

    /// Connects, or throws a ``BackupError`` that names the source, the server, the database and the fix.
    init(settings: PostgresConnectionSettings, environment: [String: String], source: String) throws {
        description = settings.describe(environment: environment)
        var parameters = settings.parameters
        let password = try settings.resolvedPassword(environment: environment)
        if let password { parameters["password"] = password }
        parameters["connect_timeout"] = parameters["connect_timeout"] ?? environment["PGCONNECT_TIMEOUT"] ?? "10"
        parameters["application_name"] = "backupctl"
        let keys = parameters.keys.sorted()
        let keywords = keys.map { strdup($0) } + [nil]
        let values = keys.map { strdup(parameters[$0]!) } + [nil]
        defer { (keywords + values).forEach { free($0) } }
        let connection = keywords.withUnsafeBufferPointer { keywordPointer in
            values.withUnsafeBufferPointer { valuePointer in
                keywordPointer.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: keywords.count) { k in
                    valuePointer.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: values.count) { v in
                        PQconnectdbParams(k, v, 0)
                    }
                }
            }
        }
        guard let connection else { throw BackupError(.sourceFailed, "postgres source '\(source)': libpq is out of memory") }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = Redaction.redact(String(cString: PQerrorMessage(connection)).trimmingCharacters(in: .whitespacesAndNewlines),
                                           secrets: password.map { [$0] } ?? [])
            let needsPassword = PQconnectionNeedsPassword(connection) != 0
            PQfinish(connection)
            throw Self.classify(message, needsPassword: needsPassword, hadPassword: password != nil, source: source,
                                description: description, user: settings.effectiveUser(environment: environment), settings: settings, environment: environment)
        }
        handle = connection
    }

    deinit { PQfinish(handle) }

    static func classify(_ message: String, needsPassword: Bool, hadPassword: Bool, source: String, description: String, user: String,
                         settings: PostgresConnectionSettings, environment: [String: String]) -> BackupError {
        let prefix = "postgres source '\(source)' (\(description))"
        let database = settings.database ?? environment["PGDATABASE"] ?? user
        if needsPassword && !hadPassword {
            return BackupError(.missingCredentials, "\(prefix): the server asks user '\(user)' for a password and none was given. Set password_file (or password: ${VAR}) in the plan, PGPASSWORD, or an entry in PGPASSFILE / ~/.pgpass.")
        }
        if message.contains("password authentication failed") || message.contains("authentication failed") {
            return BackupError(.authenticationFailed, "\(prefix): password authentication failed for user '\(user)'. Check PGPASSWORD / password_file.")
        }
        if message.contains("database \"") && message.contains("does not exist") {
            return BackupError(.databaseMissing, "\(prefix): the database '\(database)' does not exist on the server. Check 'database' in the plan, or create it.")
        }
        let unreachable: [String] = ["Connection refused", "could not connect", "could not translate host name", "timeout expired",
                                     "No route to host", "Network is unreachable", "No such file or directory", "server closed the connection"]
        if unreachable.contains(where: { message.contains($0) }) {
            return BackupError(.unreachable, "\(prefix): cannot reach the server (\(message.split(separator: "\n").last.map(String.init) ?? message)). Check host and port, and that PostgreSQL is running and accepts connections from this host.", kind: .transient)
        }
        return BackupError(.sourceFailed, "\(prefix): cannot connect: \(message)")
    }

    /// A handle that cancels the query this connection is running, from another thread.
    func makeCanceller() -> QueryCanceller? { PQgetCancel(handle).map(QueryCanceller.init) }

    /// The server's version, such as 150004.
    var serverVersion: Int { Int(PQserverVersion(handle)) }

    /// Runs SQL and returns the rows as text (nil for NULL).
    @discardableResult
    func query(_ sql: String, _ parameters: [String] = []) throws -> [[String?]] {
        lastErrorState = nil
        let cParameters = parameters.map { strdup($0) }
        defer { cParameters.forEach { free($0) } }
        let pointers: [UnsafePointer<CChar>?] = cParameters.map { $0.map { UnsafePointer($0) } }
        let result = pointers.withUnsafeBufferPointer { buffer in
            PQexecParams(handle, sql, Int32(parameters.count), nil, buffer.baseAddress, nil, nil, 0)
        }
        guard let result else { throw BackupError(.sourceFailed, "PostgreSQL (\(description)): \(errorMessage)") }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK else {
            lastErrorState = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            throw BackupError(.sourceFailed, "PostgreSQL (\(description)): \(String(cString: PQresultErrorMessage(result)).trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        let rows = PQntuples(result), columns = PQnfields(result)
        var table: [[String?]] = []
        for row in 0..<rows {
            var values: [String?] = []
            for column in 0..<columns {
                values.append(PQgetisnull(result, row, column) != 0 ? nil : String(cString: PQgetvalue(result, row, column)))
            }
            table.append(values)
        }
        return table
    }

    /// The first column of the first row.
    func value(_ sql: String, _ parameters: [String] = []) throws -> String? {
        try query(sql, parameters).first?.first ?? nil
    }

    /// An identifier quoted for SQL, such as `"My Table"`.
    func quoted(_ identifier: String) -> String {
        "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    private var errorMessage: String { String(cString: PQerrorMessage(handle)).trimmingCharacters(in: .whitespacesAndNewlines) }
}

/// Cancels whatever query a connection runs (libpq's `PQcancel`, which is safe from any thread while
/// another uses the connection). A query that already ended is not affected.
final class QueryCanceller: @unchecked Sendable {
    private let handle: OpaquePointer

    init(_ handle: OpaquePointer) { self.handle = handle }

    deinit { PQfreeCancel(handle) }

    func cancel() {
        var message = [CChar](repeating: 0, count: 256)
        _ = PQcancel(handle, &message, Int32(message.count))
    }
}

extension PostgresConnection {
    /// Every ordinary table outside the system schemas with its exact row count, as `schema.table`.
    /// Throws ``LockWait`` when a count waits longer than the session's `lock_timeout` for its table.
    func tableRowCounts() throws -> [String: Int64] {
        try rowCounts(of: userTables())
    }

    /// A table as the manifest names it (`schema.table`, unquoted) and as SQL and pg_dump's COPY lines
    /// write it (`public."Odd name"`).
    struct UserTable {
        var key: String
        var name: String
    }

    /// Every ordinary table outside the system schemas and extensions, by schema and name.
    func userTables() throws -> [UserTable] {
        try query("""
            SELECT n.nspname, c.relname, format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
              AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
            ORDER BY 1, 2
            """).compactMap { row in
            guard let schema = row[0], let table = row[1], let name = row[2] else { return nil }
            return UserTable(key: "\(schema).\(table)", name: name)
        }
    }

    /// Takes an ACCESS SHARE lock on each of `tables` in the current transaction (no scan, no data
    /// read): from then until the transaction ends no DDL can change them, so what `pg_dump` reads in an
    /// exported snapshot is what the catalog says. Throws ``LockWait`` when a lock waits longer than
    /// `lock_timeout`.
    func lockForDump(_ tables: [UserTable]) throws {
        for table in tables {
            try waitingForLock(on: table) { try query("LOCK TABLE \(table.name) IN ACCESS SHARE MODE") }
        }
    }

    /// The exact row count of each of `tables`, keyed by ``UserTable/key``: from `known` (keyed by
    /// ``UserTable/name``, counted elsewhere in the same snapshot) where it has the table, else by
    /// `count(*)`. Throws ``LockWait`` when a count waits longer than `lock_timeout` for its table.
    func rowCounts(of tables: [UserTable], known: [String: Int64] = [:]) throws -> [String: Int64] {
        var counts: [String: Int64] = [:]
        for table in tables {
            if let rows = known[table.name] {
                counts[table.key] = rows
                continue
            }
            let count = try waitingForLock(on: table) { try value("SELECT count(*) FROM \(table.name)") } ?? "0"
            counts[table.key] = Int64(count) ?? 0
        }
        return counts
    }

    /// Runs a statement on `table`, turning a `lock_timeout` expiry into a ``LockWait`` that names it.
    @discardableResult
    private func waitingForLock<T>(on table: UserTable, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch where lastErrorState == LockWait.lockNotAvailable {
            throw LockWait(tables: [table.name])
        }
    }

    /// Whether the database holds any user objects (tables, views, sequences, functions).
    func holdsUserObjects() throws -> Bool {
        let count = try value("""
            SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%')
                 + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema'))
            """) ?? "0"
        return (Int(count) ?? 0) > 0
    }
}
