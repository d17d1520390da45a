import Glibc

/// The text of an `errno` value, such as "No space left on device".
func errnoMessage(_ code: Int32) -> String {
    String(cString: strerror(code))
}

/// Builds the error for a failed system call on a path, choosing the code from `errno`.
func fileSystemError(_ operation: String, _ path: String, errno code: Int32 = errno) -> BackupError {
    switch code {
    case ENOENT:
        return BackupError(.notFound, "\(operation) \(path): \(errnoMessage(code))")
    case ENOSPC, EDQUOT:
        return BackupError(.diskSpace, "\(operation) \(path): \(errnoMessage(code)). Free space on that volume or point the plan at a larger one.")
    case EACCES, EPERM:
        return BackupError(.io, "\(operation) \(path): \(errnoMessage(code)). Check the file's permissions and the user backupctl runs as.")
    default:
        return BackupError(.io, "\(operation) \(path): \(errnoMessage(code))")
    }
}
