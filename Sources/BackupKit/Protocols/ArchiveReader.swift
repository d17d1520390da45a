/// Reads an artifact back, entry by entry; made by an ``ArchiveFormat``. A stream has one entry.
///
/// ``read(into:)`` (and ``ChunkReader/forEachChunk(bufferSize:_:)``) reads the current entry's content;
/// 0 at its end.
public protocol ArchiveReader: ChunkReader {
    /// The next entry, or nil at the verified end of the archive. Unread content of the previous entry
    /// is read and checked first.
    func nextEntry() throws -> ArchiveEntry?
}
