/// The one error type BackupKit throws.
///
/// A `BackupError` carries a stable ``code`` that scripts and the engine can act on, a message a person
/// can act on (it names the thing and the fix), the underlying error if there was one, and a
/// ``Kind`` that tells the engine whether retrying can help. Its description never contains a secret:
/// whoever builds one passes redacted text (see ``Redaction``).
public struct BackupError: Error, CustomStringConvertible, Sendable {
    /// A stable, machine-readable error code. New codes may be added; existing ones never change.
    public struct Code: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The thing asked for does not exist (a sink key, a set, a file).
        public static let notFound = Code(rawValue: "not_found")
        /// Reading or writing a file or device failed.
        public static let io = Code(rawValue: "io")
        /// The volume is full, or too small for what is about to be written.
        public static let diskSpace = Code(rawValue: "disk_space")
        /// The plan (file or environment) is invalid.
        public static let invalidPlan = Code(rawValue: "invalid_plan")
        /// A command-line argument is invalid.
        public static let usage = Code(rawValue: "usage")
        /// Another run of the plan holds the lock.
        public static let locked = Code(rawValue: "locked")
        /// A source could not produce its content.
        public static let sourceFailed = Code(rawValue: "source_failed")
        /// An archive could not be written or read.
        public static let archive = Code(rawValue: "archive")
        /// An artifact failed verification (size, integrity or checksum).
        public static let verificationFailed = Code(rawValue: "verification_failed")
        /// A sink could not store, read, list or delete.
        public static let sinkFailed = Code(rawValue: "sink_failed")
        /// A restore was refused (unsafe entry, non-empty target) or failed.
        public static let restoreFailed = Code(rawValue: "restore_failed")
        /// Credentials are needed and none were given.
        public static let missingCredentials = Code(rawValue: "missing_credentials")
        /// The server refused the credentials given.
        public static let authenticationFailed = Code(rawValue: "authentication_failed")
        /// The server cannot be reached (refused, timed out, unknown host).
        public static let unreachable = Code(rawValue: "unreachable")
        /// The database named does not exist on the server.
        public static let databaseMissing = Code(rawValue: "database_missing")
        /// A client tool is older than the server it must talk to.
        public static let versionMismatch = Code(rawValue: "version_mismatch")
        /// A hook command failed or timed out.
        public static let hookFailed = Code(rawValue: "hook_failed")
        /// The run was cancelled.
        public static let cancelled = Code(rawValue: "cancelled")
        /// An encrypted set needs an identity to be read, and none was given.
        public static let identityNeeded = Code(rawValue: "identity_needed")
        /// None of the identities given opens an encrypted artifact: it was encrypted to other recipients.
        public static let wrongIdentity = Code(rawValue: "wrong_identity")
        /// The passphrase given does not open a passphrase-protected identity or file.
        public static let wrongPassphrase = Code(rawValue: "wrong_passphrase")
        /// An encrypted artifact ends early: it was cut short in storage or in transfer.
        public static let encryptedDataTruncated = Code(rawValue: "encrypted_data_truncated")
        /// An encrypted artifact's header or payload was changed: a byte fails its authentication.
        public static let encryptedDataDamaged = Code(rawValue: "encrypted_data_damaged")
        /// A WAL file arrived under a name the archive holds with different content.
        public static let walConflict = Code(rawValue: "wal_conflict")
    }

    /// What the engine may do about an error.
    public enum Kind: String, Sendable, Codable {
        /// The thing does not exist. Retrying does not help; callers may treat it as an answer.
        case notFound = "not_found"
        /// Retrying later may succeed (timeouts, resets, 5xx answers).
        case transient
        /// Retrying does not help until something is fixed.
        case permanent
    }

    public var code: Code
    public var message: String
    public var kind: Kind
    /// The error this one wraps, if any. Its description must be free of secrets too.
    public var underlying: (any Error)?

    public init(_ code: Code, _ message: String, kind: Kind = .permanent, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.kind = code == .notFound ? .notFound : kind
        self.underlying = underlying
    }

    public var description: String { message }

    /// Wraps any error as a `BackupError`, keeping it as is when it already is one. A Foundation file
    /// error becomes a message that names its path and the fix, with the code its `errno` calls for
    /// (a full disk is ``Code/diskSpace``), never "NSCocoaErrorDomain Code=513".
    public static func wrap(_ error: any Error, as code: Code, _ context: String) -> BackupError {
        if let error = error as? BackupError { return error }
        if error is CancellationError { return BackupError(.cancelled, "\(context): cancelled") }
        if let path = foundationErrorPath(error), let mapped = fileSystemError("cannot use", path, foundationError: error) {
            return BackupError(mapped.code == .notFound ? code : mapped.code, "\(context): \(mapped.message)", underlying: error)
        }
        return BackupError(code, "\(context): \(readableDescription(of: error))", underlying: error)
    }
}
