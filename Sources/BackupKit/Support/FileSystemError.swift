import Foundation
import Glibc

// One place turns a failed file-system call, ours through `errno` or Foundation's as an `NSError`, into
// a `BackupError` whose message names the path and the fix. A user never sees
// "NSCocoaErrorDomain Code=513" or a bare "Permission denied".

/// The text of an `errno` value, such as "No space left on device".
func errnoMessage(_ code: Int32) -> String {
    String(cString: strerror(code))
}

/// Builds the error for a failed system call on a path, choosing the code from `errno`: "cannot create
/// /srv/backups: permission denied. Give the user running backupctl (app) access to /srv (chown or
/// chmod), or choose another path." `fixAt` is the path the user must change when that is not `path`
/// itself (the existing parent of a directory that could not be made). `failure` is the code for what
/// is neither a missing file nor a full disk.
package func fileSystemError(_ operation: String, _ path: String, errno code: Int32 = errno, fixAt: String? = nil,
                             as failure: BackupError.Code = .io, underlying: (any Error)? = nil) -> BackupError {
    let subject = "\(operation) \(path)"
    let (errorCode, text): (BackupError.Code, String) = switch code {
    case ENOENT:
        (.notFound, "\(subject): \(errnoMessage(code))")
    case ENOSPC, EDQUOT:
        (.diskSpace, "\(subject): \(errnoMessage(code)). Free space on that volume or point the plan at a larger one.")
    case EACCES, EPERM:
        (failure, "\(subject): permission denied. Give the user running backupctl (\(currentUserName())) access to \(fixAt ?? path) (chown or chmod), or choose another path.")
    case EROFS:
        (failure, "\(subject): the file system is read-only. Choose a path on a writable volume (under systemd, list it in ReadWritePaths=), or remount it read-write.")
    case ENOTDIR:
        (failure, "\(subject): \(firstNonDirectory(in: path).map { "\($0) is a file, not a directory" } ?? "a part of the path is not a directory"). Fix the path.")
    case EEXIST:
        (failure, "\(subject): \(path) already exists and is not a directory. Remove it, or choose another path.")
    default:
        (failure, "\(subject): \(errnoMessage(code))")
    }
    return BackupError(errorCode, text, underlying: underlying)
}

/// The same for an error Foundation threw (`FileManager`, `FileHandle`, `Data(contentsOf:)`): its
/// `errno`, when it carries one, chooses the message; nil when `error` is not a file-system error.
package func fileSystemError(_ operation: String, _ path: String, foundationError error: any Error, fixAt: String? = nil,
                             as failure: BackupError.Code = .io) -> BackupError? {
    guard let code = posixCode(of: error) else { return nil }
    return fileSystemError(operation, path, errno: code, fixAt: fixAt, as: failure, underlying: error)
}

/// The `errno` behind a Foundation file error: a `POSIXError`, or a `CocoaError` (whose underlying
/// error is the POSIX one on Linux, else known from its code).
package func posixCode(of error: any Error) -> Int32? {
    if error is BackupError || error is CancellationError { return nil }
    if let posix = error as? POSIXError { return posix.code.rawValue }
    let bridged = error as NSError
    if bridged.domain == NSPOSIXErrorDomain { return Int32(bridged.code) }
    guard bridged.domain == NSCocoaErrorDomain else { return nil }
    // Foundation keeps the errno as the underlying error: a `POSIXError` (swift-foundation) or an
    // NSError in the POSIX domain (older corelibs).
    let underlying = bridged.userInfo[NSUnderlyingErrorKey]
    if let posix = underlying as? POSIXError { return posix.code.rawValue }
    if let underlying = underlying as? NSError, underlying.domain == NSPOSIXErrorDomain { return Int32(underlying.code) }
    return switch CocoaError.Code(rawValue: bridged.code) {
    case .fileNoSuchFile, .fileReadNoSuchFile: ENOENT
    case .fileReadNoPermission, .fileWriteNoPermission: EACCES
    case .fileWriteOutOfSpace: ENOSPC
    case .fileWriteVolumeReadOnly: EROFS
    case .fileWriteFileExists: EEXIST
    default: nil
    }
}

/// The path a Foundation error names (`NSFilePathErrorKey`), if any.
func foundationErrorPath(_ error: any Error) -> String? {
    guard !(error is BackupError) else { return nil }
    let info = (error as NSError).userInfo
    return info[NSFilePathErrorKey] as? String ?? (info[NSURLErrorKey] as? URL)?.path
}

/// What a person reads for any error: a ``BackupError``'s message, the system's text for a Foundation
/// file error's `errno` (with its path when it names one), else the error's own description.
package func readableDescription(of error: any Error) -> String {
    if let error = error as? BackupError { return error.message }
    if let code = posixCode(of: error) {
        return foundationErrorPath(error).map { fileSystemError("cannot use", $0, errno: code).message } ?? errnoMessage(code)
    }
    if (error as NSError).domain == NSCocoaErrorDomain {
        return "a file operation\(foundationErrorPath(error).map { " on \($0)" } ?? "") failed, and the system gave no reason"
    }
    return "\(error)"
}

/// Creates a directory and its missing parents, new ones with `mode` (0700 by default: staging, state
/// and sink directories hold private data). `purpose` names it in the message: "the staging directory";
/// `failure` is the code of a failure other than a full disk.
package func makeDirectory(_ path: String, mode: Int? = 0o700, purpose: String, as failure: BackupError.Code = .io) throws {
    do {
        let attributes: [FileAttributeKey: Any]? = mode.map { [.posixPermissions: $0] }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: attributes)
    } catch {
        let operation = "cannot create \(purpose)"
        throw fileSystemError(operation, path, foundationError: error, fixAt: nearestExistingAncestor(of: path), as: failure)
            ?? BackupError(failure, "\(operation) \(path): the system gave no reason. Check the path, its parent directories and their permissions.", underlying: error)
    }
}

/// The deepest directory above `path` that exists: the one whose permissions decide whether `path`
/// can be made.
func nearestExistingAncestor(of path: String) -> String? {
    var current = path
    while current != "/" && current != "." {
        current = splitPath(current).directory
        var info = stat()
        if stat(current, &info) == 0 { return current }
    }
    return nil
}

/// The first component of `path`, from the root down, that exists and is not a directory.
func firstNonDirectory(in path: String) -> String? {
    var prefix = path.hasPrefix("/") ? "" : "."
    for component in path.split(separator: "/") {
        prefix += "/" + component
        var info = stat()
        guard stat(prefix, &info) == 0 else { return nil }
        if (info.st_mode & S_IFMT) != S_IFDIR { return prefix }
    }
    return nil
}

/// The name of the user this process runs as, for messages that tell whom to give access.
func currentUserName() -> String {
    guard let entry = getpwuid(geteuid()) else { return "uid \(geteuid())" }
    return String(cString: entry.pointee.pw_name)
}
