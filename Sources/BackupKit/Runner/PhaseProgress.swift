import Foundation

/// How far one phase of the work on one artifact has come: writing it, reading it back, storing it in
/// a sink, fetching it from one, restoring it.
///
/// A phase reports when it starts, then at most every ``interval`` (five times a second) while it runs,
/// and once more when it ends, ``State/finished`` or ``State/failed``. A run sends these as
/// ``BackupEvent/phaseProgress(_:)``; ``Restorer`` and ``StoredSetVerifier`` hand them to their
/// `onProgress` closure. The rate and the time left follow from ``bytesDone``, ``totalBytes`` and
/// ``startedAt``; `backupctl` draws one bar per running phase from them.
public struct PhaseProgress: Sendable, Hashable {
    /// What is being done to the artifact.
    public enum Phase: Sendable, Hashable {
        /// A stream artifact (a database dump) being written; bytes are the source's, the total its estimate.
        case dump
        /// A tree artifact (files) being archived; bytes are the files' content, the total the source's estimate.
        case archive
        /// The staged or downloaded artifact read back whole: SHA-256, decompression, every entry.
        case verify
        /// The staged artifact being stored in the sink of that name; bytes are those the sink has read
        /// (through ``StagedFile/open()``).
        case upload(sink: String)
        /// The artifact being fetched from the sink of that name into the staging directory.
        case download(sink: String)
        /// The artifact being read and written to the restore target.
        case restore
    }

    /// Whether the phase goes on, ended well, or ended with an error (or was cancelled).
    public enum State: Sendable, Hashable {
        case running, finished, failed
    }

    public var phase: Phase
    /// The artifact's name, such as `db_schedgen_20241130_020000.sql.gz`.
    public var artifact: String
    /// Bytes handled so far. It may pass ``totalBytes`` when that is an estimate, or when a sink
    /// reads a part again (a retried upload).
    public var bytesDone: Int64
    /// The bytes the phase handles in all, when known.
    public var totalBytes: Int64?
    /// Whether ``totalBytes`` is the source's estimate (a database's size) rather than an exact count.
    public var totalIsEstimate: Bool
    /// When the phase started.
    public var startedAt: Date
    public var state: State

    public init(phase: Phase, artifact: String, bytesDone: Int64, totalBytes: Int64?, totalIsEstimate: Bool = false,
                startedAt: Date, state: State = .running) {
        self.phase = phase
        self.artifact = artifact
        self.bytesDone = bytesDone
        self.totalBytes = totalBytes
        self.totalIsEstimate = totalIsEstimate
        self.startedAt = startedAt
        self.state = state
    }

    /// The time between two reports of a running phase: 200 ms, so at most five a second.
    public static let interval = Duration.milliseconds(200)
}
