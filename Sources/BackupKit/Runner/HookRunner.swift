import Foundation
import Logging

/// Runs a plan's hook commands, one after another, each with `/bin/sh -c` and a timeout.
package struct HookRunner: Sendable {
    public var timeout: Double
    public var logger: Logger

    public init(timeout: Double, logger: Logger) {
        self.timeout = timeout
        self.logger = logger
    }

    /// Runs each command of the hook `name` (such as `before_restore`); the first that fails or times
    /// out throws ``BackupError/Code/hookFailed`` with its exit code and the end of its output.
    /// `details` become `BACKUP_*` environment variables: `["SET": "20241130_020000"]` → `BACKUP_SET`.
    public func run(_ commands: [String], name: String, details: [String: String]) async throws {
        guard !commands.isEmpty else { return }
        var environment = ProcessInfo.processInfo.environment
        environment["BACKUP_HOOK"] = name
        for (key, value) in details { environment["BACKUP_\(key)"] = value }
        let frozen = environment
        for command in commands {
            logger.info("running hook", metadata: ["hook": "\(name)", "command": "\(command)"])
            let timeout = timeout
            try await runBlocking {
                let child = try ChildProcess(executable: "/bin/sh", arguments: ["-c", command], environment: frozen, stdout: .null)
                let status: Int32
                do {
                    status = try child.wait(timeout: timeout)
                } catch {
                    throw BackupError(.hookFailed, "hook \(name) `\(command)` did not finish within \(formatDuration(timeout)) and was stopped. Raise hooks.timeout or fix the command.")
                }
                guard status == 0 else {
                    let output = child.stderrText.trimmingCharacters(in: .whitespacesAndNewlines).suffix(500)
                    throw BackupError(.hookFailed, "hook \(name) `\(command)` exited with status \(status)\(output.isEmpty ? "" : ": \(output)")")
                }
            }
        }
    }
}
