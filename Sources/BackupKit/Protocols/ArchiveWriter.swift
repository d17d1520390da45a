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
