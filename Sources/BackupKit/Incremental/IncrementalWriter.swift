import Crypto

/// The part of an incremental run every kind of source shares (docs/incremental-sets.md): it streams
/// the previous set's index beside the source's own walk (``previous(of:)``), reuses content whose
/// signals did not change (``reuse(_:from:)``), stores content no pack holds yet in new packs
/// (``store(hash:bytes:)``, ``store(hash:size:copy:)``), and writes the new index (``add(_:)``).
///
/// A source walks its tree in the index's order (``PathOrder``), builds each path's ``IndexRecord``
/// and hands it over; ``IncrementalDirectoryBackup`` does it for directories, the `s3-bucket` source for objects.
/// Memory: the previous index one line at a time, the lookup of earlier blobs on disk (``BlobLookup``);
/// the blobs this run adds are kept in memory by hash until it ends.
public final class IncrementalWriter {
    private let session: IncrementalSession
    private let context: SourceContext
    private let packs: PackWriter
    private let index: IndexFile.Writer
    private var previousReader: IndexFile.Reader?
    private var pendingPrevious: IndexRecord?
    private let order: PathOrder
    private var lookup: BlobLookup?
    private var lookupBuilt = false
    /// The blobs this run added, by hash, to the number of their pack in ``newPacks``, in bounded memory.
    private let newBlobs: NewBlobSet
    private var newPacks: [String] = []
    private var referenced: Set<String> = []
    /// The file bytes the new index takes from each pack (a blob named twice counts twice): the next run
    /// retires a pack this set uses less than half of (``IncrementalSession/sparsePacks(_:usage:)``).
    private var usage: [String: Int64] = [:]
    private var stats = Stats()

    struct Stats {
        var files = 0
        var reusedFiles = 0
        var readFiles = 0
        var readBytes: Int64 = 0
        var newBlobs = 0
        var newBytes: Int64 = 0
    }

    /// Starts the index (its header names `root`) in `output`, the artifact's stream, and opens the
    /// previous set's index when the session has one.
    public init(session: IncrementalSession, context: SourceContext, root: String, order: PathOrder, output: any ArchiveWriter) throws {
        self.session = session
        self.context = context
        self.order = order
        newBlobs = NewBlobSet(staging: session.staging)
        packs = PackWriter(format: session.packFormat, staging: session.staging, plan: session.plan, source: session.source,
                           sourceType: session.sourceType, subject: session.subject, limit: session.packLimit)
        index = try IndexFile.Writer(header: IndexFile.Header(source: session.source, subject: session.subject, set: session.set.description,
                                                              root: root, order: order),
                                     output: { try output.write($0) })
        if let previous = session.previous {
            let reader = try Self.openIndex(previous)
            if reader.order == order {
                previousReader = reader
                pendingPrevious = try reader.next()
            } else {
                context.warn("the previous index \(previous.name) is in \(reader.order.rawValue) order, not \(order.rawValue): every file is read again")
            }
        }
    }

    static func openIndex(_ index: IncrementalSession.PreviousIndex) throws -> IndexFile.Reader {
        let reader = try index.format.makeReader(file: FileReader(path: index.path))
        guard try reader.nextEntry() != nil else { throw BackupError(.verificationFailed, "the index \(index.name) is empty") }
        return try IndexFile.Reader(input: reader, name: index.name)
    }

    /// The previous set's record of `path`, moving the previous index forward to it. Paths must be asked
    /// for in the index's order.
    public func previous(of path: RawPath) throws -> IndexRecord? {
        while let pending = pendingPrevious, order.compare(pending.path, path) < 0 {
            pendingPrevious = try previousReader!.next()
        }
        if let pending = pendingPrevious, pending.path == path { return pending }
        return nil
    }

    /// Gives the file `record` the content of `previous` when its signals say it did not change and the
    /// previous set's manifest lists its pack; returns whether it did.
    public func reuse(_ record: inout IndexRecord, from previous: IndexRecord?) -> Bool {
        guard let previous, record.hasSameContentSignals(as: previous), let pack = previous.pack, session.previousPacks[pack] != nil else { return false }
        record.hash = previous.hash
        record.pack = pack
        record.entry = previous.entry
        stats.reusedFiles += 1
        return true
    }

    /// Counts a file whose content is read (`bytes` of it so far), for the report and the progress.
    public func noteRead(bytes: Int, newFile: Bool = false) {
        if newFile { stats.readFiles += 1 }
        stats.readBytes += Int64(bytes)
        context.progress(Int64(bytes))
    }

