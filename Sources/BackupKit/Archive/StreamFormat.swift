import Glibc

/// One compressed stream, for sources that produce a single stream such as an SQL dump.
public struct StreamFormat: ArchiveFormat {
    public var compression: Compression
    public var level: Int?
    public var threads: Int
    /// gzip through one small zlib stream (``SerialGzipCompressor``) instead of parallel batches: for a
    /// small stream written beside a large one, where memory matters more than speed.
    public var serial = false

    public init(compression: Compression = .gzip, level: Int? = nil, threads: Int = availableProcessors()) {
        self.compression = compression
        self.level = level
        self.threads = threads
    }

    public var name: String { compression.fileExtension ?? "raw" }
    public var layout: ArchiveLayout { .stream }
    public var fileExtension: String { compression.fileExtension ?? "" }

    public var compresses: Bool { compression != .none }

    public func configured(_ options: ArchiveOptions) throws -> any ArchiveFormat {
        StreamFormat(compression: compression, level: try compression.checkedLevel(options.level, format: name), threads: options.threads)
    }

    public func makeWriter(output: @escaping ByteOutput) throws -> any ArchiveWriter {
        if serial, compression == .gzip {
            return StreamWriter(compressor: try SerialGzipCompressor(level: level ?? compression.defaultLevel, output: output))
        }
        return try StreamWriter(compressor: compression.makeCompressor(level: level, threads: threads, output: output))
    }

    public func makeReader(input: @escaping ByteInput) throws -> any ArchiveReader {
        try StreamReader(decompressor: compression.makeDecompressor(input: input))
    }
}

final class StreamWriter: ArchiveWriter {
    private let compressor: any Compressor
    private(set) var contentBytes: Int64 = 0
    var entryCount: Int { 0 }

    init(compressor: any Compressor) { self.compressor = compressor }

    func beginEntry(_ entry: ArchiveEntry) throws {
        throw BackupError(.archive, "a stream format holds one stream of bytes, not entries such as '\(entry.path.shortenedForMessage)'; use a tar format for this source")
    }
    func endEntry() throws {}

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        try compressor.write(bytes)
        contentBytes += Int64(bytes.count)
    }

    func finish() throws { try compressor.finish() }
}

final class StreamReader: ArchiveReader {
    private let decompressor: any Decompressor
    private var handedOut = false

    init(decompressor: any Decompressor) { self.decompressor = decompressor }

    func nextEntry() throws -> ArchiveEntry? {
        if handedOut {
            // Read what the caller left, so the end of the stream (and its checksum) is always checked.
            try drain(decompressor)
            return nil
        }
        handedOut = true
        return ArchiveEntry(path: "", kind: .file, size: -1)
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try decompressor.read(into: buffer)
    }
}
