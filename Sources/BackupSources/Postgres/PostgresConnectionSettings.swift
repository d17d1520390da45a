import BackupKit
import Foundation

/// Where and as whom to connect: from a URL (`postgres://user@host:5432/db`, as in `DATABASE_URL`), from
/// fields, or from the standard `PG*` environment variables, in that order of precedence (fields
/// override the URL). The password comes from `password_file`, `password`, the URL, or `PGPASSWORD`;
/// otherwise libpq looks in `PGPASSFILE` / `~/.pgpass` itself. It never goes on a command line.
public struct PostgresConnectionSettings: Sendable, Hashable {
    public var host: String?
    public var port: Int?
    public var user: String?
    public var database: String?
    public var sslmode: String?
    public var password: Secret?

    public init(host: String? = nil, port: Int? = nil, user: String? = nil, database: String? = nil, sslmode: String? = nil, password: Secret? = nil) {
        self.host = host
        self.port = port
        self.user = user
        self.database = database
        self.sslmode = sslmode
        self.password = password
    }

    /// Parses `postgres://user:password@host:port/database?sslmode=require&host=/socket/dir`.
    public init(url: String) throws {
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme ?? "") else {
            // Never echo it: an unparseable URL may hold a password with characters the parser choked on.
            throw BackupError(.invalidPlan, "the database URL is not a valid postgres://user@host:port/database URL. Percent-encode special characters in the user or password (such as %23 for #), or use password_file.")
        }
        host = components.host.flatMap { $0.isEmpty ? nil : $0.removingPercentEncoding }
        port = components.port
        user = components.user.flatMap { $0.isEmpty ? nil : $0.removingPercentEncoding }
        password = components.password.flatMap { $0.removingPercentEncoding }.map { .value($0) }
        let path = components.path.drop { $0 == "/" }
        database = path.isEmpty ? nil : String(path).removingPercentEncoding
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode": sslmode = item.value
            case "host": host = item.value
            case "port": port = item.value.flatMap(Int.init)
            case "user": user = item.value
            case "dbname": database = item.value
            default: break
            }
        }
    }

    /// These settings, with `other` filling what these leave unset.
    public func overriding(_ other: PostgresConnectionSettings) -> PostgresConnectionSettings {
        PostgresConnectionSettings(host: host ?? other.host, port: port ?? other.port, user: user ?? other.user,
                                   database: database ?? other.database, sslmode: sslmode ?? other.sslmode, password: password ?? other.password)
    }

    /// The settings for another database on the same server.
    public func with(database: String) -> PostgresConnectionSettings {
        var copy = self
        copy.database = database
        return copy
    }

    /// The libpq parameters set explicitly; libpq fills the rest from `PG*` variables and its defaults.
    var parameters: [String: String] {
        var result: [String: String] = [:]
        if let host { result["host"] = host }
        if let port { result["port"] = String(port) }
        if let user { result["user"] = user }
        if let database { result["dbname"] = database }
        if let sslmode { result["sslmode"] = sslmode }
        return result
    }

    /// The password from the plan, or from `PGPASSWORD`.
    func resolvedPassword(environment: [String: String]) throws -> String? {
        if let password { return try password.reveal() }
        if let value = environment["PGPASSWORD"], !value.isEmpty { return value }
        return nil
    }

    /// `app@db:5432/schedgen`, with what libpq would use for the parts left unset. Never a password.
    public func describe(environment: [String: String]) -> String {
        let host = self.host ?? environment["PGHOST"] ?? "local socket"
        let port = self.port.map(String.init) ?? environment["PGPORT"] ?? "5432"
        let user = effectiveUser(environment: environment)
        let database = self.database ?? environment["PGDATABASE"] ?? user
        let hostPart = host.hasPrefix("/") ? "socket \(host)" : host
        return "\(user)@\(hostPart):\(port)/\(database)"
    }

    func effectiveUser(environment: [String: String]) -> String {
        if let user { return user }
        if let value = environment["PGUSER"] { return value }
        if let value = environment["USER"] { return value }
        return getpwuid(geteuid()).map { String(cString: $0.pointee.pw_name) } ?? "postgres"
    }

    /// The environment for a child such as `pg_dump`: the caller's, without `PGPASSWORD`, with these
    /// settings as `PG*` variables, and `PGPASSFILE` when a password file was written for it.
    func childEnvironment(base: [String: String], passfile: String?) -> [String: String] {
        var environment = base
        environment.removeValue(forKey: "PGPASSWORD")
        if let host { environment["PGHOST"] = host }
        if let port { environment["PGPORT"] = String(port) }
        if let user { environment["PGUSER"] = user }
        if let database { environment["PGDATABASE"] = database }
        if let sslmode { environment["PGSSLMODE"] = sslmode }
        if let passfile { environment["PGPASSFILE"] = passfile }
        environment["PGCONNECT_TIMEOUT"] = environment["PGCONNECT_TIMEOUT"] ?? "10"
        return environment
    }
}

extension PostgresConnectionSettings {
    /// Runs `body` with what a client tool (pg_dump, psql, pg_restore) needs to log in with these
    /// settings and no password on its command line. The password file its environment names exists
    /// until `body` returns.
    func withToolLogin<T>(environment: [String: String], stagingDirectory: String, _ body: (PostgresToolLogin) throws -> T) throws -> T {
        let password = try resolvedPassword(environment: environment)
        let passwordFile = try PasswordFile.make(password: password, in: stagingDirectory)
        return try withExtendedLifetime(passwordFile) {
            try body(PostgresToolLogin(environment: childEnvironment(base: environment, passfile: passwordFile?.path), password: password))
        }
    }
}

/// A client tool's environment (``PostgresConnectionSettings/childEnvironment(base:passfile:)``) and
/// the password it leads to, for masking in what the tool says.
struct PostgresToolLogin {
    let environment: [String: String]
    let password: String?

    /// `text` without the password (or URL credentials) in it.
    func redact(_ text: String) -> String {
        Redaction.redact(text, secrets: password.map { [$0] } ?? [])
    }
}

/// A libpq password file (mode 0600) for a child process, removed when dropped.
final class PasswordFile {
    let path: String

    /// Writes `*:*:*:*:password` into `directory`; returns nil when there is no password to pass.
    static func make(password: String?, in directory: String) throws -> PasswordFile? {
        guard let password else { return nil }
        try makeDirectory(directory, purpose: "the directory for the temporary password file")
        let escaped = password.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: ":", with: "\\:")
        let path = directory + "/.pgpass-\(UUID().uuidString)"
        try AtomicFileWriter.write(Array("*:*:*:*:\(escaped)\n".utf8), to: path)
        return PasswordFile(path: path)
    }

    private init(path: String) { self.path = path }

    deinit { unlink(path) }
}
