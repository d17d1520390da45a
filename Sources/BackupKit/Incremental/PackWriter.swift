import Crypto
import Foundation

/// Writes the new content of an incremental run into packs (docs/incremental-sets.md): ordinary tar
/// archives in the plan's tree format, one entry per blob named by its SHA-256, closed at about
/// ``limit`` bytes of content. Each closed pack is read back whole before it counts: decompressed, every
/// entry's content hashed and compared with its name.
///
/// A pack's key is `pack_<plan>_<source>_<random id>.<ext>`; the manifests record its size and SHA-256.
/// The name is known when the pack opens, so index lines that point into it are written as the walk goes.
final class PackWriter {
    struct Closed {
        var file: StagedFile
        var record: ManifestArtifact
    }

    static let defaultLimit: Int64 = 64 << 20

    private let format: any ArchiveFormat
    private let staging: String
    private let plan: String
    private let source: String
    private let sourceType: String
    private let subject: String
    let limit: Int64

    private var current: Open?
    private(set) var closed: [Closed] = []

    private struct Open {
        var key: String
        var file: AtomicFileWriter
        var writer: any ArchiveWriter
        var started: Date
        var contentBytes: Int64 = 0
        var entries = 0
        /// Entries whose content turned out not to be what their name says (a file that changed between
        /// its hashing and its copy): kept in the pack, named by no index, skipped by the read-back's check.
        var dead: Set<String> = []
    }

    init(format: any ArchiveFormat, staging: String, plan: String, source: String, sourceType: String, subject: String, limit: Int64 = defaultLimit) {
        self.format = format
        self.staging = staging
        self.plan = plan
        self.source = source
        self.sourceType = sourceType
        self.subject = subject
        self.limit = limit
    }

    /// Starts an entry named `hash` of `size` bytes in the open pack (opening one when none is); returns
    /// the pack's key. The content follows through ``write(_:)``, then ``endEntry(dead:)``.
    func beginEntry(hash: String, size: Int64) throws -> String {
        if current == nil { try open() }
        let entry = ArchiveEntry(path: RawPath(hash), kind: .file, size: size, permissions: 0o600)
        try current!.writer.beginEntry(entry)
        return current!.key
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        try current!.writer.write(bytes)
        current!.contentBytes += Int64(bytes.count)
    }

    /// Ends the entry; `dead` when its content is not what its name says. Closes the pack once it holds
    /// ``limit`` bytes.
    func endEntry(name: String, dead: Bool = false) throws {
        try current!.writer.endEntry()
        current!.entries += 1
        if dead { current!.dead.insert(name) }
        if current!.contentBytes >= limit { try close() }
    }

    /// Closes the open pack, if any: finishes, fsyncs and renames it, then reads it back.
    func close() throws {
        guard var pack = current else { return }
        current = nil
        try pack.writer.finish()
        guard let digest = try pack.file.finishWriting() else { throw BackupError(.io, "pack \(pack.key): no digest") }
        try pack.file.commit()
        let path = staging + "/" + pack.key
        try Self.checkContents(path: path, key: pack.key, format: format, entries: pack.entries, dead: pack.dead)
        pack.contentBytes = max(pack.contentBytes, 0)
        var record = ManifestArtifact(
            name: pack.key, source: source, sourceType: sourceType, subject: subject, format: format.name, layout: .tree,
            size: digest.size, sha256: digest.sha256, contentBytes: pack.contentBytes, entries: pack.entries,
            durationSeconds: (Date().timeIntervalSince(pack.started) * 1000).rounded() / 1000,
            verification: VerificationRecord(status: .passed, checkedAt: Date(), checks: ["size", "integrity", "read-back", "blob-hashes"]),
            details: ["role": .string(ManifestArtifact.packRole)]
        )
        if !pack.dead.isEmpty {
            record.details["dead_entries"] = .array(pack.dead.sorted().map { .string($0) })
        }
        closed.append(Closed(file: StagedFile(path: path, digest: digest), record: record))
    }

    private func open() throws {
        var random = SystemRandomNumberGenerator()
        let id = (0..<16).map { _ in UInt8.random(in: 0...255, using: &random) }.hexString
        let key = ArtifactName.pack(plan: plan, source: source, id: id, fileExtension: format.fileExtension)
        let file = try AtomicFileWriter(finalPath: staging + "/" + key, mode: 0o600)
        let writer = try format.makeWriter(output: { bytes in try file.write(bytes) })
        current = Open(key: key, file: file, writer: writer, started: Date())
    }

    /// Reads a pack whole: every entry's content must hash to its name (but the `dead` ones), and it
    /// must hold `entries` entries. With `entries` nil, the count is not checked.
    static func checkContents(path: String, key: String, format: any ArchiveFormat, entries expected: Int?, dead: Set<String> = [],
                              isCancelled: () -> Bool = { false }) throws {
        let reader = try format.makeReader(file: FileReader(path: path))
        var count = 0
        do {
            while let entry = try reader.nextEntry() {
                if isCancelled() { throw CancellationError() }
                count += 1
                guard entry.kind == .file, let name = entry.path.string else {
                    throw BackupError(.verificationFailed, "pack \(key) holds an entry that is not a blob: \(entry.path)")
                }
                var hasher = SHA256()
                try reader.forEachChunk(bufferSize: 1 << 18) { hasher.update(bufferPointer: $0) }
                let hash = hasher.finalize().hexString
                if hash != name, !dead.contains(name) {
                    throw BackupError(.verificationFailed, "pack \(key): the blob \(name) holds content whose SHA-256 is \(hash)")
                }
            }
        } catch let error as BackupError where error.code != .verificationFailed && error.code != .cancelled {
            throw BackupError(.verificationFailed, "pack \(key) cannot be read back: \(error.message)", underlying: error)
        }
        if let expected, count != expected {
            throw BackupError(.verificationFailed, "pack \(key) holds \(count) entries where \(expected) were written")
        }
    }
}

extension ManifestArtifact {
    /// `details.role` of a pack of an incremental set.
    public static let packRole = "pack"
    /// `details.mode` of an incremental set's index.
    public static let incrementalMode = "incremental"

    /// Whether this is a pack of an incremental set, which many sets share (not a set's own file).
    public var isPack: Bool { details["role"] == .string(Self.packRole) }
    /// Whether this is the index of an incremental set, restored from the packs its manifest lists.
    public var isIncrementalIndex: Bool { details["mode"] == .string(Self.incrementalMode) }

    /// `details` key of an index: the file bytes the set takes from each pack it names.
    public static let packUsageKey = "pack_usage"

    /// The file bytes this index's set takes from each pack, by pack name; empty when not recorded.
    public var packUsage: [String: Int64] {
        guard case .object(let usage)? = details[Self.packUsageKey] else { return [:] }
        return usage.compactMapValues { if case .integer(let bytes) = $0 { bytes } else { nil } }
    }

    /// A pack's entries whose content is not what their name says (a file that changed while it was
    /// copied): no index names them, and `verify --read-data` does not count them as damage.
    public var deadEntries: Set<String> {
        guard case .array(let names)? = details["dead_entries"] else { return [] }
        return Set(names.compactMap { if case .string(let name) = $0 { name } else { nil } })
    }
}
