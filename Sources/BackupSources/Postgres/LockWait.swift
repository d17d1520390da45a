import BackupKit
import Foundation

/// A dump that waited longer than `lock_wait_timeout` for a table lock. It is thrown where the wait
/// ends (a row count, or `pg_dump`'s `LOCK TABLE`) and turned by ``failure(source:database:dumpSession:)``
/// into the error a user sees, which names the tables and, where PostgreSQL can tell, the sessions in the way.
struct LockWait: Error, CustomStringConvertible {
    /// The tables waited for, as SQL names (`public.t`, `"My Schema"."My Table"`).
    var tables: [String]

    /// The SQLSTATE `lock_timeout` cancels a statement with (lock_not_available).
    static let lockNotAvailable = "55P03"

    init(tables: [String]) { self.tables = tables }

    /// The tables of the `LOCK TABLE … IN ACCESS SHARE MODE` that `pg_dump` gave up on when its
    /// `--lock-wait-timeout` ran out ("canceling statement due to statement timeout", then the query);
    /// nil when `pg_dump` failed for another reason.
    init?(dumpError stderr: String) {
        guard stderr.contains("timeout"), let lock = stderr.range(of: "LOCK TABLE "),
              let mode = stderr.range(of: " IN ACCESS SHARE MODE", range: lock.upperBound..<stderr.endIndex) else { return nil }
        var names = stderr[lock.upperBound..<mode.lowerBound]
        if names.hasPrefix("ONLY ") { names = names.dropFirst(5) }
        tables = Self.split(names)
        if tables.isEmpty { return nil }
    }

    var description: String { "waited longer than lock_timeout for a lock on \(tables.joined(separator: ", ").shortenedForMessage)" }

    /// `a, "b,c"."d"` as `a` and `"b,c"."d"`: a statement may lock several tables.
    static func split(_ list: Substring) -> [String] {
        var names: [String] = [], current = "", inQuotes = false
        for character in list {
            if character == "\"" { inQuotes.toggle() }
            if character == "," && !inQuotes {
                names.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        return (names + [current]).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// A session that holds, or waits for, an ACCESS EXCLUSIVE lock (the only mode that conflicts with
    /// the dump's ACCESS SHARE) on a table waited for.
    struct Blocker {
        var table: String
        /// nil: a prepared transaction, which has no session.
        var pid: String?
        var granted: Bool
        /// Whether it waits for the dump's own snapshot transaction, so neither can go on.
        var waitsForTheDump: Bool
        var user: String?
        var application: String?
        var state: String?
        var query: String?
    }

    static let blockersQuery = """
        SELECT format('%I.%I', n.nspname, c.relname), l.pid, l.granted, $2::int = ANY (pg_blocking_pids(l.pid)),
               a.usename, a.application_name, a.state, a.query
        FROM pg_locks l JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock'
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND l.relation IN (SELECT to_regclass(name) FROM json_array_elements_text($1::json) AS name)
        ORDER BY 1, l.granted DESC, l.pid
        """

    /// The sessions in the way now, read from `pg_locks` and `pg_stat_activity` over `connection`.
    /// `dumpSession` is the backend pid of the dump's snapshot transaction.
    func blockers(through connection: PostgresConnection, dumpSession: String) throws -> [Blocker] {
        let names = String(decoding: try JSONEncoder().encode(tables), as: UTF8.self)
        return try connection.query(Self.blockersQuery, [names, dumpSession]).map { row in
            Blocker(table: row[0] ?? "?", pid: row[1], granted: row[2] == "t", waitsForTheDump: row[3] == "t",
                    user: row[4], application: row[5], state: row[6], query: row[7])
        }
    }

    /// The error for this wait: the tables, who is in the way, and what to do.
    func failure(source: PostgresSource, database: String, dumpSession: String) -> BackupError {
        let settings = source.configuration.connection.with(database: database)
        let timeout = source.configuration.lockWaitTimeout
        let subject = "postgres source '\(source.name)': the dump of '\(database)' (\(settings.describe(environment: source.environment))) waited longer than lock_wait_timeout (\(timeout)) for a lock on \(tables.count == 1 ? "table" : "tables") \(tables.joined(separator: ", ").shortenedForMessage)"
        let blockers: [Blocker]
        do {
            blockers = try self.blockers(through: try source.connect(database), dumpSession: dumpSession)
        } catch {
            return BackupError(.sourceFailed, "\(subject); PostgreSQL could not tell which session holds it (\(error)). Raise lock_wait_timeout if that session's work is expected to take longer.", kind: .transient)
        }
        let secrets = (try? settings.resolvedPassword(environment: source.environment)).map { [$0] } ?? []
        let sessions = blockers.map { describe($0, secrets: secrets) }.joined(separator: "; ")
        let pids = blockers.compactMap(\.pid)
        let sessionList = pids.map { "PID \($0)" }.joined(separator: ", ")
        let terminate = "SELECT " + pids.map { "pg_terminate_backend(\($0))" }.joined(separator: ", ")
        let advice: String
        if blockers.isEmpty {
            advice = "no session holds or waits for a conflicting lock on it now, so the next run may succeed; if this recurs, raise lock_wait_timeout."
        } else if blockers.contains(where: \.waitsForTheDump) {
            advice = "\(sessions). End session \(sessionList) (\(terminate)) or run its work outside the backup's window; raising lock_wait_timeout would not help, since it waits for this backup."
        } else if !pids.isEmpty {
            advice = "\(sessions). Wait for or end session \(sessionList) (\(terminate)), or raise lock_wait_timeout."
        } else {
            advice = "\(sessions). Commit or roll back the prepared transaction (see pg_prepared_xacts), or raise lock_wait_timeout."
        }
        return BackupError(.sourceFailed, "\(subject): \(advice)", kind: .transient)
    }

    /// "session PID 42 (user 'app', application 'psql', state 'idle in transaction', query '…') holds an
    /// ACCESS EXCLUSIVE lock on public.t". A query that mentions a password is left out.
    func describe(_ blocker: Blocker, secrets: [String]) -> String {
        guard let pid = blocker.pid else { return "a prepared transaction holds an ACCESS EXCLUSIVE lock on \(blocker.table)" }
        let query = blocker.query.map { text in
            text.lowercased().contains("password") ? "(left out: it mentions a password)"
                : Redaction.redact(text.split(whereSeparator: \.isWhitespace).joined(separator: " "), secrets: secrets).shortenedForMessage
        }
        let details = [("user", blocker.user), ("application", blocker.application), ("state", blocker.state), ("query", query)]
            .compactMap { key, value in value.map { "\(key) '\($0)'" } }.joined(separator: ", ")
        let session = "session PID \(pid)" + (details.isEmpty ? "" : " (\(details))")
        if blocker.granted { return "\(session) holds an ACCESS EXCLUSIVE lock on \(blocker.table)" }
        if blocker.waitsForTheDump {
            return "\(session) waits for an ACCESS EXCLUSIVE lock on \(blocker.table) behind this backup's own snapshot transaction, and the dump queued behind it"
        }
        return "\(session) waits for an ACCESS EXCLUSIVE lock on \(blocker.table), and the dump queued behind it"
    }
}
