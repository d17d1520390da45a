import Foundation

/// A place that keeps artifacts and manifests: a local directory, an S3 bucket, an SFTP server, or a
/// sink of your own. Sinks are flat key/value stores of files; a backup set is the files that share a
/// timestamp, and its manifest is written last.
///
/// What holds for every requirement:
/// - Keys are file names without slashes, such as `db_schedgen_20241130_020000.sql.gz`.
/// - A sink is `Sendable`: the runner may call it from several tasks at once, on different keys.
/// - The requirements are `async` and called from Swift's cooperative pool, which has one thread per
///   core. Blocking work (file reads and writes at disk speed, a blocking client library, `fsync`) must
///   not run there: wrap it in ``runBlocking(_:)``, which runs it on a thread of its own.
/// - Transient failures (timeouts, resets, 5xx answers) are thrown with ``BackupError/Kind/transient``
///   so that a retrying wrapper (``RetryingSink``) can act on them; everything else is permanent. Errors
///   never contain secrets.
/// - An operation that notices task cancellation stops and throws; a cancelled put leaves nothing listed.
///
/// `BackupKitTesting.SinkConformanceSuite` checks all of this with one call.
public protocol Sink: Sendable {
    /// The sink's name in the plan, such as `local` or `offsite`.
    var name: String { get }

    /// What differs between sinks, as values rather than type checks.
    var capabilities: SinkCapabilities { get }

    /// Stores the staged file under `key`, replacing a key of that name.
    ///
    /// Atomic: when it returns, ``list()`` shows the key with the full content; when it throws, or the
    /// process dies in the middle, the key is not listed (nor anything under a name that looks final).
    /// It reads the staged file in chunks (``StagedFile/open()``) and must not hold it whole in memory,
    /// unless ``SinkCapabilities/boundedMemory`` is false. It must fail when the file does not hold
    /// exactly `file.digest.size` bytes. It returns what it confirmed about the stored copy.
    /// File reads are blocking: run them inside ``runBlocking(_:)``.
    @discardableResult
    func put(_ key: String, from file: StagedFile) async throws -> StoreReceipt

    /// Streams the stored bytes of `key` into `output`, in order, in chunks, never the whole object at
    /// once. A missing key throws a ``BackupError`` with code ``BackupError/Code/notFound``. A get that
    /// fails after writing some bytes throws; the caller discards what `output` received.
    func get(_ key: String, into output: ByteDestination) async throws

    /// Every stored key with its size, in any order. Temporary names from unfinished puts are left out.
    func list() async throws -> [StoredObject]

    /// Removes `key`; a missing key throws ``BackupError/Code/notFound``. Retention calls it only for
    /// keys that ``list()`` returned.
    func delete(_ key: String) async throws

    /// The path of a stored key on this host, when the sink keeps files on a local file system, so
    /// readers can use the file in place instead of copying it. Nil by default. Called from any thread;
    /// it must not block.
    func localPath(of key: String) -> String?

    /// Checks, before a run writes anything, that the sink can take a set now: it can be reached, it
    /// accepts the credentials, its bucket or directory exists (or can be made), and it can be written.
    ///
    /// The runner calls it on every sink at once, after the sources' own checks and before the first
    /// byte is staged. A sink that throws is reported with the error's message and left out of the run:
    /// the healthy sinks still get the set and the run ends degraded, unless the plan says
    /// `require_all_sinks: true`. So the message names the thing and the fix ("the bucket 'x' does not
    /// exist at s3.example.com; create it or fix bucket:"), and transient failures are thrown with
    /// ``BackupError/Kind/transient`` so that ``RetryingSink`` tries again.
    ///
    /// It may write a probe, but only under a name ``list()`` leaves out (a temporary name), and it
    /// removes it again: after a successful preflight, ``list()`` shows what it showed before. It must
    /// be cheap (a few requests) and must not depend on what the sink holds. The default lists the
    /// sink, which proves it can be reached and read but not that it can be written, and costs a
    /// listing more per run: the built-in sinks probe without listing. A wrapper forwards it.
    func preflight() async throws
}

extension Sink {
    public func localPath(of key: String) -> String? { nil }

    public func preflight() async throws {
        _ = try await list()
    }
}
