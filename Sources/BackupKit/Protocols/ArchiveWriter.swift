/// What a source writes its content into; made by an ``ArchiveFormat``.
///
/// For a tree, call ``beginEntry(_:)``, then ``write(_:)`` exactly `entry.size` bytes for a file, then
/// ``endEntry()``. For a stream, call ``write(_:)`` only. ``finish()`` ends the archive; the runner
/// calls it, not the source.
public protocol ArchiveWriter: AnyObject {
    func beginEntry(_ entry: ArchiveEntry) throws
    func write(_ bytes: UnsafeRawBufferPointer) throws
    func endEntry() throws
    func finish() throws
    /// Entries written so far (0 for a stream).
    var entryCount: Int { get }
    /// Content bytes written so far, before compression.
    var contentBytes: Int64 { get }
}

/// Reads an artifact back, entry by entry; made by an ``ArchiveFormat``. A stream has one entry.
///
/// ``read(into:)`` (and ``ChunkReader/forEachChunk(bufferSize:_:)``) reads the current entry's content;
/// 0 at its end.
public protocol ArchiveReader: ChunkReader {
    /// The next entry, or nil at the verified end of the archive. Unread content of the previous entry
    /// is read and checked first.
    func nextEntry() throws -> ArchiveEntry?
}
