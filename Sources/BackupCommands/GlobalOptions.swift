import ArgumentParser
import BackupKit
import Foundation
import Logging
import Synchronization

/// Options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The plan file. Default: $BACKUP_CONFIG, else ./backup.yml if it exists, else the environment.", valueName: "FILE"))
    var config: String?

    @Flag(name: .long, help: "Print machine-readable JSON on stdout instead of text.")
    var json = false

    @Option(name: .long, help: ArgumentHelp("Log level on stderr: trace, debug, info, notice, warning, error, critical. Default: $BACKUP_LOG_LEVEL, else error.", valueName: "LEVEL"))
    var logLevel: String?

    /// The plan file to read, or nil to build the plan from the environment.
    var planFile: String? {
        if let config { return config }
        if let path = ProcessInfo.processInfo.environment["BACKUP_CONFIG"], !path.isEmpty { return path }
        return FileManager.default.fileExists(atPath: "backup.yml") ? "backup.yml" : nil
    }

    /// The log level asked for, or nil for the default (error).
    private var levelText: (text: String, from: String)? {
        if let logLevel { return (logLevel, "--log-level") }
        if let text = ProcessInfo.processInfo.environment["BACKUP_LOG_LEVEL"], !text.isEmpty { return (text, "BACKUP_LOG_LEVEL") }
        return nil
    }

    func validate() throws {
        if let (text, from) = levelText, Logger.Level(rawValue: text.lowercased()) == nil {
            let levels = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
            throw ValidationError("\(from) \(text): not a log level; use one of \(levels)")
        }
        LogOutput.bootstrap(level: level)
    }

    /// The level asked for, else error.
    var level: Logger.Level { levelText.flatMap { Logger.Level(rawValue: $0.text.lowercased()) } ?? .error }

    func makeLogger() -> Logger {
        var logger = Logger(label: "backupctl") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = level
        return logger
    }

    func loader() -> PlanLoader { PlanLoader(registry: CommandRegistry.registry) }

    /// Loads the plan, or throws an `invalidPlan` error (exit 2).
    func loadPlan() throws -> BackupPlan {
        if let file = planFile { return try loader().load(file: file) }
        return try loader().loadFromEnvironment()
    }

    /// Loads the plan for a command that backs up. A plan that cannot be loaded still alerts, through
    /// whichever notifiers can be found, before the command exits 2.
    func loadPlanOrAlert() async throws -> BackupPlan {
        do {
            return try loadPlan()
        } catch {
            await alertAboutBrokenPlan(error, global: self)
            throw fail(error)
        }
    }
}

/// Parses a set timestamp argument such as 20241130_020000.
func parseTimestamp(_ text: String) throws -> SetTimestamp {
    guard let timestamp = SetTimestamp(text) else {
        throw BackupError(.usage, "'\(text)' is not a set timestamp; write it as YYYYMMDD_HHMMSS, as `backupctl list` shows")
    }
    return timestamp
}

extension BackupPlan {
    /// The sinks a command's `--sink NAME` selects: that one, or every sink when nil. An unknown name
    /// is a usage error.
    func selectedSinks(_ name: String?) throws -> [any Sink] {
        guard let name else { return sinks }
        guard let sink = sink(named: name) else {
            throw BackupError(.usage, "--sink \(name): the plan has no such sink; its sinks are \(sinks.map(\.name).joined(separator: ", "))")
        }
        return [sink]
    }
}

/// Every logger of the process (BackupKit's `backupkit.*` labels too) writes to stderr at the level
/// `--log-level` or `BACKUP_LOG_LEVEL` sets: never to stdout, which holds results and `--json` output.
enum LogOutput {
    private static let done = Mutex(false)

    static func bootstrap(level: Logger.Level) {
        guard done.withLock({ let first = !$0; $0 = true; return first }) else { return }
        // Log lines about each step would be torn by bars redrawn in place: below `error`, the log is the progress.
        if level < .error { Terminal.drawsProgress.withLock { $0 = false } }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