    /// The pack that already holds `hash`: one written by this run, or one the previous set names.
    public func knownPack(of hash: String) throws -> String? {
        if let key = BlobHash(hex: hash), let number = try newBlobs.pack(of: key) { return newPacks[Int(number)] }
        if !lookupBuilt {
            lookupBuilt = true
            if let previous = session.previous, previousReader != nil {
                lookup = try BlobLookup(index: try Self.openIndex(previous), staging: session.staging)
            }
        }
        guard let pack = try lookup?.pack(of: hash), session.previousPacks[pack] != nil else { return nil }
        return pack
    }

    /// Stores content held whole in memory, whose SHA-256 is `hash`, unless a pack holds it; returns the pack.
    public func store(hash: String, bytes: UnsafeRawBufferPointer) throws -> String {
        if let pack = try knownPack(of: hash) { return pack }
        let pack = try packs.beginEntry(hash: hash, size: Int64(bytes.count))
        try packs.write(bytes)
        try packs.endEntry(name: hash)
        try added(hash, pack: pack, size: Int64(bytes.count))
        return pack
    }

    /// Stores `size` bytes hashed earlier as `hash` unless a pack holds them: `copy` writes them through
    /// the function it is given and returns the SHA-256 of what it wrote. Returns the pack, or nil when
    /// the copy's hash differs (the content changed since it was hashed; the entry is dead, and the
    /// caller reads it again).
    public func store(hash: String, size: Int64, copy: ((UnsafeRawBufferPointer) throws -> Void) throws -> String) throws -> String? {
        if let pack = try knownPack(of: hash) { return pack }
        let pack = try packs.beginEntry(hash: hash, size: size)
        let copied = try copy { try packs.write($0) }
        try packs.endEntry(name: hash, dead: copied != hash)
        guard copied == hash else { return nil }
        try added(hash, pack: pack, size: size)
        return pack
    }

    private func added(_ hash: String, pack: String, size: Int64) throws {
        if newPacks.last != pack { newPacks.append(pack) }
        if let key = BlobHash(hex: hash) { try newBlobs.insert(key, pack: Int32(newPacks.count - 1)) }
        stats.newBlobs += 1
        stats.newBytes += size
    }

    /// Writes `record` into the index. A file record must have its hash, pack and entry.
    public func add(_ record: IndexRecord) throws {
        if record.kind == .file {
            guard let pack = record.pack, record.hash != nil, record.entry != nil else {
                throw BackupError(.sourceFailed, "the index record of \(record.path) has no content (a bug; please report it)")
            }
            referenced.insert(pack)
            usage[pack, default: 0] += record.size
            stats.files += 1
        }
        try index.add(record)
    }

    /// Closes the last pack and the index, hands the packs to the session, and returns the report.
    public func finish(details: [String: JSONValue] = [:]) throws -> SourceReport {
        try packs.close()
        try index.finish()
        session.finish(IncrementalSession.Outcome(newPacks: packs.closed, referencedPacks: referenced))
        return SourceReport(details: details.merging([
            "mode": .string(ManifestArtifact.incrementalMode),
            "files": .integer(Int64(stats.files)),
            "reused_files": .integer(Int64(stats.reusedFiles)),
            "read_files": .integer(Int64(stats.readFiles)),
            "read_bytes": .integer(stats.readBytes),
            "new_blobs": .integer(Int64(stats.newBlobs)),
            "new_blob_bytes": .integer(stats.newBytes),
            "packs": .integer(Int64(referenced.count)),
            "new_packs": .integer(Int64(packs.closed.count)),
            ManifestArtifact.packUsageKey: .object(usage.mapValues { .integer($0) }),
        ]) { _, new in new })
    }
}

/// A SHA-256 as four words, for a compact in-memory set of hashes.
struct BlobHash: Hashable {
    var words: (UInt64, UInt64, UInt64, UInt64)

    init(words: (UInt64, UInt64, UInt64, UInt64)) { self.words = words }

    init?(hex: String) {
        guard let bytes = BlobLookup.hashBytes(hex) else { return nil }
        func word(_ index: Int) -> UInt64 { bytes[(index * 8)..<(index * 8 + 8)].reduce(0) { $0 << 8 | UInt64($1) } }
        words = (word(0), word(1), word(2), word(3))
    }

    static func == (a: BlobHash, b: BlobHash) -> Bool { a.words == b.words }

    func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
    }
}
