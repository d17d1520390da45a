import Foundation
import Glibc

/// The local spool `wal push` writes into, so that `archive_command` returns in the time of one local
/// write and a slow or unreachable sink never stalls the database.
///
/// Layout under the spool directory:
/// - `queue/<name>`: files waiting for the pusher, each with `queue/<name>.sha256` (written first);
///   their modification time is the one PostgreSQL gave the file;
/// - `archived/<name>`: one small file per archived WAL file, holding its SHA-256, so that a second
///   push of the same file is recognised after it left the queue;
/// - `pusher.lock`, `pusher.wait`, `pusher.log`, `lag.json`: the pusher's.
///
/// A file enters the queue under a temporary name, is flushed, and gets its name with `link`, which
/// never replaces: a different file under an existing name is a ``BackupError/Code/walConflict``.
public struct WALSpool: Sendable {
    public let directory: String
    public let settings: PITRSettings

    public init(directory: String, settings: PITRSettings) {
        self.directory = directory
        self.settings = settings
    }

    public var queueDirectory: String { directory + "/queue" }
    public var archivedDirectory: String { directory + "/archived" }

    /// A file waiting in the queue.
    public struct Entry: Sendable, Hashable {
        public var name: WALFileName
        public var path: String
        public var size: Int64
        public var modified: Date
    }

    public enum Outcome: String, Sendable {
        /// Queued now.
        case spooled
        /// The same bytes were already queued, or archived: nothing to do.
        case alreadySpooled = "already_spooled"
        case alreadyArchived = "already_archived"
    }

    /// Takes the file PostgreSQL hands `archive_command`: checks its name and size, and queues it
    /// durably. Returns only when the file is on disk under its final name.
    public func accept(_ path: String) throws -> (WALFileName, Outcome, FileDigest) {
        let base = splitPath(path).name
        guard let name = WALFileName(base) else {
            throw BackupError(.usage, "\(path) is not a WAL file PostgreSQL archives: expected a segment (24 hex digits such as 000000010000000000000003), a NNNNNNNN.history, a .backup or a .partial file. archive_command must pass %p.")
        }
        var info = stat()
        guard stat(path, &info) == 0 else { throw fileSystemError("cannot read the WAL file", path) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw BackupError(.usage, "\(path) is not a regular file") }
        let size = Int64(info.st_size)
        if name.kind == .segment || name.kind == .partial, size != settings.segmentSize {
            throw BackupError(.usage, "\(path) holds \(size) bytes, but a WAL segment of this cluster holds \(settings.segmentSize) (pitr: segment_size). It is not a whole segment; set segment_size to the cluster's wal_segment_size if that differs.")
        }
        if name.kind == .history || name.kind == .backupLabel, size == 0 || size > 1 << 20 {
            throw BackupError(.usage, "\(path) holds \(size) bytes, which no \(name.kind == .history ? "timeline history" : "backup history") file does")
        }
        try makeDirectory(queueDirectory, mode: 0o700, purpose: "the WAL spool")
        try makeDirectory(archivedDirectory, mode: 0o700, purpose: "the WAL spool")
        let queued = queueDirectory + "/" + name.name
        let existing = try existingDigest(of: name)
        if existing != nil {
            // A second push: only the digest of the new file is needed to tell a retry from a conflict.
            let digest = try FileDigest.of(path: path)
            return (name, try compare(name, digest, with: existing!), digest)
        }
        let usage = try self.usage()
        if usage.bytes + size > settings.spoolLimit {
            throw BackupError(.diskSpace, "the WAL spool \(directory) holds \(formatBytes(usage.bytes)) in \(usage.count) files, and \(name.name) would pass its limit of \(formatBytes(settings.spoolLimit)) (pitr: spool_limit). PostgreSQL keeps the segment and retries. The pusher is behind: check the WAL sinks (`backupctl wal status`), or raise spool_limit.")
        }
        let writer = try AtomicFileWriter(finalPath: queued, mode: 0o600)
        let reader = try FileReader(path: path)
        try reader.forEachChunk { try writer.write($0) }
        var times = [timespec(tv_sec: info.st_mtim.tv_sec, tv_nsec: info.st_mtim.tv_nsec), timespec(tv_sec: info.st_mtim.tv_sec, tv_nsec: info.st_mtim.tv_nsec)]
        _ = utimensat(AT_FDCWD, writer.temporaryPath, &times, 0)
        guard let digest = try writer.finishWriting(), digest.size == size else {
            throw BackupError(.io, "\(path) changed size while it was spooled; PostgreSQL retries it")
        }
        try AtomicFileWriter.write(Array((digest.sha256 + "\n").utf8), to: queued + ".sha256")
        guard link(writer.temporaryPath, queued) == 0 else {
            if errno == EEXIST, let raced = try existingDigest(of: name) { return (name, try compare(name, digest, with: raced), digest) }
            throw fileSystemError("cannot create", queued)
        }
        try syncDirectory(queueDirectory)
        return (name, .spooled, digest)
    }

