import ArgumentParser
import BackupKit

/// The documented, stable exit codes of `backupctl`.
enum ExitCodes {
    static let success: Int32 = 0
    static let failure: Int32 = 1
    static let usage: Int32 = 2
    static let verificationFailed: Int32 = 3
    static let degraded: Int32 = 4
    static let locked: Int32 = 5
    static let missingCredentials: Int32 = 6
    static let diskSpace: Int32 = 7
    static let restoreFailed: Int32 = 8
    static let notFound: Int32 = 9
    static let authenticationFailed: Int32 = 10
    static let unreachable: Int32 = 11
    static let databaseMissing: Int32 = 12
    static let versionMismatch: Int32 = 13
    static let hookFailed: Int32 = 14
    static let stale: Int32 = 15
    static let interrupted: Int32 = 16
    static let identityNeeded: Int32 = 17
    static let wrongIdentity: Int32 = 18
    static let wrongPassphrase: Int32 = 19
    static let encryptedDataTruncated: Int32 = 20
    static let encryptedDataDamaged: Int32 = 21

    static func code(for error: BackupError.Code) -> Int32 {
        switch error {
        case .usage, .invalidPlan: usage
        case .verificationFailed: verificationFailed
        case .locked: locked
        case .missingCredentials: missingCredentials
        case .diskSpace: diskSpace
        case .restoreFailed: restoreFailed
        case .notFound: notFound
        case .authenticationFailed: authenticationFailed
        case .unreachable: unreachable
        case .databaseMissing: databaseMissing
        case .versionMismatch: versionMismatch
        case .hookFailed: hookFailed
        case .cancelled: interrupted
        case .identityNeeded: identityNeeded
        case .wrongIdentity: wrongIdentity
        case .wrongPassphrase: wrongPassphrase
        case .encryptedDataTruncated: encryptedDataTruncated
        case .encryptedDataDamaged: encryptedDataDamaged
        default: failure
        }
    }

    static func code(for report: RunReport) -> Int32 {
        switch report.status {
        case .succeeded: success
        case .degraded: degraded
        case .failed: code(for: report.error?.code ?? .sourceFailed)
        }
    }
}

/// Ends the command with a message on stderr and the exit code for the error.
func fail(_ error: any Error) -> ExitCode {
    let backupError = (error as? BackupError) ?? BackupError(.sourceFailed, "\(error)")
    Terminal.error("backupctl: \(backupError.message)")
    return ExitCode(ExitCodes.code(for: backupError.code))
}
