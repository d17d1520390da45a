import ArgumentParser
import BackupKit

/// Ends the command with a message on stderr and the exit code for the error.
func fail(_ error: any Error) -> ExitCode {
    let backupError = (error as? BackupError) ?? BackupError(.sourceFailed, readableDescription(of: error), underlying: error)
    let code = ExitCodes.code(for: backupError.code)
    Terminal.error("backupctl: \(backupError.message)")
    if Terminal.jsonMode.withLock({ $0 }) { Terminal.jsonError(backupError, exitCode: code) }
    return ExitCode(code)
}
