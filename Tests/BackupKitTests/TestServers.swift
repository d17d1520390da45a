import BackupKit
import Foundation

/// The real servers `scripts/test-services start` runs, read from `.test-services/env`. A test that
/// needs a server and finds none fails with a message saying how to start it; it never skips.
struct TestServers {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    let values: [String: String]

    /// The env file; BACKUPKIT_TEST_SERVICES_ENV names another checkout's, such as the one whose servers run.
    static let environmentFile = ProcessInfo.processInfo.environment["BACKUPKIT_TEST_SERVICES_ENV"] ?? repositoryRoot + "/.test-services/env"

    /// The directory of the env file, which also holds the servers' Python virtual environment.
    static var directory: String { (environmentFile as NSString).deletingLastPathComponent }

    static func load() throws -> TestServers {
        let path = environmentFile
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw BackupError(.notFound, "the test servers are not running: \(path) is missing. Run `scripts/test-services start` (scripts/test does).")
        }
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") where line.contains("=") && !line.hasPrefix("#") {
            let parts = line.split(separator: "=", maxSplits: 1)
            values[String(parts[0])] = parts.count > 1 ? String(parts[1]).trimmingCharacters(in: CharacterSet(charactersIn: "\"'")) : ""
        }
        return TestServers(values: values)
    }

    func value(_ key: String) throws -> String {
        guard let value = values[key], !value.isEmpty else {
            throw BackupError(.notFound, "\(key) is not in .test-services/env; is its server started by scripts/test-services?")
        }
        return value
    }
}

/// The PostgreSQL 15 test server (scram-sha-256 password authentication).
struct TestPostgres {
    let host: String
    let port: Int
    let user: String
    let password: String
    let bin: String

    static func load() throws -> TestPostgres {
        let servers = try TestServers.load()
        return TestPostgres(host: try servers.value("BACKUPKIT_PG_HOST"), port: Int(try servers.value("BACKUPKIT_PG_PORT"))!,
                            user: try servers.value("BACKUPKIT_PG_USER"), password: try servers.value("BACKUPKIT_PG_PASSWORD"),
                            bin: servers.values["BACKUPKIT_PG_BIN"] ?? "/usr/lib/postgresql/15/bin")
    }

    var environment: [String: String] {
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PG") && !$0.key.hasPrefix("BACKUP_") }
        environment["PGHOST"] = host
        environment["PGPORT"] = String(port)
        environment["PGUSER"] = user
        environment["PGPASSWORD"] = password
        return environment
    }

    /// Runs SQL with psql (ON_ERROR_STOP) and returns its unaligned, tuples-only output.
    @discardableResult
    func psql(_ sql: String, database: String = "postgres") throws -> String {
        let result = try runProcess(bin + "/psql", ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", sql], environment: environment)
        guard result.status == 0 else { throw BackupError(.sourceFailed, "psql failed: \(result.stderr)\nSQL: \(sql.prefix(300))") }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// pg_dump's output, without the `\restrict` lines whose key is random on every run (PostgreSQL 15.14+).
    func dump(_ arguments: [String], database: String) throws -> String {
        let result = try runProcess(bin + "/pg_dump", arguments + ["-d", database], environment: environment)
        guard result.status == 0 else { throw BackupError(.sourceFailed, "pg_dump failed: \(result.stderr)") }
        return result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.hasPrefix("\\restrict") && !$0.hasPrefix("\\unrestrict") }.joined(separator: "\n")
    }

    /// A fresh database name, unique per test.
    static func uniqueName(_ prefix: String) -> String {
        "\(prefix)_\(UUID().uuidString.prefix(8).lowercased())"
    }

    func dropDatabase(_ name: String) {
        _ = try? psql("DROP DATABASE IF EXISTS \"\(name)\" WITH (FORCE)")
    }
}
