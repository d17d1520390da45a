/// The documented, stable exit codes of `backupctl`, also what a heartbeat reports for a failed run
/// (``HeartbeatPings``).
public enum ExitCodes {
    public static let success: Int32 = 0
    public static let failure: Int32 = 1
    public static let usage: Int32 = 2
    public static let verificationFailed: Int32 = 3
    public static let degraded: Int32 = 4
    public static let locked: Int32 = 5
    public static let missingCredentials: Int32 = 6
    public static let diskSpace: Int32 = 7
    public static let restoreFailed: Int32 = 8
    public static let notFound: Int32 = 9
    public static let authenticationFailed: Int32 = 10
    public static let unreachable: Int32 = 11
    public static let databaseMissing: Int32 = 12
    public static let versionMismatch: Int32 = 13
    public static let hookFailed: Int32 = 14
    public static let stale: Int32 = 15
    public static let interrupted: Int32 = 16
    public static let identityNeeded: Int32 = 17
    public static let wrongIdentity: Int32 = 18
    public static let wrongPassphrase: Int32 = 19
    public static let encryptedDataTruncated: Int32 = 20
    public static let encryptedDataDamaged: Int32 = 21
    /// `wal push`: a different file under a name the archive already holds.
    public static let walConflict: Int32 = 22

    public static func code(for error: BackupError.Code) -> Int32 {
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
        case .walConflict: walConflict
        default: failure
        }
    }

    public static func code(for report: RunReport) -> Int32 {
        switch report.status {
        case .succeeded: success
        case .degraded: degraded
        case .failed: code(for: report.error?.code ?? .sourceFailed)
        }
    }
}
