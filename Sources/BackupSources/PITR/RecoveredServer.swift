import BackupKit
import Foundation
import Glibc

/// A PostgreSQL server started on a restored data directory: started with `pg_ctl` as the OS user
/// that owns the data (through `runuser` when this runs as root), listening on `port` and on a Unix
/// socket in the data directory itself, its log in `backupctl-recovery.log` there.
struct RecoveredServer {
    let dataDirectory: String
    let port: Int
    let osUser: String
    let source: PostgresSource
    /// Where `pg_ctl` lives; nil: PATH.
    let binDirectory: String?

    var logPath: String { dataDirectory + "/backupctl-recovery.log" }

    private func tool(_ name: String) -> String { binDirectory.map { "\($0)/\(name)" } ?? name }

    /// Runs a server tool, as `osUser` when this process is root.
    private func run(_ arguments: [String], timeout: Double) throws -> (Int32, String) {
        let (executable, argv) = geteuid() == 0 ? ("runuser", ["-u", osUser, "--"] + arguments) : (arguments[0], Array(arguments.dropFirst()))
        let child = try ChildProcess(executable: executable, arguments: argv, environment: ProcessInfo.processInfo.environment, stdout: .null)
        let status = try child.wait(timeout: timeout)
        return (status, child.stderrText)
    }

    func start(timeout: Double) throws {
        // -w: pg_ctl returns once the server accepts connections (in recovery: once it is consistent), or
        // fails when it stops first.
        let (status, error) = try run([tool("pg_ctl"), "-D", dataDirectory, "-l", logPath, "-o", "-p \(port) -k \(dataDirectory)", "-w",
                                       "-t", "\(Int(timeout))", "start"], timeout: timeout + 60)
        guard status == 0 else {
            throw BackupError(.restoreFailed, "pg_ctl could not start the restored server in \(dataDirectory): \(error.trimmingCharacters(in: .whitespacesAndNewlines)) \(logTail())")
        }
    }

    /// Stops the server (immediate: a restored copy has nothing to flush that matters).
    func stop() {
        _ = try? run([tool("pg_ctl"), "-D", dataDirectory, "-m", "immediate", "-w", "stop"], timeout: 120)
    }

    var isRunning: Bool {
        (try? run([tool("pg_ctl"), "-D", dataDirectory, "status"], timeout: 30).0) == 0
    }

    /// Waits until recovery ended and the server was promoted; returns the last replayed transaction's
    /// time. Fails with the server log's last lines when the server stops (a missing or damaged
    /// segment, a target recovery did not reach) or the time runs out.
    func waitForPromotion(timeout: Double) throws -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        var pause: useconds_t = 50_000
        while Date() < deadline {
            if let connection = try? connect() {
                if let inRecovery = try? connection.value("SELECT pg_is_in_recovery()::text"), inRecovery == "false" {
                    return try connection.value("SELECT pg_last_xact_replay_timestamp()::text")
                }
            } else if !isRunning {
                throw BackupError(.restoreFailed, "the restored server in \(dataDirectory) stopped during recovery. \(logTail())")
            }
            usleep(pause)
            pause = min(pause * 2, 1_000_000)
        }
        throw BackupError(.restoreFailed, "recovery in \(dataDirectory) did not finish within \(Int(timeout)) s (waited for pg_is_in_recovery() to turn false). \(logTail())")
    }

    func connect(database: String = "postgres") throws -> PostgresConnection {
        var settings = source.configuration.connection
        settings.host = dataDirectory
        settings.port = port
        settings.database = database
        settings.sslmode = "disable"
        return try PostgresConnection(settings: settings, environment: source.environment, source: source.name)
    }

    /// Whether the server stopped because the archived WAL ended before the recovery target.
    var endedBeforeTarget: Bool {
        ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").contains("recovery ended before configured recovery target was reached")
    }

    /// The log's last lines, for errors.
    func logTail(lines: Int = 12) -> String {
        guard let text = try? String(contentsOfFile: logPath, encoding: .utf8) else { return "(no server log at \(logPath))" }
        let tail = text.split(separator: "\n").suffix(lines).joined(separator: "\n  ")
        return "Server log (\(logPath)), last lines:\n  \(tail)"
    }
}