    private func compare(_ name: WALFileName, _ digest: FileDigest, with existing: (sha256: String, outcome: Outcome)) throws -> Outcome {
        guard existing.sha256 == digest.sha256 else {
            throw BackupError(.walConflict, "\(name.name) was archived before with different content (SHA-256 \(existing.sha256.prefix(16))…, now \(digest.sha256.prefix(16))…). It was not overwritten. Two clusters may be archiving into one plan, or a restored cluster kept the old timeline: give each cluster its own plan or source name, and promote restored clusters onto a new timeline.")
        }
        return existing.outcome
    }

    /// The digest of `name` when it is queued or archived.
    func existingDigest(of name: WALFileName) throws -> (sha256: String, outcome: Outcome)? {
        let queued = queueDirectory + "/" + name.name
        if access(queued, F_OK) == 0 {
            return (try digest(of: Entry(name: name, path: queued, size: 0, modified: Date())), .alreadySpooled)
        }
        if let recorded = archivedDigest(of: name.name) { return (recorded, .alreadyArchived) }
        return nil
    }

    /// The SHA-256 recorded when `name` was archived, if it was.
    public func archivedDigest(of name: String) -> String? {
        (try? String(contentsOfFile: archivedDirectory + "/" + name, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The queue, oldest first (by PostgreSQL's modification time, then name).
    public func pending() throws -> [Entry] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: queueDirectory)) ?? []
        var entries: [Entry] = []
        for file in names {
            guard let name = WALFileName(file) else { continue }
            var info = stat()
            guard stat(queueDirectory + "/" + file, &info) == 0 else { continue }
            entries.append(Entry(name: name, path: queueDirectory + "/" + file, size: Int64(info.st_size),
                                 modified: Date(timeIntervalSince1970: Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9)))
        }
        return entries.sorted { ($0.modified, $0.name.name) < ($1.modified, $1.name.name) }
    }

    /// The queue's total size, file count and oldest file's time.
    public func usage() throws -> (bytes: Int64, count: Int, oldest: Date?) {
        let entries = try pending()
        return (entries.reduce(0) { $0 + $1.size }, entries.count, entries.first?.modified)
    }

    /// The queued file's SHA-256 from its sidecar (or computed when the sidecar is missing).
    public func digest(of entry: Entry) throws -> String {
        if let text = try? String(contentsOfFile: entry.path + ".sha256", encoding: .utf8) {
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return try FileDigest.of(path: entry.path).sha256
    }

    /// Records that every WAL sink holds `entry`, then removes it from the queue.
    public func markArchived(_ entry: Entry, sha256: String) throws {
        try AtomicFileWriter.write(Array((sha256 + "\n").utf8), to: archivedDirectory + "/" + entry.name.name)
        unlink(entry.path)
        unlink(entry.path + ".sha256")
    }

    /// The archived markers, newest modification last: what this host archived.
    public func archivedNames() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: archivedDirectory)) ?? []).filter { WALFileName($0) != nil }.sorted()
    }

    /// Removes the marker of a file retention deleted from every sink.
    public func forgetArchived(_ name: String) {
        unlink(archivedDirectory + "/" + name)
    }

    /// Whether an alert about `subject` may go out now: once an hour per subject, remembered in the
    /// spool's `alerts/` (so an archive_command that PostgreSQL retries every few seconds alerts once).
    public func isAlertDue(_ subject: String, every interval: TimeInterval = 3600) -> Bool {
        let directory = self.directory + "/alerts"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let marker = directory + "/" + subject.map { $0.isLetter || $0.isNumber || $0 == "." ? String($0) : "_" }.joined()
        var info = stat()
        if stat(marker, &info) == 0, Date().timeIntervalSince1970 - Double(info.st_mtim.tv_sec) < interval { return false }
        _ = try? AtomicFileWriter.write(Array(subject.utf8), to: marker)
        return true
    }
}
