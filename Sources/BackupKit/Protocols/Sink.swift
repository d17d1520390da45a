import Foundation

/// A place that keeps artifacts and manifests: a local directory, an S3 bucket, an SFTP server, or a
/// sink of your own. Sinks are flat key/value stores of files; a backup set is the files that share a
/// timestamp, and its manifest is written last.
///
/// ## Contract
/// - Keys are file names without slashes, such as `db_schedgen_20241130_020000.sql.gz`.
/// - ``put(_:from:)`` is atomic: when it returns, ``list()`` shows the key with the full content;
///   when it throws, or the process dies in the middle, the key is not listed (nor anything under a
///   name that looks final). Putting an existing key replaces it. It reads the staged file in chunks
///   and must not hold it whole in memory, unless ``SinkCapabilities/boundedMemory`` is false. It
///   must fail when the file does not hold exactly `file.digest.size` bytes, and it returns what it
///   confirmed about the stored copy (``StoreReceipt``).
/// - ``get(_:into:)`` streams the stored bytes into `output`, in order, in chunks. A missing key throws
///   a ``BackupError`` with code ``BackupError/Code/notFound``.
/// - ``list()`` returns every stored key with its size. Temporary names from unfinished puts are left
///   out. Order does not matter.
/// - ``delete(_:)`` removes a key; a missing key throws ``BackupError/Code/notFound``.
/// - Transient failures (timeouts, resets, 5xx answers) are thrown with ``BackupError/Kind/transient``
///   so a retrying wrapper (``RetryingSink``) can act on them. Errors never contain secrets.
/// - Cancellation: an operation that notices task cancellation stops and throws; a cancelled put leaves
///   nothing listed.
/// - A sink is `Sendable`: the runner may call it from several tasks at once, on different keys.
///
/// `BackupKitTesting.SinkConformanceSuite` checks all of this with one call.
public protocol Sink: Sendable {
    /// The sink's name in the plan, such as `local` or `offsite`.
    var name: String { get }
    var capabilities: SinkCapabilities { get }

    @discardableResult
    func put(_ key: String, from file: StagedFile) async throws -> StoreReceipt
    func get(_ key: String, into output: ByteDestination) async throws
    func list() async throws -> [StoredObject]
    func delete(_ key: String) async throws

    /// The path of a stored key on this host, when the sink keeps files on a local file system, so
    /// readers can use the file in place instead of copying it. Nil by default.
    func localPath(of key: String) -> String?
}

extension Sink {
    public func localPath(of key: String) -> String? { nil }
}

/// What differs between sinks, as values rather than type checks.
public struct SinkCapabilities: Sendable, Hashable {
    /// Puts and gets stream with bounded memory. Only reference sinks for tests say false.
    public var boundedMemory: Bool
    /// The directory where the sink keeps its files, when that is on this host. The run stages
    /// artifacts and keeps its lock file beside it, so a finished artifact reaches its final name by a
    /// rename on the same file system instead of a second copy.
    public var localDirectory: String?

    public init(boundedMemory: Bool = true, localDirectory: String? = nil) {
        self.boundedMemory = boundedMemory
        self.localDirectory = localDirectory
    }
}

/// What a sink confirmed about a stored artifact, recorded in the manifest: such as `size` (the stored
/// object has the staged file's length), `content-md5` (the server checked each part's MD5),
/// `sha256-payload` (the server checked each request body's SHA-256), `etag` (the server's ETag matches
/// the MD5s we computed).
public struct StoreReceipt: Sendable, Hashable, Codable {
    public var checks: [String]

    public init(checks: [String] = []) { self.checks = checks }
}

/// A finished file in the staging area: what a sink's ``Sink/put(_:from:)`` reads.
public struct StagedFile: Sendable, Hashable {
    public var path: String
    public var digest: FileDigest

    public init(path: String, digest: FileDigest) {
        self.path = path
        self.digest = digest
    }

    /// Writes `bytes` as the file at `path` (mode 0600, fsync, rename) and stages it.
    public init(writing bytes: [UInt8], to path: String) throws {
        self.init(path: path, digest: try AtomicFileWriter.write(bytes, to: path))
    }

    /// Opens the file for reading in chunks.
    public func open() throws -> FileReader { try FileReader(path: path) }
}

/// A key a sink holds.
public struct StoredObject: Sendable, Hashable, Codable {
    public var key: String
    public var size: Int64
    public var modified: Date?

    public init(key: String, size: Int64, modified: Date? = nil) {
        self.key = key
        self.size = size
        self.modified = modified
    }
}
