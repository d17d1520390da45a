/// How a source's content becomes one artifact file, and how that file is read back.
///
/// A format turns what a source writes into bytes (``makeWriter(output:)``) and bytes back into entries
/// (``makeReader(input:)``). It never touches files or sinks: the runner feeds its output to a staged
/// file that computes the artifact's size and SHA-256 as the bytes pass, so nothing is read twice.
///
/// ## Contract
/// - ``layout`` says what it holds: a tree of entries (tar) or one stream of bytes (an SQL dump). The
///   runner pairs each source with a format of the same layout.
/// - The writer pushes bytes to `output` as they are produced, with bounded memory. It throws the
///   error `output` threw, unchanged, so that a full disk is reported as such.
/// - The reader checks everything it can while reading: a truncated or corrupt artifact must throw,
///   never look like a shorter, valid one. Reading every entry to the end is the integrity check.
/// - Both are used from one thread at a time and may block; they are not `Sendable`.
/// - Cancellation: the caller stops calling and drops the object; a format holds no resource beyond it.
public protocol ArchiveFormat: Sendable {
    /// The name used in plan files and manifests, such as "tar.gz" or "gz".
    var name: String { get }
    var layout: ArchiveLayout { get }
    /// The suffix of artifact names, such as "tar.gz"; for a stream, appended to the source's own
    /// suffix ("sql" + "gz"). Empty when the format adds none.
    var fileExtension: String { get }

    func makeWriter(output: @escaping ByteOutput) throws -> any ArchiveWriter
    func makeReader(input: @escaping ByteInput) throws -> any ArchiveReader

    /// This format with the plan's `level` and `threads`. Throws a ``BackupError`` that says the valid
    /// range for a level the format does not have. The default ignores both and returns the format.
    func configured(_ options: ArchiveOptions) throws -> any ArchiveFormat

    /// Whether the format makes artifacts smaller than their content, for disk-space estimates.
    /// Default: true.
    var compresses: Bool { get }
}

extension ArchiveFormat {
    public func configured(_ options: ArchiveOptions) throws -> any ArchiveFormat { self }
    public var compresses: Bool { true }

    /// A reader of the artifact `file` holds.
    public func makeReader(file: FileReader) throws -> any ArchiveReader {
        try makeReader(input: { try file.read(into: $0) })
    }

    /// A reader of the artifact `file` holds that adds the file's bytes to `progress` as it reads them.
    package func makeReader(file: FileReader, progress: ByteCounter?) throws -> any ArchiveReader {
        guard let progress else { return try makeReader(file: file) }
        return try makeReader(input: { buffer in
            let count = try file.read(into: buffer)
            progress.add(count)
            return count
        })
    }
}
